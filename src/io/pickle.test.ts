import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CheckpointError } from '../util/errors.js';
import { PickleGlobal, TorchStorage, TorchTensorRef, unpickle, type PickleValue } from './pickle.js';
import { assertOneLine, fixture, pickleBytes, shortStr } from './io.testing.js';

const p = pickleBytes;
const str = shortStr;

test('hand-built protocol 2 dict with memo, tuple and list', () => {
  // {'a': 1, 'b': (2.5, None, True), 'c': [-3, 'a' (memo)]}
  const bytes = p(0x80, 2, '}q', 0, '(', ...str('a'), 'q', 1, 'K', 1, ...str('b'), 'G', 0x40, 0x04, 0, 0, 0, 0, 0, 0,
    'N', 0x88, 0x87, ...str('c'), ']', '(J', 0xfd, 0xff, 0xff, 0xff, 'h', 1, 'eu.', 'trailing');
  const { value, end } = unpickle(bytes);
  assert.equal(end, bytes.length - 'trailing'.length);
  assert.deepEqual(value, new Map<PickleValue, PickleValue>([['a', 1], ['b', [2.5, null, true]], ['c', [-3, 'a']]]));
  assert.ok(Object.isFrozen((value as Map<string, PickleValue>).get('b')), 'tuples are frozen');
});

test('the same object pickled with protocols 0-4 (CPython) decodes identically', (t) => {
  for (let proto = 0; proto <= 4; proto++) {
    const path = fixture(t, `plain_p${proto}.pkl`);
    if (path === undefined) return;
    const { value } = unpickle(readFileSync(path), { file: path });
    assert.ok(value instanceof Map);
    const shared = value.get('shared') as PickleValue[];
    assert.equal(shared[0], shared[1], `memo keeps identity (protocol ${proto})`);
    assert.deepEqual(value, new Map<PickleValue, PickleValue>([
      ['ints', [0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31, 2n ** 70n, -(2n ** 70n)]],
      ['floats', [0.5, -1e-300, Infinity]],
      ['flags', [true, false, null]],
      ['text', 'héllo \\ "q"\n'],
      ['raw', Uint8Array.of(0, 255, 10)],
      ['empty', [[], [], new Map()]],
      ['od', new Map<PickleValue, PickleValue>([['b', 1], ['a', 2]])],
      ['shared', [[1, 2], [1, 2]]],
    ]), `protocol ${proto}`);
  }
});

// torch._utils._rebuild_tensor_v2(storage, 1, (2, 2), (1, 2), False, OrderedDict()) over storage [0..5]:
// a transposed view starting at element 1 → [[1, 3], [2, 4]].
function tensorPickle(offset: number, size: [number, number], stride: [number, number]): Uint8Array {
  return p(0x80, 2, 'ctorch._utils\n_rebuild_tensor_v2\n(', '(', ...str('storage'), 'ctorch\nFloatStorage\n', ...str('0'), ...str('cpu'),
    'K', 6, 'tQ', 'K', offset, 'K', size[0], 'K', size[1], 0x86, 'K', stride[0], 'K', stride[1], 0x86, 0x89,
    'ccollections\nOrderedDict\n)R', 'tR.');
}
const storage = new TorchStorage('float32', 6, () => new Uint8Array(Float32Array.of(0, 1, 2, 3, 4, 5).buffer));
const persistentLoad = (pid: PickleValue): PickleValue => {
  assert.ok(Array.isArray(pid) && pid[1] instanceof PickleGlobal);
  assert.deepEqual([pid[0], (pid[1] as PickleGlobal).qualname, ...pid.slice(2)], ['storage', 'torch.FloatStorage', '0', 'cpu', 6]);
  return storage;
};

