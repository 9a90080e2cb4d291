import { test } from 'node:test';
import assert from 'node:assert/strict';
import { arrayBytes, bytesToArray, stridedCopy } from './hostarray.js';

test('bytesToArray views aligned bytes and copies unaligned ones', () => {
  const buf = new Uint8Array(12);
  new DataView(buf.buffer).setFloat32(4, 1.5, true);
  const aligned = bytesToArray('float32', buf.subarray(4, 8), 1);
  assert.equal(aligned.buffer, buf.buffer);
  assert.deepEqual(Array.from(aligned), [1.5]);
  const shifted = new Uint8Array(12);
  shifted.set(buf.subarray(4, 8), 1);
  const unaligned = bytesToArray('float32', shifted.subarray(1, 5), 1);
  assert.notEqual(unaligned.buffer, shifted.buffer);
  assert.deepEqual(Array.from(unaligned), [1.5]);
  assert.throws(() => bytesToArray('int64', buf, 2), RangeError);
  assert.deepEqual(Array.from(arrayBytes(Int32Array.of(1))), [1, 0, 0, 0]);
});

test('stridedCopy gathers a 3-d permuted view with offset, bigint elements too', () => {
  // src = 0..23 as [2, 3, 4]; view = permute(2, 0, 1) → shape [4, 2, 3], strides [1, 12, 4].
  const src = BigInt64Array.from({ length: 24 }, (_, i) => BigInt(i));
  const out = stridedCopy('int64', src, 0, [4, 2, 3], [1, 12, 4]);
  const want: bigint[] = [];
  for (let a = 0; a < 4; a++) for (let b = 0; b < 2; b++) for (let c = 0; c < 3; c++) want.push(BigInt(a + 12 * b + 4 * c));
  assert.deepEqual(Array.from(out), want);
  // Broadcast (stride 0) and offset.
  assert.deepEqual(Array.from(stridedCopy('float32', Float32Array.of(9, 7, 5), 1, [2, 2], [0, 1])), [7, 5, 7, 5]);
  assert.deepEqual(Array.from(stridedCopy('float32', Float32Array.of(9), 0, [], [])), [9]);
  assert.equal(stridedCopy('float32', new Float32Array(0), 0, [0, 3], [3, 1]).length, 0);
});
