// Loads the libtorch addon and gives it a type. Only src/torch/ talks to this module.
// Every function is wrapped once at load time so that errors thrown by the addon (already free of C++
// backtraces: the addon uses what_without_backtrace) arrive as TensorError.
// The C++ side registers each binding with its arity (CLAN_FN(name, arity) in native/*.cc, exported as
// __signatures) and its dtype order (__dtypes). NATIVE_ARITY below is checked against `Native` by the compiler and
// against the addon by native.test.ts, so a binding added, renamed or re-argued on one side only fails a test.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TensorError } from '../util/errors.js';

/** Opaque handle to a native at::Tensor (an ObjectWrap instance). */
export interface Handle { readonly __nativeTensor: unique symbol }
type H = Handle;
type Num = number;
type HOrNum = H | number;
type OptH = H | null | undefined;

export interface BuildInfo {
  /** cuda: a GPU is usable now; cudaBuild: the addon was compiled against a CUDA libtorch (GPU visible or not). */
  version: string; build: string; cuda: boolean; cudaBuild: boolean; config: string; parallel: string;
  openblasCore: string | null; openblasConfig: string | null;
}

export interface BackendFlags { cudnnBenchmark: boolean; cudnnDeterministic: boolean; allowTF32Cudnn: boolean; allowTF32Cublas: boolean }
export interface CudaDeviceInfo { name: string; major: number; minor: number; totalMemory: number; multiprocessors: number }
export interface CudaMemoryStats { allocated: number; peakAllocated: number; reserved: number; peakReserved: number }
/** Library versions as libtorch reports them (CUDA 13000 = 13.0, cuDNN 91000 = 9.10.0, NCCL 22703 = 2.27.3); null when absent. */
export interface CudaVersions { cuda: number | null; cudnn: number | null; nccl: number | null; headers: boolean }
/** The caching CPU allocator (native/allocator.cc): bytes held in its free lists, and reuses vs fresh allocations. */
export interface CpuAllocatorStats { cachedBytes: number; hits: number; misses: number }

export interface Native {
  dispose(h: H): void; isDisposed(h: H): boolean;
  stats(): { live: number; finalized: number; externalBytes: number; storages: number };
  shape(h: H): number[]; strides(h: H): number[]; dtype(h: H): number; device(h: H): string;
  requiresGrad(h: H): boolean; setRequiresGrad(h: H, v: boolean): void; isLeaf(h: H): boolean;
  sameStorage(a: H, b: H): boolean;
  grad(h: H): H | null; gradIs(h: H, g: H): boolean; setGrad(h: H, g: OptH): void;
  backward(h: H, g: OptH, retainGraph: boolean): void;
  setGradEnabled(v: boolean): void; isGradEnabled(): boolean;
  fromBuffer(a: ArrayBufferView, shape: number[], dt: Num): H; fromBufferShared(a: ArrayBufferView, shape: number[], dt: Num): H;
  toBuffer(h: H): ArrayBuffer; item(h: H): number | boolean;
  manualSeed(seed: number): void; seedCpu(seed: number): void; getRngState(): Uint8Array; setRngState(s: Uint8Array): void;
  setNumThreads(n: number): void; getNumThreads(): number; buildInfo(): BuildInfo; cudaDeviceCount(): number;
  // native/allocator.cc
  allocatorStats(): CpuAllocatorStats; emptyCache(): void;
  profilerStart(path: string): void; profilerStop(): void;
  // native/device.cc. cudaDeviceInfo … cudaEmptyCache exist only when the addon was built with the CUDA headers.
  toDeviceAsync(h: H, dev: string, nonBlocking: boolean): H; pinMemory(h: H): H; isPinned(h: H): boolean;
  setBackendFlags(f: Partial<BackendFlags>): void; getBackendFlags(): BackendFlags;
  autocastEnter(dev: string, dt: Num): [boolean, number]; autocastExit(dev: string, prevEnabled: boolean, prevDt: Num): void;
  autocastEnabled(dev: string): boolean;
  cudaSynchronize(dev: string): void; cudaVersions(): CudaVersions;
  cudaDeviceInfo?(dev: string): CudaDeviceInfo; cudaMemoryStats?(dev: string): CudaMemoryStats;
  cudaResetPeakMemoryStats?(dev: string): void; cudaEmptyCache?(): void;
  // native/dist.cc: c10d TCPStore + the process's group: Gloo and/or NCCL (each call throws when neither is compiled in)
  distBackends(): string[];
  distInit(host: string, port: number, rank: number, worldSize: number, timeoutMs: number, iface: string, backend: string,
    cudaIndex: number): void;
  distDestroy(): void; distAllreduceStart(ts: H[]): number; distWait(id: number): void; distBroadcast(ts: H[], root: number): void;
  distAllgather(t: H): H[]; distBarrier(): void;
  distSyncBatchNorm(x: H, w: OptH, b: OptH, rm: OptH, rv: OptH, momentum: number, eps: number): H;
  distStoreSet(key: string, value: string): void; distStoreCheck(key: string): boolean;

