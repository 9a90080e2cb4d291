// Data-parallel training with DDP's semantics on torch.dist (c10d: Gloo, NCCL): which process this is (the torchrun
// environment), one starting point (parameters and buffers broadcast from rank 0), gradients averaged across
// ranks before every optimizer step (flat buckets, all in flight at once), and one decision per step (losses
// averaged for the log; every rank stops at the same step when any was interrupted or saw a NaN).
import * as torch from '../torch/index.js';
import { ConfigError } from '../util/errors.js';
import type { GradSync } from './uda.js';

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

interface Bucket { flat: torch.Tensor; items: { p: torch.Tensor; view: torch.Tensor }[] }
interface Layout { params: torch.Tensor[]; buckets: Bucket[] }

/**
 * Gradient averaging as DDP does it (gradient_as_bucket_view): each parameter's gradient becomes a view into a flat
 * bucket of ≤ bucketBytes (parameter order), so backward accumulates straight into the buckets (the optimizers
 * zero gradients in place: set their gradToNone to false) and no copy is made; every bucket's all-reduce starts
 * before the first is awaited, then the buckets are divided by the world size. A gradient autograd created anew
 * (the first step, or after a zeroGrad that dropped it) is copied in once and replaced by its view.
 * With `overlap`, gradients a method declares final early (ready(): CLAN's G gradients, before D's passes) start
 * their all-reduce at once and travel while D's passes compute; finish() starts the rest and waits for all.
 */
export function gradientAverager(worldSize: number, o: { bucketBytes?: number; overlap?: boolean } = {}): GradSync {
  const bucketBytes = o.bucketBytes ?? 25 * 2 ** 20; const overlap = o.overlap ?? false;
  const layouts: Layout[] = [];                    // one per launch in a step (CLAN with overlap: G's, then D's)
  let inFlight: { flat: torch.Tensor; work: torch.dist.Work }[] = [];
  const launched = new Set<torch.Tensor>();       // parameters whose all-reduce started this step
  let launches = 0;
  const build = (params: torch.Tensor[]): Layout => {
    const groups: torch.Tensor[][] = [];
    let bytes = Infinity;
    for (const p of params) {
      if (bytes + p.numel * 4 > bucketBytes) { groups.push([]); bytes = 0; }
      groups[groups.length - 1]!.push(p);
      bytes += p.numel * 4;
    }
    return { params: [...params], buckets: groups.map((ps) => {
      const flat = torch.keep(torch.zeros([ps.reduce((n, p) => n + p.numel, 0)], { device: ps[0]!.device as torch.Device }));
      let at = 0;
      const items = ps.map((p) => {
        const view = torch.keep(torch.tidy(() => flat.slice(0, at, at + p.numel).view(...p.shape)));
        at += p.numel;
        return { p, view };
      });
      return { flat, items };
    }) };
  };
  const launch = (all: torch.Tensor[]) => {
    const params = all.filter((p) => !launched.has(p));
    if (params.length === 0) return;
    for (const p of params) launched.add(p);
    const k = launches++;
    const old = layouts[k];
    if (!old || old.params.length !== params.length || params.some((p, i) => p !== old.params[i])) {
      for (const b of old?.buckets ?? []) { b.flat.dispose(); for (const it of b.items) it.view.dispose(); }
      layouts[k] = build(params);
    }
    torch.noGrad(() => {
      for (const b of layouts[k]!.buckets) {
        for (const { p, view } of b.items) {
          const g = p.grad;
          if (g === null) view.zero_();                                   // no gradient on this step (on every rank)
          else if (!g.sharesStorage(b.flat)) { view.copy_(g); p.grad = view; }
        }
        inFlight.push({ flat: b.flat, work: torch.dist.allReduceAsync([b.flat]) });
      }
    });
  };
  return {
    ready: (params) => { if (overlap) launch(params); },
    finish: (params) => {
      launch(params);
      torch.noGrad(() => { for (const { flat, work } of inFlight) { work.wait(); flat.div_(worldSize); } });
      inFlight = []; launched.clear(); launches = 0;
    },
  };
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
