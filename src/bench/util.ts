// Shared by the benchmarks: timing, medians, running the PyTorch twin, JSON output.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { pythonPath, torchVersion, INSTALL_TORCH } from '../util/python.js';
import { ClanError } from '../util/errors.js';
import * as torch from '../torch/index.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
export const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
export function peakRssMb(): number { return round(process.resourceUsage().maxRSS / 1024, 1); }
/**
 * Common start of the network benchmarks: PyTorch present if comparing, threads, 1×1 convolutions through oneDNN or
 * not (a process-wide switch: the caller puts back what it was with `restore()`), cuDNN autotuning, seed 0.
 */
export function benchSetup(o: { compare: boolean; threads: number; device: torch.Device; pointwiseOnednn?: boolean }):
  { dev: torch.Device; cuda: boolean; restore: () => void } {
  if (o.compare && torchVersion() === null) throw new ClanError(INSTALL_TORCH);
  torch.setNumThreads(o.threads);
  const before = torch.getPointwiseOnednn();
  torch.setPointwiseOnednn(o.pointwiseOnednn ?? false);
  const cuda = torch.isCuda(o.device);
  if (cuda) torch.setBackendFlags({ cudnnBenchmark: true });
  torch.manualSeed(0);
  return { dev: o.device, cuda, restore: () => { torch.setPointwiseOnednn(before); } };
}

/** Peak bytes allocated by tensors on a GPU since the last resetPeakMemoryStats, in MiB (torch.cuda.max_memory_allocated). */
export function gpuPeakMb(dev: torch.Device): number { return round(torch.cudaMemoryStats(dev).peakAllocated / 2 ** 20, 1); }

/** Time `steps` calls after `warmup` untimed ones; returns per-step milliseconds. */
export function timeSteps(warmup: number, steps: number, fn: () => void): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

export interface TwinResult { ms: number[]; torch: string; extra: Record<string, unknown> }

/**
 * Run tools/reference/<script> with args; it prints one JSON line {"ms": [...], "torch": "...", …} (the rest in
 * `extra`). `env` is added to the twin's environment (e.g. MALLOC_TUNED) after the thread settings.
 */
