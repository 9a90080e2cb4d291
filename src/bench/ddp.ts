// `clan bench ddp`: data-parallel scaling of the CLAN iteration on this machine. Three runs of the same step
// (batch 1 per process, random data): 1 process × 1 thread, N processes × 1 thread each (Gloo over loopback), and
// 1 process × N threads. Throughput counts source images per second over all processes.
import { spawn } from 'node:child_process';
import { ClanError } from '../util/errors.js';
import { round } from './util.js';
import { freePort } from '../util/net.js';

export interface DdpBenchOptions { nproc: number; backbone: string; height: number; width: number; warmup: number; steps: number;
  overlap: boolean }

interface WorkerResult { rank: number; step_ms: number; allreduce_ms: number; wait_ms: number }

async function runWorkers(o: DdpBenchOptions, nproc: number, threads: number): Promise<WorkerResult[]> {
  const port = await freePort();
  const arg = JSON.stringify({ backbone: o.backbone, height: o.height, width: o.width, warmup: o.warmup, steps: o.steps, threads,
    overlap: o.overlap });
  const runs = Array.from({ length: nproc }, (_, rank) => new Promise<WorkerResult>((res, rej) => {
    const env = { ...process.env, OMP_NUM_THREADS: String(threads), ...(nproc > 1 ? { RANK: String(rank), WORLD_SIZE: String(nproc),
      LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(nproc), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) } : { WORLD_SIZE: '1' }) };
    const child = spawn(process.execPath, [new URL('./ddp-worker.js', import.meta.url).pathname, arg], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code) => code === 0 ? res(JSON.parse(out.trim().split('\n').pop()!) as WorkerResult)
      : rej(new ClanError(`bench ddp: worker ${rank} of ${nproc} failed (exit ${code}): ${err.trim().split('\n').pop() ?? ''}`)));
  }));
  return Promise.all(runs);
}

export async function benchDdp(o: DdpBenchOptions, emit: (line: object) => void): Promise<void> {
  const one = (await runWorkers(o, 1, 1))[0]!;
  const many = await runWorkers(o, o.nproc, 1);
  const threaded = (await runWorkers(o, 1, o.nproc))[0]!;
  const slowest = Math.max(...many.map((r) => r.step_ms));
  const ips1 = 1000 / one.step_ms;
  const ipsN = (o.nproc * 1000) / slowest;
  const reduce = Math.max(...many.map((r) => r.allreduce_ms));
  emit({ bench: 'ddp', backbone: o.backbone, size: `${o.width}x${o.height}`, nproc: o.nproc, overlap: o.overlap,
    ips_1proc: round(ips1, 3), ips_nproc: round(ipsN, 3), efficiency: round(ipsN / (o.nproc * ips1), 3),
    ips_1proc_nthreads: round(1000 / threaded.step_ms, 3), allreduce_ms: round(reduce), allreduce_share: round(reduce / slowest, 3),
    wait_ms: round(Math.max(...many.map((r) => r.wait_ms))),
    step_ms_1proc: round(one.step_ms), step_ms_nproc: round(slowest), step_ms_1proc_nthreads: round(threaded.step_ms) });
}