  empty(shape: number[], dt: Num, dev: string): H; zeros(shape: number[], dt: Num, dev: string): H;
  ones(shape: number[], dt: Num, dev: string): H; full(shape: number[], v: number, dt: Num, dev: string): H;
  arange(start: number, end: number, step: number, dt: Num, dev: string): H;
  rand(shape: number[], dt: Num, dev: string): H; randn(shape: number[], dt: Num, dev: string): H;
  randint(low: number, high: number, shape: number[], dt: Num, dev: string): H; randperm(n: number, dt: Num, dev: string): H;
  detach(h: H): H; clone(h: H): H; contiguous(h: H): H; toDtype(h: H, dt: Num): H; toDevice(h: H, dev: string): H;
  add(a: H, b: HOrNum, alpha?: number): H; sub(a: H, b: HOrNum, alpha?: number): H; rsub(a: H, s: number): H;
  mul(a: H, b: HOrNum): H; div(a: H, b: HOrNum): H; pow(a: H, b: HOrNum): H;
  eq(a: H, b: HOrNum): H; ne(a: H, b: HOrNum): H; lt(a: H, b: HOrNum): H;
  le(a: H, b: HOrNum): H; gt(a: H, b: HOrNum): H; ge(a: H, b: HOrNum): H;
  maximum(a: H, b: H): H; minimum(a: H, b: H): H; logicalAnd(a: H, b: H): H; logicalOr(a: H, b: H): H; logicalNot(a: H): H;
  neg(a: H): H; abs(a: H): H; exp(a: H): H; log(a: H): H; sqrt(a: H): H; rsqrt(a: H): H; sigmoid(a: H): H; tanh(a: H): H;
  sign(a: H): H; floor(a: H): H; relu(a: H): H; isfinite(a: H): H; isnan(a: H): H;
  leakyRelu(a: H, slope: number): H; clamp(a: H, min: number | null | undefined, max: number | null | undefined): H;
  where(c: H, a: H, b: H): H; maskedSelect(a: H, mask: H): H; dot(a: H, b: H): H;
  norm(a: H, p: number, dims?: number[], keepdim?: boolean): H; maskedFill(a: H, mask: H, v: number): H;
  matmul(a: H, b: H): H; equal(a: H, b: H): boolean;
  sum(a: H, dims?: number[], keepdim?: boolean): H; mean(a: H, dims?: number[], keepdim?: boolean): H;
  maxAll(a: H): H; minAll(a: H): H; maxDim(a: H, d: number, k: boolean): [H, H]; minDim(a: H, d: number, k: boolean): [H, H];
  argmax(a: H, d: number, k: boolean): H; all(a: H): H; any(a: H): H; bincount(a: H, w: OptH, minlength: number): H;
  cat(ts: H[], d: number): H; stack(ts: H[], d: number): H; view(a: H, s: number[]): H; reshape(a: H, s: number[]): H;
  permute(a: H, d: number[]): H; transpose(a: H, d0: number, d1: number): H; flatten(a: H, s: number, e: number): H;
  squeeze(a: H, d: number): H; unsqueeze(a: H, d: number): H; expand(a: H, s: number[]): H;
  slice(a: H, d: number, start: number, end: number, step: number): H; flip(a: H, dims: number[]): H;
  indexSelect(a: H, d: number, idx: H): H; gather(a: H, d: number, idx: H): H; oneHot(a: H, n: number): H;
  conv2d(x: H, w: H, b: OptH, stride: number[], padding: number[], dilation: number[], groups: number): H;
  batchNorm(x: H, w: OptH, b: OptH, rm: OptH, rv: OptH, training: boolean, momentum: number, eps: number): H;
  maxPool2d(x: H, k: number[], s: number[], p: number[], d: number[], ceil: boolean): H;
  avgPool2d(x: H, k: number[], s: number[], p: number[], ceil: boolean): H; adaptiveAvgPool2d(x: H, size: number[]): H;
  upsampleBilinear2d(x: H, size: number[], alignCorners: boolean): H; upsampleNearest2d(x: H, size: number[]): H;
  linear(x: H, w: H, b: OptH): H; layerNorm(x: H, normalizedShape: number[], w: OptH, b: OptH, eps: number): H; gelu(x: H): H;
  dropout(x: H, p: number, train: boolean): H; featureDropout(x: H, p: number, train: boolean): H;
  softmax(x: H, d: number): H; logSoftmax(x: H, d: number): H;
  crossEntropy(x: H, t: H, w: OptH, reduction: number, ignoreIndex: number): H;
  nllLoss(x: H, t: H, w: OptH, reduction: number, ignoreIndex: number): H;
  bceWithLogits(x: H, t: H, w: OptH, posWeight: OptH, reduction: number): H;
  mseLoss(x: H, t: H, reduction: number): H;
  cosineSimilarity(a: H, b: H, d: number, eps: number): H;
  add_(a: H, b: HOrNum): void; mul_(a: H, b: HOrNum): void; div_(a: H, b: HOrNum): void; addScaled_(a: H, b: H, alpha: number): void;
  addcmul_(a: H, t1: H, t2: H, v: number): void; addcdiv_(a: H, t1: H, t2: H, v: number): void;
  copy_(a: H, src: H): void; zero_(a: H): void; fill_(a: H, v: number): void; sqrt_(a: H): void; relu_(a: H): void;
  normal_(a: H, mean: number, std: number): void; uniform_(a: H, lo: number, hi: number): void;
}