test('_rebuild_tensor_v2 honours storage offset and strides', () => {
  const { value } = unpickle(tensorPickle(1, [2, 2], [1, 2]), { persistentLoad });
  assert.ok(value instanceof TorchTensorRef);
  assert.equal(value.storage, storage);
  const t = value.materialize();
  assert.deepEqual(t.shape, [2, 2]);
  assert.deepEqual(Array.from(t.data as Float32Array), [1, 3, 2, 4]);
  // Contiguous slice: copied, not aliased.
  const s = (unpickle(tensorPickle(2, [2, 2], [2, 1]), { persistentLoad }).value as TorchTensorRef).materialize();
  assert.deepEqual(Array.from(s.data as Float32Array), [2, 3, 4, 5]);
  assert.notEqual(s.data.buffer, storage.bytes().buffer);
  assertOneLine(() => unpickle(tensorPickle(3, [2, 2], [1, 2]), { persistentLoad, file: 'm.pth' }), CheckpointError,
    /^m\.pth: pickle: torch\._utils\._rebuild_tensor_v2: view \[2,2\] stride \[1,2\] offset 3 exceeds storage of 6 elements/);
  assertOneLine(() => unpickle(tensorPickle(1, [2, 2], [1, 2])), CheckpointError, /persistent id without a persistent loader/);
});

test('dangerous globals are refused at GLOBAL, before any REDUCE', (t) => {
  const refused = (bytes: Uint8Array, name: string): void =>
    assertOneLine(() => unpickle(bytes, { file: 'evil.pkl' }), CheckpointError, new RegExp(`^evil\\.pkl: pickle: refusing global '${name.replace(/\./g, '\\.')}'`));
  // The pickles stop right after the global: had it been resolved, the error would be about truncation.
  refused(p(0x80, 2, 'cbuiltins\neval\n'), 'builtins.eval');
  refused(p('c__builtin__\nexec\n'), 'builtins.exec');
  refused(p(0x80, 4, ...str('os'), ...str('system'), 0x93), 'os.system');
  refused(p(0x80, 2, 'ctorch.storage\n_load_from_bytes\n'), 'torch.storage._load_from_bytes');
  refused(p(0x80, 2, 'ccopy_reg\n_reconstructor\n'), 'copyreg._reconstructor');
  const path = fixture(t, 'evil.pkl');
  if (path !== undefined) refused(readFileSync(path), 'posix.system');
});

