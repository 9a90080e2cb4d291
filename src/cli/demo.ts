// `clan demo`: source-only, adversarial and CLAN on the built-in digitscapes data with the `cpu` preset, each
// evaluated on digitscapes:val; a per-class table, summary.json, a checkpoint per method and report.html.
import { join, resolve } from 'node:path';
import { parse, str, intFlag, type Command } from './args.js';
import { assertWritable } from './files.js';
import type { TrainResult } from '../train/trainer.js';
import { availableParallelism } from 'node:os';
import { UsageError } from '../util/errors.js';
import { runJobHere, runJobsInChildren, type DemoJob } from './demo-jobs.js';

const USAGE = `usage: clan demo [--quick] [--seeds N] [--iters N] [--shared-start N] [--out DIR] [--jobs N] [--threads N] [--val-limit N] [--device D]

Trains source-only, adversarial (output-space, AdaptSegNet-style) and CLAN on the built-in digitscapes data
(synthetic source: flat-coloured MNIST digits; target: the same digits painted over real photographs) with the
'cpu' preset, evaluates each on digitscapes:val and prints the per-class IoU and the three target mIoUs.
Writes to --out (default runs/demo-<time>): a checkpoint per method and seed, summary.json, report.html.
  --quick      ≈2 minutes on 2 cores: a source-only start of 300 iterations per seed, then each method
               200 iterations from it (--shared-start 300 --iters 200 --val-limit 200)
  --seeds N    train each method with N seeds; mIoU is reported as mean ± std
  --iters N    iterations per method (default: the cpu preset's 1500; with --quick 200)
  --shared-start N  first train source-only N iterations per seed, then start every method from those weights
               (all of G; optimizers, D and schedules fresh): the methods then differ only in what they add
  --jobs N     training runs at once, each in its own process (default: min(3, cores / threads))
  --threads N  libtorch threads per run (default: cores / jobs)
  --val-limit N  evaluate on the first N validation images only
  --device D   where every run trains and evaluates (default cpu; cuda needs a CUDA libtorch)`;

// The methods the demo compares, baseline first (names in methods/registry.ts, which gives their keys and labels).
const DEMO_METHODS = ['source-only', 'adversarial', 'clan'] as const;
const QUICK = { sharedStart: 300, iters: 200, valLimit: 200 }; // measured: README, "The demo"