/** How many JS arguments a binding takes, trailing optional ones included (what its C++ side reads). */
type Arity<F> = F extends (...args: infer P) => unknown ? Required<P>['length'] : never;

/**
 * Each binding's arity. `satisfies` makes the compiler check it against `Native`: the same names (no missing, no
 * extra key) and, per name, the parameter count of its declaration. native.test.ts checks it against the addon.
 */
export const NATIVE_ARITY = {
  // native/clan.cc
  dispose: 1, isDisposed: 1, stats: 0, shape: 1, strides: 1, dtype: 1, device: 1, requiresGrad: 1, setRequiresGrad: 2,
  isLeaf: 1, sameStorage: 2, grad: 1, gradIs: 2, setGrad: 2, backward: 3, setGradEnabled: 1, isGradEnabled: 0,
  fromBuffer: 3, fromBufferShared: 3, toBuffer: 1, item: 1, manualSeed: 1, seedCpu: 1, getRngState: 0, setRngState: 1,
  setNumThreads: 1, getNumThreads: 0, buildInfo: 0, cudaDeviceCount: 0,
  // native/allocator.cc
  allocatorStats: 0, emptyCache: 0, profilerStart: 1, profilerStop: 0,
  // native/device.cc
  toDeviceAsync: 3, pinMemory: 1, isPinned: 1, setBackendFlags: 1, getBackendFlags: 0, autocastEnter: 2,
  autocastExit: 3, autocastEnabled: 1, cudaSynchronize: 1, cudaVersions: 0,
  cudaDeviceInfo: 1, cudaMemoryStats: 1, cudaResetPeakMemoryStats: 1, cudaEmptyCache: 0,
  // native/dist.cc
  distBackends: 0, distInit: 8, distDestroy: 0, distAllreduceStart: 1, distWait: 1, distBroadcast: 2, distAllgather: 1, distBarrier: 0,
  distSyncBatchNorm: 7, distStoreSet: 2, distStoreCheck: 1,
  // native/ops.cc
  empty: 3, zeros: 3, ones: 3, full: 4, arange: 5, rand: 3, randn: 3, randint: 5, randperm: 3,
  detach: 1, clone: 1, contiguous: 1, toDtype: 2, toDevice: 2, add: 3, sub: 3, rsub: 2, mul: 2, div: 2, pow: 2,
  eq: 2, ne: 2, lt: 2, le: 2, gt: 2, ge: 2, maximum: 2, minimum: 2, logicalAnd: 2, logicalOr: 2, logicalNot: 1,
  neg: 1, abs: 1, exp: 1, log: 1, sqrt: 1, rsqrt: 1, sigmoid: 1, tanh: 1, sign: 1, floor: 1, relu: 1, isfinite: 1,
  isnan: 1, leakyRelu: 2, clamp: 3, where: 3, maskedFill: 3, maskedSelect: 2, dot: 2, norm: 4, matmul: 2, equal: 2,
  sum: 3, mean: 3, maxAll: 1, minAll: 1, maxDim: 3, minDim: 3, argmax: 3, all: 1, any: 1, bincount: 3,
  cat: 2, stack: 2, view: 2, reshape: 2, permute: 2, transpose: 3, flatten: 3, squeeze: 2, unsqueeze: 2, expand: 2,
  slice: 5, flip: 2, indexSelect: 3, gather: 3, oneHot: 2,
  conv2d: 7, batchNorm: 8, maxPool2d: 6, avgPool2d: 5, adaptiveAvgPool2d: 2, upsampleBilinear2d: 3, upsampleNearest2d: 2,
  linear: 3, layerNorm: 5, gelu: 1, dropout: 3, featureDropout: 3, softmax: 2,
  logSoftmax: 2, crossEntropy: 5, nllLoss: 5, bceWithLogits: 5, mseLoss: 3, cosineSimilarity: 4,
  add_: 2, mul_: 2, div_: 2, addScaled_: 3, addcmul_: 4, addcdiv_: 4, copy_: 2, zero_: 1, fill_: 2, sqrt_: 1, relu_: 1,
  normal_: 3, uniform_: 3,
} as const satisfies { readonly [K in keyof Native]-?: Arity<NonNullable<Native[K]>> };

