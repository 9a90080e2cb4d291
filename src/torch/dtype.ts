// Element types shared by the engine (src/torch) and the host-side readers (src/io, src/data).
// Names follow PyTorch (`torch.float32` → 'float32').

export const DTYPES = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'uint8', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

/** Bytes per element. */
export const DTYPE_SIZE: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, uint8: 1, bool: 1,
};

/** The typed array that holds each dtype on the host. float16/bfloat16 are kept as raw 16-bit words. */
export interface DTypeArrayMap {
  float32: Float32Array;
  float64: Float64Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  int64: BigInt64Array;
  int32: Int32Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}
export type HostArray = DTypeArrayMap[DType];

export function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

/** A tensor on the host: plain typed array + shape, no engine needed (readers, checkpoints, fixtures). */
export interface HostTensor<D extends DType = DType> {
  dtype: D;
  shape: number[];
  data: DTypeArrayMap[D];
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}
