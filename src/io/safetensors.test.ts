import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DTYPE_SIZE, type HostTensor } from '../torch/dtype.js';
import { CheckpointError } from '../util/errors.js';
import { decodeSafetensors, encodeSafetensors, readSafetensorsFile, topLevelKeys, writeSafetensorsFile } from './safetensors.js';
import { assertOneLine, assertTensor, expectedJson, fixture, type ExpectedTensor } from './io.testing.js';

// One tensor per dtype, with odd shapes, a scalar and an empty tensor.
const SAMPLE: Record<string, HostTensor> = {
  f32: { dtype: 'float32', shape: [3, 1, 5], data: Float32Array.from({ length: 15 }, (_, i) => i * 0.25 - 1) },
  f64: { dtype: 'float64', shape: [], data: Float64Array.of(Math.PI) },
  f16: { dtype: 'float16', shape: [3], data: Uint16Array.of(0x3c00, 0xc000, 0x7bff) },
  bf16: { dtype: 'bfloat16', shape: [1, 3], data: Uint16Array.of(0x3f80, 0xbf80, 0x7f80) },
  i64: { dtype: 'int64', shape: [2], data: BigInt64Array.of(2n ** 62n + 1n, -7n) },
  i32: { dtype: 'int32', shape: [7], data: Int32Array.of(-1, 2, -3, 4, -5, 6, 2 ** 31 - 1) },
  u8: { dtype: 'uint8', shape: [5], data: Uint8Array.of(0, 1, 127, 128, 255) },
  bool: { dtype: 'bool', shape: [2, 2], data: Uint8Array.of(1, 0, 0, 1) },
  empty: { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) },
};

test('round trip of every dtype, odd shapes, scalars and empty tensors; data aligned', () => {
  const bytes = encodeSafetensors(SAMPLE, { epoch: '3', note: 'héllo' });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal(headerLen % 8, 0);
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { epoch: '3', note: 'héllo' });
  assert.deepEqual([...tensors.keys()].sort(), Object.keys(SAMPLE).sort());
  for (const [name, t] of Object.entries(SAMPLE)) {
    const got = tensors.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.deepEqual(Array.from(got.data as ArrayLike<unknown>), Array.from(t.data as ArrayLike<unknown>), name);
    // Written aligned, so decoding views the buffer instead of copying.
    assert.equal(got.data.buffer, bytes.buffer, `${name} is a view`);
    assert.equal(got.data.byteOffset % DTYPE_SIZE[t.dtype], 0);
  }
});

test('no metadata writes no __metadata__ key; Map input works', () => {
  const bytes = encodeSafetensors(new Map([['x', SAMPLE.u8]]));
  const json = new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))));
  assert.deepEqual(JSON.parse(json), { x: { dtype: 'U8', shape: [5], data_offsets: [0, 5] } });
  assert.deepEqual(decodeSafetensors(bytes).metadata, {});
});