/** Bindings registered only when the addon was built with the CUDA runtime's headers (the optional keys of Native). */
export const CUDA_HEADER_BINDINGS = ['cudaDeviceInfo', 'cudaMemoryStats', 'cudaResetPeakMemoryStats', 'cudaEmptyCache'] as const;
type OptionalKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? K : never }[keyof T];
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
type Assert<T extends true> = T;
type _OptionalAreCudaHeaderBindings = Assert<Equal<OptionalKeys<Native>, (typeof CUDA_HEADER_BINDINGS)[number]>>;

const here = dirname(fileURLToPath(import.meta.url));

/** The addon is found relative to this file (dist/src/torch → build/Release), so `clan` works from any folder. */
export function addonPath(): string {
  if (process.env.CLAN_NATIVE) return resolve(process.env.CLAN_NATIVE);
  for (const up of ['../../..', '../..']) {
    const p = join(here, up, 'build/Release/clan_native.node');
    if (existsSync(p)) return p;
  }
  return join(here, '../../../build/Release/clan_native.node');
}

function translate(e: unknown): Error {
  if (e instanceof TensorError) return e;
  const msg = e instanceof Error ? e.message : String(e);
  // libtorch messages can span lines (context notes); the first line carries the reason.
  return new TensorError(msg.split('\n').filter((l) => l.trim() !== '')[0] ?? msg);
}

function load(): Native {
  const path = addonPath();
  if (!existsSync(path)) {
    throw new TensorError(`the libtorch addon is not built (${path} is missing): build it with 'npm run build:native' in a checkout or 'npm rebuild clan' where clan is installed (needs: apt-get install -y libtorch-dev libopenblas0-openmp); exported ONNX models run without it: clan predict --engine onnx`);
  }
  const require = createRequire(import.meta.url);
  let raw: Record<string, unknown>;
  try {
    raw = require(path) as Record<string, unknown>;
  } catch (e) {
    throw new TensorError(`cannot load ${path}: ${(e as Error).message.split('\n')[0]} (is libtorch installed? apt-get install -y libtorch-dev libopenblas0-openmp)`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(raw)) {
    if (typeof f !== 'function' || k === 'NativeTensor') continue;
    const fn = f as (...a: unknown[]) => unknown;
    out[k] = (...args: unknown[]) => {
      try { return fn(...args); } catch (e) { throw translate(e); }
    };
  }
  return out as unknown as Native;
}

export const native: Native = load();
