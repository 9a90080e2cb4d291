// Raw little-endian bytes ↔ host typed arrays, shared by the safetensors and .pth readers.
// Both formats store elements little-endian; we refuse to run on a big-endian host rather than
// silently byte-swap (no supported platform is big-endian).

import { endianness } from 'node:os';
import { DTYPE_SIZE, type DType, type DTypeArrayMap, type HostArray } from '../torch/dtype.js';

if (endianness() !== 'LE') throw new Error('src/io assumes a little-endian host');

type Ctor = { new (buf: ArrayBufferLike, byteOffset: number, length: number): HostArray; new (length: number): HostArray };
const CTOR: Record<DType, Ctor> = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array,
};

/** A zeroed typed array of `length` elements for `dtype`. */
export function allocArray<D extends DType>(dtype: D, length: number): DTypeArrayMap[D] {
  return new CTOR[dtype](length) as DTypeArrayMap[D];
}

/**
 * Reinterprets `bytes` (exactly `length` elements) as the typed array for `dtype`.
 * Views without copying when the offset is aligned for the element size; typed arrays cannot
 * start at an unaligned offset, so otherwise the bytes are copied. `copy` forces a copy
 * (callers use it when the source buffer is shared with other tensors).
 */
export function bytesToArray<D extends DType>(dtype: D, bytes: Uint8Array, length: number, copy = false): DTypeArrayMap[D] {
  const size = DTYPE_SIZE[dtype];
  if (bytes.byteLength !== length * size) throw new RangeError(`expected ${length * size} bytes, got ${bytes.byteLength}`);
  if (!copy && bytes.byteOffset % size === 0) return new CTOR[dtype](bytes.buffer, bytes.byteOffset, length) as DTypeArrayMap[D];
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return new CTOR[dtype](out.buffer, 0, length) as DTypeArrayMap[D];
}

/** The bytes behind a typed array (a view, no copy). */
export function arrayBytes(data: HostArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Copies a strided view of `src` into a new contiguous array: element (i0, i1, …) of the result is
 * src[offset + Σ ik·stride[k]]. This is how PyTorch views (transposes, slices) sharing one storage are
 * turned into independent contiguous tensors. Bounds are the caller's job.
 */
export function stridedCopy<D extends DType>(dtype: D, src: DTypeArrayMap[D], offset: number, shape: readonly number[],
  stride: readonly number[]): DTypeArrayMap[D] {
  let n = 1;
  for (const s of shape) n *= s;
  const out = allocArray(dtype, n);
  if (n === 0) return out;
  // Element-wise copy works for every array type alike (bigint or number elements).
  const from = src as unknown as { [i: number]: unknown };
  const to = out as unknown as { [i: number]: unknown };
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let pos = offset;
  for (let i = 0; i < n; i++) {
    to[i] = from[pos];
    // Odometer increment over the multi-index, last dimension fastest (row-major result).
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) { pos += stride[k]; break; }
      pos -= (shape[k] - 1) * stride[k];
      idx[k] = 0;
    }
  }
  return out;
}