function meanStd(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

export const demoCmd: Command = {
  name: 'demo',
  summary: 'train the three methods on built-in data and show that adaptation works',
  usage: USAGE,
  async run(argv) {
    const p = parse('demo', argv, { quick: { type: 'boolean' }, seeds: { type: 'string' }, iters: { type: 'string' }, out: { type: 'string' },
      threads: { type: 'string' }, 'val-limit': { type: 'string' }, jobs: { type: 'string' }, 'shared-start': { type: 'string' },
      job: { type: 'string' }, 'job-out': { type: 'string' }, 'job-init': { type: 'string' }, device: { type: 'string' } }); // --job*: one run, for the parent's job pool
    if (p.values.help) { console.log(USAGE); return 0; }
    const quick = p.values.quick === true;
    const seeds = intFlag('demo', 'seeds', str(p, 'seeds'), 1);
    const { resolveConfig } = await import('../config/load.js');
    const base = resolveConfig({ preset: 'cpu' });
    const iters = str(p, 'iters') ? intFlag('demo', 'iters', str(p, 'iters'), base.iters) : quick ? QUICK.iters : base.iters;
    const sharedStart = str(p, 'shared-start') ? intFlag('demo', 'shared-start', str(p, 'shared-start'), 1) : quick ? QUICK.sharedStart : 0;
    const valLimit = str(p, 'val-limit') ? intFlag('demo', 'val-limit', str(p, 'val-limit'), 1) : quick ? QUICK.valLimit : undefined;
    const cores = availableParallelism();
    const threadsFlag = str(p, 'threads') ? intFlag('demo', 'threads', str(p, 'threads'), 1) : undefined;
    // no oversubscription by default: jobs × threads ≤ cores
    const jobs = str(p, 'jobs') ? intFlag('demo', 'jobs', str(p, 'jobs'), 1) : Math.min(3, Math.max(1, Math.floor(cores / (threadsFlag ?? 1))));
    const threads = threadsFlag ?? Math.max(1, Math.floor(cores / jobs));
    const device = (await import('./device.js')).cliDevice('demo', str(p, 'device'));
    const jobOpts = { threads, ...(valLimit ? { valLimit } : {}), ...(device !== 'cpu' ? { device } : {}), commandLine: ['demo', ...argv] };

    const one = str(p, 'job');
    if (one !== undefined) { // a child of the job pool: one run, result.json for the parent
      const m = /^([a-z][a-z0-9-]*):(\d+)$/.exec(one);
      const dir = str(p, 'job-out');
      if (!m || !dir) throw new UsageError(`demo: --job expects METHOD:SEED with --job-out DIR, got '${one}'`);
      const init = str(p, 'job-init');
      await runJobHere({ method: m[1]!, key: '', seed: Number(m[2]), outDir: resolve(dir), iters, ...(init ? { init } : {}) }, jobOpts, true);
      return 0;
    }

    const { METHODS: registry } = await import('../methods/registry.js');
    const { checkpointName } = await import('../io/checkpoint.js');
    const METHODS = DEMO_METHODS.map((name) => [name, registry.get(name).key, registry.get(name).label] as const);
    const out = resolve(str(p, 'out') ?? `runs/demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    assertWritable(out);
    process.stderr.write(`clan demo: ${sharedStart ? `a shared source-only start of ${sharedStart} iterations per seed, then ` : ''}3 methods × ${seeds} seed(s) × ${iters} iterations on digitscapes → ${out}` +
      ` (${Math.min(jobs, 3 * seeds)} at a time, ${threads} thread(s) each)\n`);
    const pool = async (list: DemoJob[]): Promise<TrainResult[]> => {
      if (jobs > 1 && list.length > 1) return runJobsInChildren(list, jobs, threads, jobOpts);
      const r: TrainResult[] = [];
      for (const job of list) r.push(await runJobHere(job, jobOpts));
      return r;
    };

    // The shared start: one source-only run per seed, whose weights every method of that seed starts from.
    const startOf = (s: number) => join(out, 'shared-start', `seed-${s}`);
    if (sharedStart) await pool(Array.from({ length: seeds }, (_, s) => ({ method: 'source-only', key: 'source_only', seed: s, outDir: startOf(s), iters: sharedStart })));
    const init = (s: number) => (sharedStart ? { init: join(startOf(s), 'checkpoints', checkpointName(sharedStart)) } : {});
    // Longest runs first (CLAN, adversarial, then source-only) so that the job pool ends together.
    const list: DemoJob[] = [];
    for (const [name, key] of [...METHODS].reverse()) for (let s = 0; s < seeds; s++) list.push({ method: name, key, seed: s, outDir: join(out, key, `seed-${s}`), iters, ...init(s) });
    const ran = await pool(list);
    const results: Record<string, TrainResult[]> = {};
    for (const [, key] of METHODS) results[key] = list.flatMap((j, i) => (j.key === key ? [ran[i]!] : []));
    const classNames = results.clan![0]!.classNames;

    // The untrained network (same init as seed 0) on the same validation images: the floor.
    const torch = await import('../torch/index.js');
    const { createGenerator } = await import('../models/registry.js');
    const { openDataset } = await import('../data/registry.js');
    const { evaluate } = await import('../eval/evaluate.js');
    const val = openDataset(base.targetVal!.data);
    torch.manualSeed(0);
    const G0 = createGenerator(base.backbone, val.numClasses).to(device);
    const untrained = await evaluate(G0, val, { size: base.targetVal!.size ?? [64, 64], device, ...(valLimit ? { limit: valLimit } : {}) });
    G0.dispose();

    const summary: Record<string, unknown> = {};
    const rows = METHODS.map(([, key, label]) => {
      const rs = results[key]!;
      const mious = rs.map((r) => r.finalEval!.miou);
      const [mean, std] = meanStd(mious);
      const perClass = classNames.map((_, c) => {
        const vals = rs.map((r) => r.finalEval!.iou[c]!).filter((v) => !Number.isNaN(v));
        return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
      });
      summary[key] = { target_miou: mean, target_miou_std: std, per_seed: mious,
        per_class_iou: classNames.map((n, c) => ({ class: n, iou: perClass[c] })),
        iters, seconds: rs.reduce((a, r) => a + r.seconds, 0) / rs.length, checkpoint: resolve(rs[0]!.checkpoint) };
      return { label, mean, std, perClass };
    });
    summary.untrained_target_miou = untrained.miou;
    if (sharedStart) summary.shared_start = { iters: sharedStart, checkpoints: Array.from({ length: seeds }, (_, s) => init(s).init) };
    const { atomicWrite } = await import('../util/atomic.js');
    atomicWrite(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');

    // The report of the method runs (train/report.ts: curves, per-class IoU, CLAN's confusion matrix, samples).
    const { writeRunsReport } = await import('../train/report.js');
    await writeRunsReport(join(out, 'report.html'), METHODS.flatMap(([, key]) => results[key]!.map((r) => r.outDir)), {
      title: `clan demo — digitscapes, ${sharedStart ? `${sharedStart} shared source-only + ` : ''}${iters} iterations × ${seeds} seed(s)`, samples: 6,
      notes: [`untrained network: target mIoU ${(untrained.miou * 100).toFixed(2)}`, `summary: ${join(out, 'summary.json')}`,
        ...(sharedStart ? [`every method of a seed started from the same source-only weights (${sharedStart} iterations, ${startOf(0)}…)`] : [])],
    });

    // Per-class table and the three mIoUs.
    const w = Math.max(...classNames.map((n) => n.length), 10);
    const pct = (v: number | null) => (v === null ? '   -  ' : (v * 100).toFixed(2).padStart(6));
    console.log(`${'class'.padEnd(w)}  source-only  adversarial    clan`);
    classNames.forEach((n, c) => console.log(`${n.padEnd(w)}  ${pct(rows[0]!.perClass[c]!)}       ${pct(rows[1]!.perClass[c]!)}       ${pct(rows[2]!.perClass[c]!)}`));
    for (const m of rows) console.log(`${m.label.padEnd(12)} target mIoU ${(m.mean * 100).toFixed(2)}${seeds > 1 ? ` ± ${(m.std * 100).toFixed(2)}` : ''}`);
    console.log(`untrained    target mIoU ${(untrained.miou * 100).toFixed(2)}`);
    console.log(`wrote ${join(out, 'summary.json')} and ${join(out, 'report.html')}`);
    return 0;
  },
};
