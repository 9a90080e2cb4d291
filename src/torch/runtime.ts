// Global engine state: autograd mode, RNG, threads, build information, live-tensor statistics.
import { native, type BuildInfo } from './native.js';
import { TensorError } from '../util/errors.js';

/** Run fn with autograd recording off (torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.isGradEnabled();
  native.setGradEnabled(false);
  try { return fn(); } finally { native.setGradEnabled(prev); }
}
export function enableGrad<T>(fn: () => T): T {
  const prev = native.isGradEnabled();
  native.setGradEnabled(true);
  try { return fn(); } finally { native.setGradEnabled(prev); }
}
export function isGradEnabled(): boolean { return native.isGradEnabled(); }

/** Seeds the default CPU (and CUDA) generator. */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new TensorError(`manualSeed: seed must be a non-negative integer, got ${seed}`);
  native.manualSeed(seed);
}
/** The default CPU generator's full state (bytes), for exact resume. */
export function getRngState(): Uint8Array { return new Uint8Array(native.getRngState()); }
export function setRngState(state: Uint8Array): void { native.setRngState(state); }

/**
 * Runs fn on a random stream of its own: the default CPU generator seeded with `seed`, then put back as it was
 * (torch.random.fork_rng + torch.manual_seed, CPU only), so the draws after fn are the ones there would have been
 * without it. CUDA's generator is not touched: draws on CUDA inside fn come from its usual stream.
 */
export function forkRng<T>(seed: number, fn: () => T): T {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new TensorError(`forkRng: seed must be a non-negative integer, got ${seed}`);
  const saved = getRngState();
  native.seedCpu(seed);
  try { return fn(); } finally { native.setRngState(saved); }
}

export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new TensorError(`setNumThreads: expected a positive integer, got ${n}`);
  native.setNumThreads(n);
}
export function getNumThreads(): number { return native.getNumThreads(); }
export function buildInfo(): BuildInfo { return native.buildInfo(); }

/** live: tensors held by wrappers; finalized: freed by the GC safety net (should stay 0); externalBytes: reported to V8. */
export function memoryStats(): { live: number; finalized: number; externalBytes: number; storages: number } { return native.stats(); }
