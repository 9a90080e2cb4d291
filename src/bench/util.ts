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
/** Common start of the network benchmarks: PyTorch present if comparing, threads, cuDNN autotuning, seed 0. */
export function benchSetup(o: { compare: boolean; threads: number; device: torch.Device }): { dev: torch.Device; cuda: boolean } {
  if (o.compare && torchVersion() === null) throw new ClanError(INSTALL_TORCH);
  torch.setNumThreads(o.threads);
  const cuda = torch.isCuda(o.device);
  if (cuda) torch.setBackendFlags({ cudnnBenchmark: true });
  torch.manualSeed(0);
  return { dev: o.device, cuda };
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

/** Run tools/reference/<script> with args; it prints one JSON line {"ms": [...], "torch": "...", …} (the rest in `extra`). */
export function runTorchTwin(script: string, args: (string | number)[], threads: number): { ms: number[]; torch: string; extra: Record<string, unknown> } {
  const py = pythonPath();
  const r = spawnSync(py, [join(packageRoot(), 'tools/reference', script), ...args.map(String)], {
    encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads), OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' },
    maxBuffer: 1 << 24,
  });
  if (r.error || r.status !== 0) {
    if (/No module named 'torch'/.test(r.stderr ?? '') || (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new ClanError(INSTALL_TORCH);
    throw new ClanError(`PyTorch reference ${script} failed: ${(r.stderr || String(r.error)).trim().split('\n').pop()}`);
  }
  const line = r.stdout.trim().split('\n').pop()!;
  const parsed = JSON.parse(line) as { ms: number[]; torch: string } & Record<string, unknown>;
  return { ms: parsed.ms, torch: `${parsed.torch} ${py}`, extra: parsed };
}
