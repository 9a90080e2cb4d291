// Data-parallel training with DDP's semantics on torch.dist (c10d + Gloo): which process this is (the torchrun
// environment), one starting point (parameters and buffers broadcast from rank 0), gradients averaged across
// ranks before every optimizer step (flat buckets, all in flight at once), and one decision per step (losses
// averaged for the log; every rank stops at the same step when any was interrupted or saw a NaN).
import * as torch from '../torch/index.js';
import { ConfigError } from '../util/errors.js';

/** The torchrun environment of one worker (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT). */
export interface DistEnv {
  rank: number; worldSize: number; localRank: number; localWorldSize: number;
  masterAddr: string; masterPort: number; socketInterface?: string;
}

/** Reads the torchrun variables; null when this is a single-process run (WORLD_SIZE unset or 1). */
export function distEnvFrom(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  const world = env.WORLD_SIZE;
  if (world === undefined || world === '1') return null;
  const int = (k: string, def?: number): number => {
    const v = env[k] ?? (def !== undefined ? String(def) : undefined);
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 0) throw new ConfigError(`environment ${k}=${v ?? '(unset)'}: expected a non-negative integer (torchrun variables)`);
    return n;
  };
  const worldSize = int('WORLD_SIZE');
  const rank = int('RANK');
  if (rank >= worldSize) throw new ConfigError(`environment RANK=${rank} must be below WORLD_SIZE=${worldSize}`);
  const localWorldSize = int('LOCAL_WORLD_SIZE', worldSize);
  return { rank, worldSize, localRank: int('LOCAL_RANK', rank % localWorldSize), localWorldSize,
    masterAddr: env.MASTER_ADDR ?? '127.0.0.1', masterPort: int('MASTER_PORT', 29500),
    ...(env.GLOO_SOCKET_IFNAME ? { socketInterface: env.GLOO_SOCKET_IFNAME } : {}) };
}

/** Rank 0's parameters and buffers on every rank (after init, --init and --resume: DDP's start), one flat message per dtype. */
export function broadcastModules(modules: torch.Module[]): void {
  torch.tidy(() => {
    const byType = new Map<string, torch.Tensor[]>();
    for (const m of modules) for (const t of m.stateDict().values()) byType.set(t.dtype, [...(byType.get(t.dtype) ?? []), t.detach()]);
    for (const ts of byType.values()) {
      const flat = torch.cat(ts.map((t) => t.flatten()));
      torch.dist.broadcast([flat], 0);
      let at = 0;
      for (const t of ts) { t.copy_(flat.slice(0, at, at + t.numel).view(...t.shape)); at += t.numel; }
    }
  });
}

/**
 * Gradient averaging as DDP does it: grads packed into flat buckets of ≤ bucketBytes (in parameter order), every
 * bucket's all-reduce started before the first is awaited, then divided by the world size and copied back.
 * Parameters without a gradient on this step are left out (the same ones on every rank: one program).
 */
export function gradientAverager(worldSize: number, bucketBytes = 25 * 2 ** 20): (params: torch.Tensor[]) => void {
  return (params) => torch.tidy(() => {
    const grads = params.map((p) => p.grad).filter((g): g is torch.Tensor => g !== null);
    const buckets: torch.Tensor[][] = [];
    let bytes = Infinity;
    for (const g of grads) {
      const b = g.numel * 4;
      if (bytes + b > bucketBytes) { buckets.push([]); bytes = 0; }
      buckets[buckets.length - 1]!.push(g);
      bytes += b;
    }
    const flats = buckets.map((b) => torch.cat(b.map((g) => g.flatten())));
    const works = flats.map((f) => torch.dist.allReduceAsync([f]));
    buckets.forEach((b, i) => {
      works[i]!.wait();
      const flat = flats[i]!.div_(worldSize);
      let at = 0;
      for (const g of b) { g.copy_(flat.slice(0, at, at + g.numel).view(...g.shape)); at += g.numel; }
    });
  });
}

/** One all-reduce per step: the mean of `values` over ranks (losses for the log) and whether any rank asks to stop. */
export function agreeOnStep(values: number[], stop: boolean, worldSize: number): { values: number[]; stop: boolean } {
  return torch.tidy(() => {
    const t = torch.fromTypedArray(new Float64Array([...values, stop ? 1 : 0]), [values.length + 1], 'float64');
    torch.dist.allReduce([t]);
    const out = Array.from(t.toTypedArray<'float64'>());
    return { values: out.slice(0, -1).map((v) => v / worldSize), stop: out[out.length - 1]! > 0 };
  });
}

/**
 * After a failed collective: which ranks are gone. Survivors mark themselves in rank 0's store and wait up to
 * `windowMs` for each other; ranks that never mark are named. If the store itself is gone, rank 0 died.
 */
export async function missingRanks(rank: number, worldSize: number, windowMs = 3000): Promise<number[] | 'store'> {
  try {
    torch.dist.storeSet(`clan/alive/${rank}`, '1');
    const until = Date.now() + windowMs;
    let missing: number[] = [];
    do {
      missing = Array.from({ length: worldSize }, (_, r) => r).filter((r) => !torch.dist.storeHas(`clan/alive/${r}`));
      if (missing.length === 0) return [];
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < until);
    return missing;
  } catch {
    return 'store';
  }
}
