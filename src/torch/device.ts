// Devices: checking `cpu | cuda | cuda:N` against the build, CUDA settings (cuDNN benchmark, determinism, TF32),
// autocast regions for mixed precision, synchronisation, GPU memory statistics and library versions.
import { native, type BackendFlags, type CudaDeviceInfo, type CudaMemoryStats, type CudaVersions } from './native.js';
import { DTYPES } from './dtype.js';
import type { Device } from './tensor.js';
import { TensorError } from '../util/errors.js';
import { DEVICE_PATTERN } from '../util/device.js';

export const isCuda = (d: string): boolean => d.startsWith('cuda');

/** GPUs this build can use (0 on a CPU-only libtorch). */
export function cudaDeviceCount(): number { return native.buildInfo().cuda ? native.cudaDeviceCount() : 0; }
export function cudaAvailable(): boolean { return cudaDeviceCount() > 0; }

/**
 * Checks a device string against this build and machine; `where` names the flag or config key for the error.
 * CUDA on a CPU-only build is an error naming the build, never a silent CPU fallback.
 */
export function parseDevice(s: string, where = 'device'): Device {
  const m = DEVICE_PATTERN.exec(s);
  if (!m || (m[1] === 'cpu' && m[2] !== undefined)) throw new TensorError(`${where}: expected cpu, cuda or cuda:N, got '${s}'`);
  if (m[1] === 'cpu') return 'cpu';
  const info = native.buildInfo();
  if (!info.cuda && info.cudaBuild) {
    const cvd = process.env.CUDA_VISIBLE_DEVICES;
    throw new TensorError(`${where} '${s}': this CUDA build (libtorch ${info.version}) sees no GPU: check the NVIDIA driver (nvidia-smi)` +
      ` and CUDA_VISIBLE_DEVICES (${cvd === undefined ? 'unset' : `'${cvd}'`})`);
  }
  if (!info.cuda) {
    throw new TensorError(`${where} '${s}': the addon is built against ${info.build}; rebuild it against a CUDA libtorch (LIBTORCH=… npm ci, README "GPU")`);
  }
  const n = native.cudaDeviceCount();
  const idx = m[2] === undefined ? 0 : Number(m[2]);
  if (idx >= n) throw new TensorError(`${where} '${s}': ${n === 0 ? 'no GPU is visible' : `only ${n} GPU(s) visible (cuda:0…cuda:${n - 1})`} to ${info.build}`);
  return s as Device;
}

/** Waits for every queued kernel on a CUDA device (no-op on the CPU): timings must call it. */
export function synchronize(d: Device | string): void { if (isCuda(d)) native.cudaSynchronize(d); }

/** torch.backends.cudnn.benchmark / .deterministic / .allow_tf32 and torch.backends.cuda.matmul.allow_tf32. */
export function setBackendFlags(f: Partial<BackendFlags>): void { native.setBackendFlags(f); }
export function getBackendFlags(): BackendFlags { return native.getBackendFlags(); }

/** Mixed-precision compute types (torch.autocast's dtype). */
export type AmpDType = 'bfloat16' | 'float16';

/**
 * Runs fn inside an autocast region (torch.autocast(device_type, dtype)): convolutions and matmuls compute in
 * `dtype`, precision-sensitive ops (softmax, log, losses, norms) in float32. dtype null runs fn as it is.
 * Call backward() outside the region, as PyTorch recommends.
 */
export function autocast<T>(device: Device | string, dtype: AmpDType | null, fn: () => T): T {
  if (dtype === null) return fn();
  const dev = isCuda(device) ? 'cuda' : 'cpu';
  const [prevOn, prevDt] = native.autocastEnter(dev, DTYPES.indexOf(dtype));
  try { return fn(); } finally { native.autocastExit(dev, prevOn, prevDt); }
}
export function isAutocastEnabled(device: Device | string): boolean { return native.autocastEnabled(isCuda(device) ? 'cuda' : 'cpu'); }

const need = <K extends 'cudaDeviceInfo' | 'cudaMemoryStats' | 'cudaResetPeakMemoryStats'>(k: K): NonNullable<(typeof native)[K]> => {
  const f = native[k];
  if (!f) throw new TensorError(`${k}: the addon was built without the CUDA runtime headers (set CUDA_HOME and rebuild)`);
  return f as NonNullable<(typeof native)[K]>;
};

/** Bytes held by the CUDA caching allocator: current and peak, allocated (by tensors) and reserved (from the driver). */
export function cudaMemoryStats(d: Device | string): CudaMemoryStats { return need('cudaMemoryStats')(d); }
export function resetPeakMemoryStats(d: Device | string): void { need('cudaResetPeakMemoryStats')(d); }
export function cudaDeviceInfo(d: Device | string): CudaDeviceInfo { return need('cudaDeviceInfo')(d); }
export function cudaEmptyCache(): void { native.cudaEmptyCache?.(); }
export function cudaVersions(): CudaVersions { return native.cudaVersions(); }

/** '13.0' from 13000 (CUDA), '9.10.0' from 91000 (cuDNN ≥ 9, 8.9.7 from 8907 before), '2.27.3' from 22703 (NCCL). */
export function formatVersion(kind: 'cuda' | 'cudnn' | 'nccl', v: number | null): string | null {
  if (v === null) return null;
  if (kind === 'cuda') return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 10)}`;
  if (kind === 'cudnn' && v < 90000) return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 100)}.${v % 100}`;
  if (kind === 'nccl' && v < 20900) return `${Math.floor(v / 1000)}.${Math.floor((v % 1000) / 100)}.${v % 100}`;
  return `${Math.floor(v / 10000)}.${Math.floor((v % 10000) / 100)}.${v % 100}`;
}
