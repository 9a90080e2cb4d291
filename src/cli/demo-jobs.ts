// The demo's training runs (method × seed) as jobs: in this process one after another, or in child processes
// `clan demo --job METHOD:SEED`, several at once with fewer threads each. On 2 cores two 1-thread runs of the tiny
// demo net do 1.6× the work of one 2-thread run (small convolutions scale badly across threads), which is what
// keeps the default demo under 10 minutes. Each child writes its TrainResult to <run dir>/result.json.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClanError, DataError } from '../util/errors.js';
import { Interrupted } from '../train/interrupted.js';
import type { TrainResult } from '../train/trainer.js';
import { demoConfig, type DemoJob, type DemoJobOptions } from '../train/demo.js';
import { RunBoard, trainProgress } from './progress.js';

const RESULT = 'result.json';

/** Trains one job here; `record` also writes result.json for a parent process. */
export async function runJobHere(job: DemoJob, o: DemoJobOptions, record = false): Promise<TrainResult> {
  const { train } = await import('../train/trainer.js');
  const r = await train({ config: await demoConfig(job, o), outDir: job.outDir, commandLine: o.commandLine,
    progress: trainProgress(`${job.method} seed ${job.seed}`, 50), log: (l) => process.stderr.write(l + '\n'), overwrite: true });
  if (record) {
    const { atomicWrite } = await import('../util/atomic.js');
    const fe = r.finalEval;
    const json = { ...r,
      finalEval: fe ? { ...fe, iou: Array.from(fe.iou, (v) => (Number.isNaN(v) ? null : v)), confusion: Array.from(fe.confusion) } : null };
    atomicWrite(join(job.outDir, RESULT), JSON.stringify(json) + '\n');
  }
  return r;
}

function readResult(job: DemoJob): TrainResult {
  const path = join(job.outDir, RESULT);
  let raw: TrainResult & { finalEval: (Omit<NonNullable<TrainResult['finalEval']>, 'iou' | 'confusion'> & { iou: (number | null)[]; confusion: number[] }) | null };
  try { raw = JSON.parse(readFileSync(path, 'utf8')) as typeof raw; } catch (e) {
    throw new DataError(`${path}: the ${job.method} seed ${job.seed} run left no readable result (${(e as Error).message})`);
  }
  const fe = raw.finalEval;
  return { ...raw,
    finalEval: fe ? { ...fe, iou: Float64Array.from(fe.iou, (v) => v ?? NaN), confusion: Float64Array.from(fe.confusion) } : null };
}

/** Runs the jobs `jobs` at a time in child processes with `threads` each; results in job order. */
export async function runJobsInChildren(list: DemoJob[], jobs: number, threads: number, o: DemoJobOptions): Promise<TrainResult[]> {
  const script = process.argv[1]!;
  const results: TrainResult[] = new Array<TrainResult>(list.length);
  let next = 0;
  let failure: Error | null = null;
  const children = new Set<ReturnType<typeof spawn>>();
  const board = new RunBoard(list.length); // one redrawn status line on a TTY, the children's lines otherwise
  const stopAll = () => { for (const c of children) c.kill('SIGINT'); }; // each child checkpoints and exits 130
  const runOne = (idx: number): Promise<void> => new Promise((resolveJob) => {
    const job = list[idx]!;
    const args = [script, 'demo', '--job', `${job.method}:${job.seed}`, '--job-out', job.outDir, '--iters', String(job.iters), ...(job.init ? ['--job-init', job.init] : []),
      '--threads', String(threads), ...(o.valLimit ? ['--val-limit', String(o.valLimit)] : []), ...(o.device ? ['--device', o.device] : []),
      ...(o.texture ? ['--texture', o.texture] : []), ...(o.layout ? ['--layout', o.layout] : []), ...(o.sets ?? []).flatMap((x) => ['--set', x])];
    // stdout is ignored (children print nothing there); stderr (progress, one-line errors) goes to the board
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    children.add(child);
    const label = `${job.method} seed ${job.seed}`;
    board.start(label, job.iters);
    let lastLine = '';
    let partial = ''; // a chunk may end inside a line
    child.stderr!.on('data', (b: Buffer) => {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const l of lines) {
        if (!l.trim()) continue;
        board.line(label, l);
        lastLine = l;
      }
    });
    child.on('close', (code, signal) => {
      children.delete(child);
      if (partial.trim()) { board.line(label, partial); lastLine = partial; }
      board.finish(label);
      if (failure) { resolveJob(); return; }
      if (code === 0) {
        try { results[idx] = readResult(job); } catch (e) { failure = e as Error; }
      } else if (code === 130 || signal === 'SIGINT') {
        failure = new Interrupted(`demo: interrupted; the ${job.method} seed ${job.seed} run kept a checkpoint in ${job.outDir}`);
      } else {
        failure = new ClanError(`demo: the ${job.method} seed ${job.seed} run failed (exit ${code ?? signal}): ${lastLine.replace(/^clan: /, '')}`);
      }
      if (failure) stopAll();
      resolveJob();
    });
  });
  const worker = async (): Promise<void> => {
    while (!failure && next < list.length) await runOne(next++);
  };
  // Ctrl-C reaches the children through the terminal's process group; a SIGINT sent to this process alone is
  // forwarded. Either way each child checkpoints and exits 130, and so does the demo.
  process.on('SIGINT', stopAll);
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, list.length) }, worker));
  } finally {
    process.off('SIGINT', stopAll);
    board.close();
  }
  if (failure) throw failure;
  return results;
}