export function runTorchTwin(script: string, args: (string | number)[], threads: number, env: Record<string, string> = {}): TwinResult {
  const py = pythonPath();
  const r = spawnSync(py, [join(packageRoot(), 'tools/reference', script), ...args.map(String)], {
    encoding: 'utf8', maxBuffer: 1 << 24,
    env: { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE', ...env },
  });
  if (r.error || r.status !== 0) {
    if (/No module named 'torch'/.test(r.stderr ?? '') || (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new ClanError(INSTALL_TORCH);
    throw new ClanError(`PyTorch reference ${script} failed: ${(r.stderr || String(r.error)).trim().split('\n').pop()}`);
  }
  const line = r.stdout.trim().split('\n').pop()!;
  const parsed = JSON.parse(line) as { ms: number[]; torch: string } & Record<string, unknown>;
  return { ms: parsed.ms, torch: `${parsed.torch} ${py}`, extra: parsed };
}

/**
 * glibc malloc tuned for PyTorch on the CPU: by default a block over the dynamic mmap threshold (at most 32 MiB)
 * is a fresh mmap, page-faulted on first touch and unmapped on free, every iteration; 4 GiB thresholds put such
 * blocks on the heap and keep them there for reuse (glibc 2.36 takes the value: a 200 MiB malloc then leaves
 * mallinfo2().hblkhd at 0). Our addon caches its own blocks (native/allocator.cc); `--compare` reports PyTorch both ways.
 */
export const MALLOC_TUNED: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '4294967296', MALLOC_TRIM_THRESHOLD_: '4294967296' };

/**
 * The PyTorch side of a `--compare` benchmark: each `round(mine)` runs the twin as shipped, then with MALLOC_TUNED,
 * right after our own round, and keeps the per-round ratios. `fields(ours)` gives the JSON keys both ways.
 */
export class TwinRounds {
  readonly shipped: number[] = []; readonly tuned: number[] = [];
  private rss = { shipped: 0, tuned: 0 }; // the twins' largest peak RSS (MiB; CPU: getrusage ru_maxrss)
  private readonly ratios: number[] = []; private readonly tunedRatios: number[] = [];
  version = '';
  constructor(private readonly script: string, private readonly args: (string | number)[], private readonly threads: number) {}

  /** One round of both twins after our timings `mine` (ms); returns the as-shipped result (its `extra` fields). */
  round(mine: number[]): TwinResult {
    const s = runTorchTwin(this.script, this.args, this.threads);
    const t = runTorchTwin(this.script, this.args, this.threads, MALLOC_TUNED);
    this.shipped.push(...s.ms); this.tuned.push(...t.ms); this.version = s.torch;
    const rssOf = (r: TwinResult) => (typeof r.extra.peak_rss_mb === 'number' ? r.extra.peak_rss_mb : 0);
    this.rss = { shipped: Math.max(this.rss.shipped, rssOf(s)), tuned: Math.max(this.rss.tuned, rssOf(t)) };
    this.ratios.push(median(mine) / median(s.ms)); this.tunedRatios.push(median(mine) / median(t.ms));
    return s;
  }

  /**
   * torch_median_ms, ratio (ours / as shipped), ratio_spread and the same for the tuned twin, from our median `ours`
   * (ms); the twins' peak RSS (MiB) and ours over the smaller of them (peak_rss_ratio) where they report it.
   */
  fields(ours: number, oursRssMb = peakRssMb()): Record<string, unknown> {
    const spread = (rs: number[]) => [round(Math.min(...rs), 3), round(Math.max(...rs), 3)];
    const tm = median(this.shipped); const tt = median(this.tuned);
    const rss = this.rss.shipped > 0 && this.rss.tuned > 0
      ? { torch_peak_rss_mb: this.rss.shipped, torch_tuned_peak_rss_mb: this.rss.tuned,
        peak_rss_ratio: round(oursRssMb / Math.min(this.rss.shipped, this.rss.tuned), 3) } : {};
    return { torch_median_ms: round(tm), ratio: round(ours / tm, 3), ratio_spread: spread(this.ratios),
      torch_tuned_median_ms: round(tt), ratio_tuned: round(ours / tt, 3), ratio_tuned_spread: spread(this.tunedRatios), ...rss };
  }
}

export interface Rounds { ours: number[]; torchPeakMb: number | null; torchDevice: string | null }

/**
 * The timed part of a network benchmark: `warmup` untimed calls of `fn` (then the GPU peak is reset), then rounds of
 * `iters` timed calls, each round followed by the twin's (≥ 3 rounds with a twin, 1 without). Returns our per-call
 * ms and, from the twin as shipped, its largest GPU peak (MiB, null off CUDA) and its device name.
 */
export function runRounds(o: { warmup: number; iters: number; rounds: number }, dev: torch.Device, fn: () => void,
  twin: TwinRounds | null): Rounds {
  for (let i = 0; i < o.warmup; i++) fn();
  if (torch.isCuda(dev)) torch.resetPeakMemoryStats(dev); // steady state: cuDNN's autotuner tries big workspaces in the warm-up
  const out: Rounds = { ours: [], torchPeakMb: null, torchDevice: null };
  for (let r = 0; r < (twin ? Math.max(3, o.rounds) : 1); r++) {
    const mine = timeSteps(0, o.iters, fn);
    out.ours.push(...mine);
    if (!twin) continue;
    const t = twin.round(mine); // ours, then PyTorch as shipped, then PyTorch with malloc tuned
    out.torchPeakMb = typeof t.extra.peak_mem_mb === 'number' ? Math.max(out.torchPeakMb ?? 0, t.extra.peak_mem_mb) : null;
    out.torchDevice = typeof t.extra.device_name === 'string' ? t.extra.device_name : null;
  }
  return out;
}
