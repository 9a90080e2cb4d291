import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../util/errors.js';
import { TorchTensorRef } from './pickle.js';
import { loadPthObject, readPth, readPthDetailed } from './pth.js';
import { openZip } from './zip.js';
import { FIXTURES, assertOneLine, assertTensor, expectedJson, fixture, pickleBytes as p, shortStr as str, type ExpectedTensor } from './testing.js';

/** Reads a fixture checkpoint and checks every tensor (names in order, dtype, shape, values) against expected.json. */
function check(t: TestContext, file: string, group: string): void {
  const path = fixture(t, file);
  const exp = expectedJson(t);
  if (path === undefined || exp === undefined) return;
  const want = exp[group] as Record<string, ExpectedTensor>;
  const tensors = readPth(path);
  assert.deepEqual([...tensors.keys()].sort(), Object.keys(want).sort());
  for (const [name, e] of Object.entries(want)) assertTensor(tensors.get(name), e, `${file}:${name}`);
}

test('conv+bn state dict, zip format (top folder named after the file)', (t) => {
  check(t, 'net_zip.pth', 'net');
  const path = fixture(t, 'net_zip.pth');
  if (path === undefined) return;
  // state_dict order is module order, kept from the OrderedDict.
  assert.deepEqual([...readPth(path).keys()], ['conv.weight', 'conv.bias', 'bn.weight', 'bn.bias', 'bn.running_mean',
    'bn.running_var', 'bn.num_batches_tracked', 'head.weight']);
  assert.deepEqual(readPth(path).get('bn.num_batches_tracked'), { dtype: 'int64', shape: [], data: BigInt64Array.of(1n) });
});

test('conv+bn state dict, legacy format', (t) => check(t, 'net_legacy.pth', 'net'));

test('conv+bn state dict pickled with protocol 4, both formats', (t) => {
  check(t, 'net_zip_p4.pth', 'net');
  check(t, 'net_legacy_p4.pth', 'net');
});

test('views sharing one storage (transpose, slice, row) become contiguous copies', (t) => {
  check(t, 'views_zip.pth', 'views');
  check(t, 'views_legacy.pth', 'views');
  const path = fixture(t, 'views_zip.pth');
  if (path === undefined) return;
  const obj = loadPthObject(path);
  assert.ok(obj instanceof Map);
  const [base, tr] = [obj.get('base'), obj.get('t')];
  assert.ok(base instanceof TorchTensorRef && tr instanceof TorchTensorRef);
  assert.equal(base.storage, tr.storage, 'one storage object per key');
  assert.deepEqual(tr.stride, [1, 6]);
});

test('every dtype, 0-d scalars, empty tensors and int64 beyond 2^53', (t) => check(t, 'dtypes.pth', 'dtypes'));

test('nested training checkpoint: state_dict picked, module. stripped, epoch reported', (t) => {
  const path = fixture(t, 'nested.pth');
  const exp = expectedJson(t);
  if (path === undefined || exp === undefined) return;
  const want = exp.nested as { tensors: Record<string, ExpectedTensor>; other: Record<string, unknown> };
  // Read from memory: this archive was written to a file object, so its top folder is 'archive'.
  const { tensors, other } = readPthDetailed(readFileSync(path), 'nested.pth');
  assert.deepEqual([...tensors.keys()], ['x', 'y']);
  for (const [name, e] of Object.entries(want.tensors)) assertTensor(tensors.get(name), e, name);
  assert.deepEqual(Object.fromEntries(other), want.other);
});

test('a checkpoint carrying os.system is refused, naming the global', (t) => {
  const path = fixture(t, 'evil.pth');
  if (path === undefined) return;
  assertOneLine(() => readPth(path), CheckpointError, /evil\.pth: pickle: refusing global 'posix\.system'/);
});

test('missing, foreign, truncated and corrupt files give one-line errors naming the file', (t) => {
  assertOneLine(() => readPth(join(FIXTURES, 'no-such.pth')), CheckpointError, /no-such\.pth: cannot read \(ENOENT\)/);
  assertOneLine(() => readPth(new TextEncoder().encode('hello'), 'x.pth'), CheckpointError, /^x\.pth: not a PyTorch checkpoint/);
  const legacy = fixture(t, 'net_legacy.pth');
  const zip = fixture(t, 'net_zip.pth');
  const pkl = fixture(t, 'plain_p2.pkl');
  if (legacy === undefined || zip === undefined || pkl === undefined) return;
  const L = readFileSync(legacy), Z = readFileSync(zip);
  assertOneLine(() => readPth(L.subarray(0, L.length - 10), 'l.pth'), CheckpointError, /^l\.pth: storage '\d+' runs past end of file; truncated/);
  assertOneLine(() => readPth(L.subarray(0, 200), 'l.pth'), CheckpointError, /^l\.pth: pickle: .*truncated \(opcode/);
  assertOneLine(() => readPth(Z.subarray(0, Z.length - 100), 'z.pth'), CheckpointError, /^z\.pth: (not a zip archive|central directory)/);
  assertOneLine(() => readPth(readFileSync(pkl), 'p.pkl'), CheckpointError, /^p\.pkl: not a PyTorch checkpoint \(bad magic number/);
  const flipped = new Uint8Array(Z);
  flipped[openZip(Z).read('net_zip/data/3').byteOffset - Z.byteOffset] ^= 0xff; // first byte of a storage
  assertOneLine(() => readPth(flipped, 'z.pth'), CheckpointError, /^z\.pth: entry 'net_zip\/data\/3': CRC mismatch/);
});

/** A legacy file by hand: old torch pickled storage slices with view metadata (view_key, offset, size). */
function legacyWithView(littleEndian: boolean): Uint8Array {
  const magic = p(0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.');
  const version = p(0x80, 2, 'M', 0xe9, 0x03, '.'); // 1001
  const sysInfo = p(0x80, 2, '}(', ...str('little_endian'), littleEndian ? 0x88 : 0x89, 'u.');
  // {'v': _rebuild_tensor_v2(view of root '0' elements [2, 5) as storage '1', offset 1, size (2,), stride (1,))}
  const obj = p(0x80, 2, '}(', ...str('v'), 'ctorch._utils\n_rebuild_tensor_v2\n((', ...str('storage'), 'ctorch\nFloatStorage\n',
    ...str('0'), ...str('cpu'), 'K', 6, '(', ...str('1'), 'K', 2, 'K', 3, 'ttQK', 1, 'K', 2, 0x85, 'K', 1, 0x85, 0x89,
    'ccollections\nOrderedDict\n)RtRu.');
  const keys = p(0x80, 2, '](', ...str('0'), 'e.');
  const data = new Uint8Array(8 + 24);
  new DataView(data.buffer).setBigInt64(0, 6n, true);
  data.set(new Uint8Array(Float32Array.of(0, 1, 2, 3, 4, 5).buffer), 8);
  return p(magic, version, sysInfo, obj, keys, data);
}

test('legacy storage views (view_metadata) and the endianness check', () => {
  const tensors = readPth(legacyWithView(true), 'old.pth');
  assert.deepEqual(tensors.get('v'), { dtype: 'float32', shape: [2], data: Float32Array.of(3, 4) });
  assertOneLine(() => readPth(legacyWithView(false), 'old.pth'), CheckpointError, /^old\.pth: written on a big-endian machine/);
});
