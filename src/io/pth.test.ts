import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointError } from '../util/errors.js';
import { TorchTensorRef } from './pickle.js';
import { loadPthObject, readPth, readPthDetailed } from './pth.js';
import { openZip } from './zip.js';
import { FIXTURES, assertOneLine, assertTensor, expectedJson, fixture, pickleBytes as p, shortStr as str, type ExpectedTensor } from './io.testing.js';

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

// ---- resource limits (src/io/limits.ts) ----------------------------------------------------------------------

const LIMITS_FIXTURES = fileURLToPath(new URL('../../../test/fixtures/limits/', import.meta.url));

function withEnv<T>(key: string, value: string, fn: () => T): T {
  const old = process.env[key];
  process.env[key] = value;
  try { return fn(); } finally { if (old === undefined) delete process.env[key]; else process.env[key] = old; }
}

/** A legacy-format file around an object pickle: header pickles, the object, its storage keys, then each storage. */
function legacyFile(obj: Uint8Array, storages: [string, Float32Array][]): Uint8Array {
  const magic = p(0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.');
  const head = p(magic, p(0x80, 2, 'M', 0xe9, 0x03, '.'), p(0x80, 2, '}(', ...str('little_endian'), 0x88, 'u.'));
  const keys = p(0x80, 2, '](', ...storages.flatMap(([k]) => str(k)), 'e.');
  const data = storages.map(([, a]) => {
    const out = new Uint8Array(8 + a.byteLength);
    new DataView(out.buffer).setBigInt64(0, BigInt(a.length), true);
    out.set(new Uint8Array(a.buffer), 8);
    return out;
  });
  return Buffer.concat([head, obj, keys, ...data]);
}

test('a checkpoint of 40 levels of shared dicts (2^40 names from 1.2 KB) is refused, not flattened', () => {
  assertOneLine(() => readPth(join(LIMITS_FIXTURES, 'shared_dicts.pth')), CheckpointError,
    /shared_dicts\.pth: its nested dicts flatten to more than the limit of 8000000 \(CLAN_MAX_CHECKPOINT_NAME_CHARS\) characters of dotted names/);
});

test('CLAN_MAX_CHECKPOINT_NAME_CHARS counts each dotted name plus one: the exact total loads, one less is refused', (t) => {
  const path = fixture(t, 'net_zip.pth');
  if (path === undefined) return;
  const want = readPth(path);
  const chars = [...want.keys()].reduce((n, k) => n + k.length + 1, 0);
  assert.equal(chars, 106); // 8 names of 98 characters
  assert.deepEqual(withEnv('CLAN_MAX_CHECKPOINT_NAME_CHARS', String(chars), () => readPth(path)), want);
  assertOneLine(() => withEnv('CLAN_MAX_CHECKPOINT_NAME_CHARS', String(chars - 1), () => readPth(path)), CheckpointError,
    /net_zip\.pth: its nested dicts flatten to more than the limit of 105 \(CLAN_MAX_CHECKPOINT_NAME_CHARS\)/);
});

test('a zero-stride [20000, 20000] view of 16 bytes is refused before it is copied (zip and legacy files)', () => {
  for (const f of ['zero_stride.pth', 'zero_stride_legacy.pth']) {
    assertOneLine(() => readPth(join(LIMITS_FIXTURES, f)), CheckpointError, new RegExp(`${f.replace('.', '\\.')}: tensor 'x' \\[20000,20000\\] would bring ` +
      'the tensor copies to 1600000000 bytes, more than the 16 bytes of storage they view plus the limit of 268435456 \\(CLAN_MAX_TENSOR_EXPANSION_BYTES\\)'));
  }
});

test('views sharing one storage load as equal copies; the copies beyond the storage count against the limit', () => {
  const path = join(LIMITS_FIXTURES, 'shared_storage.pth');
  const arange = Float32Array.from({ length: 1024 }, (_, i) => i);
  const check = (m: Map<string, { shape: number[]; data: unknown }>): void => {
    assert.deepEqual([...m.keys()], ['v0', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7']);
    m.forEach((v, k) => { assert.deepEqual(v.shape, Number(k[1]) % 2 ? [32, 32] : [1024]); assert.deepEqual(v.data, arange); });
  };
  check(readPth(path));
  // 8 copies of 4096 bytes over one 4096-byte storage: 7·4096 bytes beyond it.
  check(withEnv('CLAN_MAX_TENSOR_EXPANSION_BYTES', String(7 * 4096), () => readPth(path)));
  assertOneLine(() => withEnv('CLAN_MAX_TENSOR_EXPANSION_BYTES', String(7 * 4096 - 1), () => readPth(path)), CheckpointError,
    /shared_storage\.pth: tensor 'v7' \[32,32\] would bring the tensor copies to 32768 bytes, more than the 4096 bytes of storage they view plus the limit of 28671/);
});

test('300 names over one 1 MiB legacy storage (by key and by whole-storage views) are refused at the 258th copy', () => {
  const numel = 262_144; // 1 MiB of float32
  const i32 = (v: number): number[] => [v & 255, (v >> 8) & 255, (v >> 16) & 255, v >>> 24];
  // Each name names the storage afresh (no memo): as root '0', or as views '1' and '2' covering all of it.
  const storageId = (i: number): (number | string)[] => ['(', ...str('storage'), 'ctorch\nFloatStorage\n', ...str('0'), ...str('cpu'), 'J', ...i32(numel),
    ...(i % 3 === 0 ? [] : ['(', ...str(String(i % 3)), 'K', 0, 'J', ...i32(numel), 't']), 'tQ'];
  const entry = (i: number): (number | string)[] => [...str(`v${i}`), 'ctorch._utils\n_rebuild_tensor_v2\n(', ...storageId(i),
    'K', 0, 'J', ...i32(numel), 0x85, 'K', 1, 0x85, 0x89, 'ccollections\nOrderedDict\n)R', 'tR'];
  const obj = p(0x80, 2, '}(', ...Array.from({ length: 300 }, (_, i) => entry(i)).flat(), 'u.');
  const bytes = legacyFile(obj, [['0', Float32Array.from({ length: numel }, (_, i) => i % 1000)]]);
  assertOneLine(() => readPth(bytes, 'tied.pth'), CheckpointError,
    /^tied\.pth: tensor 'v257' \[262144\] would bring the tensor copies to 270532608 bytes, more than the 1048576 bytes of storage they view plus the limit of 268435456 \(CLAN_MAX_TENSOR_EXPANSION_BYTES\)/);
  // Two names over the same storage are fine and equal.
  const two = legacyFile(p(0x80, 2, '}(', ...entry(0), ...entry(1), 'u.'), [['0', Float32Array.from({ length: numel }, (_, i) => i % 1000)]]);
  const m = readPth(two, 'two.pth');
  assert.deepEqual(m.get('v0')!.data, m.get('v1')!.data);
  assert.equal((m.get('v1')!.data as Float32Array)[999], 999);
});

test('error messages describe nested shared tuples to a bounded depth', () => {
  // A persistent id of 30 levels of a 6-tuple of the level below (memo fetches): 6^30 leaves if printed whole.
  const levels = Array.from({ length: 30 }, () => ['(', ...new Array<(number | string)[]>(6).fill(['h', 0]).flat(), 't', 'q', 0]).flat();
  const obj = p(0x80, 2, ...str('x'), 'q', 0, ...levels, 'Q.');
  assertOneLine(() => readPth(legacyFile(obj, []), 'deep.pth'), CheckpointError,
    /^deep\.pth: unexpected persistent id \(\(\(\(6 items\), \(6 items\)/);
});

test('a checkpoint of 10^5 nested dicts is refused in one line naming CLAN_MAX_NESTING_DEPTH (flattening recursed past the call stack)', () => {
  const n = 100_000;
  const obj = Buffer.concat([p(0x80, 2), ...Array.from({ length: n - 1 }, () => p('}', ...str('a'))), p('}'), new Uint8Array(n - 1).fill(0x73), p('.')]);
  assertOneLine(() => readPth(legacyFile(obj, []), 'deep.pth'), CheckpointError,
    /^deep\.pth: pickle: containers nest more levels deep than the limit of 100 \(CLAN_MAX_NESTING_DEPTH\); a state dict nests a few \(opcode 0x2e at byte \d+\)$/);
});
