// `clan train --nproc-per-node N [--nnodes M --node-rank R --master-addr HOST --master-port P]`: starts this
// machine's N data-parallel workers (like torchrun), each a `clan train` with the torchrun environment (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and its share of the cores. Rank 0's output
// passes through; the others' lines are prefixed with their rank. Ctrl-C reaches every worker (each stops at the
// same step, rank 0 checkpoints). When a worker fails the others see it in their next collective; any still
// running after the grace period are killed. Exit: 0 all done, 130 interrupted, else 1.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../util/paths.js';
import { freePort } from '../util/net.js';

export interface LaunchOptions {
  nproc: number; nnodes: number; nodeRank: number;
  masterAddr: string; masterPort: number | null;   // null (one machine): a free port is picked
  args: string[];                                   // the worker's `clan train` arguments
  threads?: number;                                 // per worker (default: cores ÷ nproc)
  graceSeconds: number;                             // how long the others may take to stop after a failure
  entry?: string[];                                 // the CLI script (and its own flags) the workers run; default bin/clan.js
}

export async function launchWorkers(o: LaunchOptions): Promise<number> {
  const port = o.masterPort ?? await freePort();
  const world = o.nproc * o.nnodes;
  const threads = o.threads ?? Math.max(1, Math.floor(availableParallelism() / o.nproc));
  const children: { rank: number; child: ChildProcess; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }[] = [];
  for (let local = 0; local < o.nproc; local++) {
    const rank = o.nodeRank * o.nproc + local;
    const env = { ...process.env, RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(o.nproc),
      MASTER_ADDR: o.masterAddr, MASTER_PORT: String(port), OMP_NUM_THREADS: String(threads) };
    const entry = o.entry ?? [join(packageRoot(), 'bin', 'clan.js')];
    const child = spawn(process.execPath, [...entry, 'train', ...o.args, '--threads', String(threads)],
      { env, stdio: ['ignore', 'inherit', rank === 0 ? 'inherit' : 'pipe'] });
    if (child.stderr) createInterface({ input: child.stderr }).on('line', (l) => process.stderr.write(`[rank ${rank}] ${l}\n`));
    children.push({ rank, child, exit: new Promise((res) => child.on('exit', (code, signal) => res({ code, signal }))) });
  }
  // Ctrl-C: the terminal sends it to the whole process group already; forward it for launchers that signal us alone.
  const onSigint = () => { for (const { child } of children) if (child.exitCode === null) child.kill('SIGINT'); };
  process.on('SIGINT', onSigint);
  let failed = false;
  let killer: NodeJS.Timeout | undefined;
  const results = await Promise.all(children.map(async ({ exit }) => {
    const r = await exit;
    if ((r.code !== 0 && r.code !== 130) && !failed) {
      failed = true;
      killer = setTimeout(() => { for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, o.graceSeconds * 1000);
    }
    return r;
  }));
  if (killer) clearTimeout(killer);
  process.off('SIGINT', onSigint);
  if (results.every((r) => r.code === 0)) return 0;
  if (results.every((r) => r.code === 130 || r.code === 0)) return 130;
  return 1;
}