/** A safetensors buffer from a header object and raw data. */
function build(header: unknown, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

test('hand-built buffer with an unaligned float32 decodes to known values', () => {
  // u8 [2] at [0,2), then f32 [2] at [2,10) (unaligned: must be copied), then i64 scalar at [10,18).
  const f32 = [0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0]; // 1.5, -2 (little-endian IEEE 754)
  const i64 = [0x2a, 0, 0, 0, 0, 0, 0, 0]; // 42
  const bytes = build({
    __metadata__: { format: 'pt' },
    a: { dtype: 'U8', shape: [2], data_offsets: [0, 2] },
    b: { dtype: 'F32', shape: [2], data_offsets: [2, 10] },
    c: { dtype: 'I64', shape: [], data_offsets: [10, 18] },
  }, [9, 250, ...f32, ...i64]);
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.deepEqual(metadata, { format: 'pt' });
  assert.deepEqual(Array.from(tensors.get('a')!.data as Uint8Array), [9, 250]);
  assert.deepEqual(Array.from(tensors.get('b')!.data as Float32Array), [1.5, -2]);
  assert.deepEqual(tensors.get('c')!.shape, []);
  assert.deepEqual(Array.from(tensors.get('c')!.data as BigInt64Array), [42n]);
});

test('fixture written by the Python script decodes to the expected values', (t) => {
  const path = fixture(t, 'sample.safetensors');
  const exp = expectedJson(t);
  if (path === undefined || exp === undefined) return;
  const want = exp.safetensors as { tensors: Record<string, ExpectedTensor>; metadata: Record<string, string> };
  const { tensors, metadata } = readSafetensorsFile(path);
  assert.deepEqual(metadata, want.metadata);
  assert.deepEqual([...tensors.keys()].sort(), Object.keys(want.tensors).sort());
  for (const [name, e] of Object.entries(want.tensors)) assertTensor(tensors.get(name), e, name);
  // Our writer lays the file out exactly like the reference one.
  assert.deepEqual(encodeSafetensors(tensors, metadata), new Uint8Array(readFileSync(path)));
});

test('corrupt and truncated buffers are rejected with one-line messages naming file and field', () => {
  const good = encodeSafetensors({ w: SAMPLE.f32 });
  const bad = (bytes: Uint8Array, re: RegExp): void => assertOneLine(() => decodeSafetensors(bytes, 'w.safetensors'), CheckpointError, re);
  bad(good.subarray(0, 5), /^w\.safetensors: too short/);
  bad(good.subarray(0, 30), /^w\.safetensors: header length \d+ exceeds the file/);
  bad(good.subarray(0, good.length - 4), /'w': data_offsets \[0, 60\] out of range/);
  bad(build('[1]', []), /^w\.safetensors: header starts with byte 0x22; expected '\{' \(a JSON object, as the reference reader\)$/); // a JSON string
  const garbled = good.slice();
  garbled[9] = 0x7b; // '{{'
  bad(garbled, /header is not valid JSON/);
  const f = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const data = new Array<number>(16).fill(0);
  bad(build({ x: { ...f, dtype: 'C64' } }, data), /tensor 'x': unsupported dtype "C64"/);
  bad(build({ x: { ...f, shape: [2, -1] } }, data), /tensor 'x': shape must be/);
  bad(build({ x: { ...f, data_offsets: [8, 4] } }, data), /tensor 'x': data_offsets \[8, 4\] out of range/);
  bad(build({ x: { ...f, shape: [3] } }, data), /tensor 'x': 8 bytes but shape \[3\] of F32 needs 12/);
  bad(build({ x: f, y: { ...f, data_offsets: [4, 12] } }, data), /tensors 'x' and 'y' overlap/);
  bad(build({ __metadata__: { epoch: 3 }, x: f }, data), /__metadata__\.epoch is not a string/);
});

test('encode rejects data that does not match the shape', () => {
  assertOneLine(() => encodeSafetensors({ w: { dtype: 'float32', shape: [4], data: new Float32Array(3) } }), CheckpointError, /'w' has 3 elements for shape \[4\]/);
});

test('writeSafetensorsFile writes atomically and leaves no temp files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-st-'));
  try {
    const path = join(dir, 'ckpt.safetensors');
    writeFileSync(path, 'old contents');
    writeSafetensorsFile(path, SAMPLE, { step: '10' });
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors']);
    const back = readSafetensorsFile(path);
    assert.equal(back.metadata.step, '10');
    assert.deepEqual(Array.from(back.tensors.get('i32')!.data as Int32Array), Array.from(SAMPLE.i32.data as Int32Array));
    assertOneLine(() => writeSafetensorsFile(join(dir, 'nope', 'x.safetensors'), SAMPLE), CheckpointError, /^\S*nope\/x\.safetensors: cannot write \(ENOENT: no such file or directory\)$/);
    assertOneLine(() => readSafetensorsFile(join(dir, 'missing.safetensors')), CheckpointError, /missing\.safetensors: cannot read \(ENOENT\)/);
    assert.deepEqual(readdirSync(dir), ['ckpt.safetensors']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- strict layout and resource limits (src/io/limits.ts), as the reference Rust reader -------------------------

/** A safetensors buffer from header TEXT (to write duplicate keys, which JSON.stringify cannot). */
function buildText(json: string, data: number[]): Uint8Array {
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

function withEnv<T>(key: string, value: string, fn: () => T): T {
  const old = process.env[key];
  process.env[key] = value;
  try { return fn(); } finally { if (old === undefined) delete process.env[key]; else process.env[key] = old; }
}

const bad = (bytes: Uint8Array, re: RegExp): void => assertOneLine(() => decodeSafetensors(bytes, 'm.safetensors'), CheckpointError, re);
const F = { dtype: 'F32', shape: [1] };

test('tensors must tile the data: holes and trailing bytes are refused, zero-size tensors are fine', () => {
  const data = Array.from({ length: 12 }, (_, i) => i);
  bad(build({ x: { ...F, data_offsets: [0, 4] }, y: { ...F, data_offsets: [8, 12] } }, data), /^m\.safetensors: 4 bytes of data before tensor 'y' belong to no tensor \(a hole at \[4, 8\)\)$/);
  bad(build({ x: { ...F, data_offsets: [4, 8] }, y: { ...F, data_offsets: [8, 12] } }, data), /^m\.safetensors: 4 bytes of data before tensor 'x' belong to no tensor \(a hole at \[0, 4\)\)$/);
  bad(build({ x: { ...F, data_offsets: [0, 4] }, y: { ...F, data_offsets: [4, 8] } }, data), /^m\.safetensors: 4 trailing bytes after the last tensor \(data is 12 bytes, tensors end at 8\)$/);
  bad(build({}, [0]), /^m\.safetensors: 1 trailing bytes after the last tensor/);
  const U = { dtype: 'U8' };
  const ok = decodeSafetensors(build({ e: { ...U, shape: [0], data_offsets: [4, 4] }, x: { ...U, shape: [4], data_offsets: [0, 4] },
    y: { ...U, shape: [2, 4], data_offsets: [4, 12] } }, data));
  assert.deepEqual([...ok.tensors].map(([k, v]) => [k, v.shape, Array.from(v.data as Uint8Array)]),
    [['e', [0], []], ['x', [4], [0, 1, 2, 3]], ['y', [2, 4], [4, 5, 6, 7, 8, 9, 10, 11]]]);
});

test('duplicate tensor keys and a duplicate __metadata__ are refused (JSON.parse would keep the last silently)', () => {
  const x = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
  bad(buildText(`{"x":${x},"x":${x}}`, [0, 0, 0, 0]), /^m\.safetensors: header has tensor 'x' twice$/);
  bad(buildText(`{"x":${x},"\\u0078":${x}}`, [0, 0, 0, 0]), /^m\.safetensors: header has tensor 'x' twice$/); // same key, escaped
  bad(buildText(`{"__metadata__":{"a":"1"},"x":${x},"__metadata__":{"a":"2"}}`, [0, 0, 0, 0]), /^m\.safetensors: header has __metadata__ twice$/);
  // Keys repeated inside entries, and quotes, braces and commas inside strings, are not top-level keys.
  const tricky = `{"__metadata__":{"k":"}{\\",\\"x\\":{[","x":"y"},"x":${x}}`;
  assert.deepEqual(topLevelKeys(tricky), ['__metadata__', 'x']);
  assert.deepEqual(decodeSafetensors(buildText(tricky, [0, 0, 0, 0])).metadata, { k: '}{","x":{[', x: 'y' });
});

test('the header length is limited (100 MB by default, CLAN_MAX_SAFETENSORS_HEADER_BYTES) and the message names the limit', () => {
  const huge = new Uint8Array(64);
  new DataView(huge.buffer).setBigUint64(0, 200_000_000n, true);
  bad(huge, /^m\.safetensors: header length 200000000 is over the limit of 100000000 \(CLAN_MAX_SAFETENSORS_HEADER_BYTES\); corrupt or not safetensors$/);
  const good = encodeSafetensors({ w: SAMPLE.f32 });
  const headerLen = Number(new DataView(good.buffer).getBigUint64(0, true));
  assert.deepEqual(withEnv('CLAN_MAX_SAFETENSORS_HEADER_BYTES', String(headerLen), () => decodeSafetensors(good)).tensors.get('w')!.data, SAMPLE.f32.data);
  assertOneLine(() => withEnv('CLAN_MAX_SAFETENSORS_HEADER_BYTES', String(headerLen - 1), () => decodeSafetensors(good, 'm.safetensors')), CheckpointError,
    new RegExp(`header length ${headerLen} is over the limit of ${headerLen - 1} \\(CLAN_MAX_SAFETENSORS_HEADER_BYTES\\)`));
});

test('absurd shapes are refused naming the file and the tensor (checked products)', () => {
  const d4 = [0, 0, 0, 0];
  bad(build({ x: { dtype: 'F32', shape: [1e9], data_offsets: [0, 4] } }, d4), /^m\.safetensors: tensor 'x': 4 bytes but shape \[1000000000\] of F32 needs 4000000000$/);
  bad(build({ x: { dtype: 'F32', shape: [1e9, 1e9, 1e9], data_offsets: [0, 4] } }, d4), /^m\.safetensors: tensor 'x': shape \[1000000000,1000000000,1000000000\] has too many elements$/);
  // 2^52 · 2^52 · 0 is 0 in floating point, but the reference's checked_mul overflows first: refused.
  bad(build({ x: { dtype: 'F32', shape: [2 ** 52, 2 ** 52, 0], data_offsets: [0, 0] } }, []), /^m\.safetensors: tensor 'x': shape \[4503599627370496,4503599627370496,0\] has too many elements$/);
  bad(build({ x: { dtype: 'F64', shape: [2 ** 51], data_offsets: [0, 4] } }, d4), /tensor 'x': shape \[2251799813685248\] has too many elements/); // 2^54 bytes
  bad(build({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, d4), /^m\.safetensors: tensor 'x': shape must be a list of non-negative integers$/);
  // A zero first makes every later product 0: an empty tensor, as in the reference.
  assert.deepEqual(decodeSafetensors(build({ x: { dtype: 'F32', shape: [0, 2 ** 52, 2 ** 52], data_offsets: [0, 0] } }, [])).tensors.get('x')!.shape, [0, 2 ** 52, 2 ** 52]);
});

test('the header must start with \'{\' (the reference reader\'s InvalidHeaderStart): a BOM, leading whitespace or nothing is refused', () => {
  const x = '{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
  assert.deepEqual(decodeSafetensors(buildText(`${x}  \n\t`, [7])).tensors.get('x')!.data, Uint8Array.of(7), 'trailing whitespace is padding');
  const bom = new Uint8Array([...buildText(`\ufeff${x}`, [7])]);
  assert.deepEqual([...bom.subarray(8, 11)], [0xef, 0xbb, 0xbf]);
  bad(bom, /^m\.safetensors: header starts with a UTF-8 byte-order mark \(ef bb bf\); expected '\{' \(a JSON object, as the reference reader\)$/);
  bad(buildText(` ${x}`, [7]), /^m\.safetensors: header starts with byte 0x20; expected '\{'/);
  bad(buildText(`\n${x}`, [7]), /^m\.safetensors: header starts with byte 0x0a; expected '\{'/);
  bad(buildText('', []), /^m\.safetensors: header starts with nothing \(length 0\); expected '\{'/);
});