test('other abuse is refused with one-line errors', () => {
  const bad = (bytes: Uint8Array, re: RegExp): void => assertOneLine(() => unpickle(bytes, { file: 'x.pkl' }), CheckpointError, re);
  bad(p(0x80, 2, 'ctorch\nFloatStorage\n)R.'), /torch\.FloatStorage is not callable/);
  bad(p('(ios\nsystem\n.'), /INST\/OBJ instantiate arbitrary classes; refused \(opcode 0x69 at byte 1\)/);
  bad(p(0x80, 2, ']}b.'), /BUILD is only allowed on OrderedDict/);
  bad(p(0x80, 2, ')K', 1, 'a.'), /expected a list on the stack/);
  bad(p(0x80, 2, 'X', 16, 0, 0, 0, 'ab'), /unexpected end of data; truncated/);
  bad(p(0x80, 2, 'K', 1), /unexpected end of data; truncated/);
  bad(p(0x80, 2, 0xff), /unknown opcode \(opcode 0xff at byte 2\)/);
  bad(p(0x80, 2, 'h', 7, '.'), /memo key 7 missing/);
  bad(p(0x80, 2, 't.'), /no MARK on the stack/);
  bad(p(0x80, 2, 'ctorch\nShortStorage\n'), /unsupported storage type torch\.ShortStorage \(supported: FloatStorage/);
  bad(p(0x80, 2, 0x8b, 0, 0, 1, 0), /integer of 65536 bytes is too large/);
  bad(p(0x80, 2, 'C', 2, 0xc3, 0x28, 'ccollections\nOrderedDict\n', 'X', 2, 0, 0, 0, 0xc3, 0x28, '.'), /string is not valid UTF-8/);
  bad(p(0x80, 2, 'c_codecs\nencode\n', ...str('x'), ...str('utf8'), 0x86, 'R.'), /_codecs\.encode is only allowed as \(str, "latin1"\)/);
});

// ---- resource limits (src/io/limits.ts) ----------------------------------------------------------------------

function withEnv<T>(key: string, value: string, fn: () => T): T {
  const old = process.env[key];
  process.env[key] = value;
  try { return fn(); } finally { if (old === undefined) delete process.env[key]; else process.env[key] = old; }
}

test('CLAN_MAX_PICKLE_OBJECTS bounds the values built and the memo fan-out', () => {
  // ['a', 'a', 'a', 'a']: 5 values pushed (the list, the string, three fetches of it from the memo).
  const fanOut = p(0x80, 2, ']', ...str('a'), 'q', 0, 'a', 'h', 0, 'a', 'h', 0, 'a', 'h', 0, 'a.');
  assert.deepEqual(withEnv('CLAN_MAX_PICKLE_OBJECTS', '5', () => unpickle(fanOut).value), ['a', 'a', 'a', 'a']);
  assertOneLine(() => withEnv('CLAN_MAX_PICKLE_OBJECTS', '4', () => unpickle(fanOut, { file: 'f.pkl' })), CheckpointError,
    /^f\.pkl: pickle: more than the limit of 4 \(CLAN_MAX_PICKLE_OBJECTS\) objects built or fetched from the memo \(opcode 0x68 at byte 15\)$/);
  // 10^5 empty dicts under one MARK: built one by one, refused at the budget, never all held.
  const many = Buffer.concat([p(0x80, 2, '('), new Uint8Array(100_000).fill(0x7d), p('l.')]);
  assert.equal((withEnv('CLAN_MAX_PICKLE_OBJECTS', '100001', () => unpickle(many).value) as PickleValue[]).length, 100_000);
  assertOneLine(() => withEnv('CLAN_MAX_PICKLE_OBJECTS', '1000', () => unpickle(many, { file: 'm.pkl' })), CheckpointError,
    /^m\.pkl: pickle: more than the limit of 1000 \(CLAN_MAX_PICKLE_OBJECTS\) objects.*\(opcode 0x7d at byte 1003\)$/);
});

test('APPENDS of many items works (no argument spread that overflows the call stack)', () => {
  const n = 300_000;
  const big = Buffer.concat([p(0x80, 2, ']', '('), new Uint8Array(n).fill(0x4e), p('e.')]);
  const list = unpickle(big).value as PickleValue[];
  assert.equal(list.length, n);
  assert.equal(list[n - 1], null);
});

/** _rebuild_tensor_v2 over the 6-element FloatStorage with arbitrary (LONG1-encoded) offset, size and stride. */
function bigView(offset: bigint, size: bigint[], stride: bigint[]): Uint8Array {
  const long1 = (v: bigint): (number | string)[] => {
    const b: number[] = [];
    for (let x = v; x > 0n || b.length === 0 || b[b.length - 1]! & 0x80; x >>= 8n) b.push(Number(x & 0xffn));
    return [0x8a, b.length, ...b.map((c) => c)];
  };
  return p(0x80, 2, 'ctorch._utils\n_rebuild_tensor_v2\n(', '(', ...str('storage'), 'ctorch\nFloatStorage\n', ...str('0'), ...str('cpu'),
    'K', 6, 'tQ', ...long1(offset), '(', ...size.flatMap(long1), 't(', ...stride.flatMap(long1), 't', 0x89,
    'ccollections\nOrderedDict\n)R', 'tR.');
}

test('tensor views are checked in safe-integer arithmetic before anything is materialised', () => {
  const bad = (bytes: Uint8Array, re: RegExp): void => assertOneLine(() => unpickle(bytes, { persistentLoad, file: 'v.pth' }), CheckpointError, re);
  // Products that leave the safe range would round; they must fail closed, not wrap into a plausible view.
  bad(bigView(0n, [2n ** 30n, 2n ** 30n, 2n ** 30n], [0n, 0n, 0n]), /v\.pth: pickle: torch\._utils\._rebuild_tensor_v2: view \[1073741824,1073741824,1073741824\] stride \[0,0,0\] offset 0 has too many elements/);
  bad(bigView(2n ** 53n - 2n, [2n], [1n]), /view \[2\] stride \[1\] offset 9007199254740990 exceeds storage of 6 elements/);
  bad(bigView(0n, [2n, 2n], [2n ** 52n, 2n ** 52n]), /view \[2,2\] stride \[4503599627370496,4503599627370496\] offset 0 exceeds storage of 6 elements/);
  bad(bigView(0n, [7n], [1n]), /view \[7\] stride \[1\] offset 0 exceeds storage of 6 elements/);
  // In range: a zero-stride view is legal here (its copy is bounded where tensors are materialised, src/io/pth.ts).
  const z = unpickle(bigView(5n, [3n, 1000n], [0n, 0n]), { persistentLoad }).value as TorchTensorRef;
  assert.equal(z.byteLength, 12_000);
  // An empty view touches nothing, whatever its other sizes.
  assert.equal((unpickle(bigView(6n, [0n, 2n ** 40n], [1n, 1n]), { persistentLoad }).value as TorchTensorRef).byteLength, 0);
  // The largest view that fits, read back exactly.
  const full = unpickle(bigView(0n, [3n, 2n], [2n, 1n]), { persistentLoad }).value as TorchTensorRef;
  assert.deepEqual(Array.from(full.materialize().data as Float32Array), [0, 1, 2, 3, 4, 5]);
});

/** A pickle of `n` dicts nested in a chain ({'a': {'a': … {}}}), or lists ([[…[]]]) when `list`. */
function nested(n: number, list = false): Uint8Array {
  const open = list ? p(']') : p('}', ...str('a'));
  const parts: Uint8Array[] = [p(0x80, 2)];
  for (let i = 1; i < n; i++) parts.push(open);
  parts.push(p(list ? ']' : '}'), new Uint8Array(n - 1).fill(list ? 0x61 : 0x73), p('.')); // APPEND / SETITEM
  return Buffer.concat(parts);
}

test('CLAN_MAX_NESTING_DEPTH bounds how deep containers nest (walkers recurse per level): 100 loads, 101 or 10^5 is one line', () => {
  const depth = (v: PickleValue): number => (v instanceof Map ? 1 + Math.max(0, ...[...v.values()].map(depth))
    : Array.isArray(v) ? 1 + Math.max(0, ...v.map(depth)) : 0);
  assert.equal(depth(unpickle(nested(100)).value), 100);
  assert.equal(depth(unpickle(nested(100, true)).value), 100);
  const msg = (limit: number, at: number) => new RegExp(`^d\\.pkl: pickle: containers nest more levels deep than the limit of ${limit} \\(CLAN_MAX_NESTING_DEPTH\\); a state dict nests a few \\(opcode 0x2e at byte ${at}\\)$`);
  assertOneLine(() => unpickle(nested(101), { file: 'd.pkl' }), CheckpointError, msg(100, 2 + 100 * 4 + 1 + 100));
  assertOneLine(() => unpickle(nested(100_000, true), { file: 'd.pkl' }), CheckpointError, msg(100, 2 + 100_000 + 99_999));
  assert.equal(depth(withEnv('CLAN_MAX_NESTING_DEPTH', '101', () => unpickle(nested(101)).value)), 101);
  // Sharing is measured once per container: 60 levels of a pair of the same list, 2^60 paths, depth 61.
  const shared = [p(0x80, 2, ']', 'q', 0)];
  for (let i = 0; i < 60; i++) shared.push(p('h', i, 'h', i, 0x86, 'q', i + 1)); // (x, x) memoised as i+1
  const top = unpickle(Buffer.concat([...shared, p('.')])).value;
  assert.ok(Array.isArray(top) && top[0] === top[1]);
  assertOneLine(() => withEnv('CLAN_MAX_NESTING_DEPTH', '60', () => unpickle(Buffer.concat([...shared, p('.')]), { file: 'd.pkl' })), CheckpointError, /the limit of 60 \(CLAN_MAX_NESTING_DEPTH\)/);
  // A list that contains itself is not infinitely deep here (walkers guard cycles themselves).
  const self = unpickle(p(0x80, 2, ']', 'q', 0, 'h', 0, 'a.')).value as PickleValue[];
  assert.equal(self[0], self);
});
