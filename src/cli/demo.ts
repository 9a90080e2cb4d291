// `clan demo`: flags → a demo plan → train/demo.ts runDemo (the orchestration) with a job pool of child processes
// (demo-jobs.ts) or this process → the per-class table and the mIoUs. `--job METHOD:SEED` is one run of a parent's pool.
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parse, str, intFlag, boolFlag, type Command, type Parsed } from './args.js';
import { assertWritable } from './files.js';
import { trainProgress } from './progress.js';
import { UsageError } from '../util/errors.js';
import { pctMeanStd } from '../util/percent.js';
import { ALL, DEFAULT_METHODS, METHOD_NAMES, QUICK, type DemoJob, type DemoPlan, type DemoRow } from '../train/demo.js';
import type { TrainResult } from '../train/trainer.js';

const USAGE = `usage: clan demo [--quick] [--methods LIST | --all] [--seeds N] [--first-seed K] [--iters N] [--shared-start N] [--out DIR]
                 [--jobs N] [--threads N] [--val-limit N] [--device D] [--texture DIGITS] [--layout row] [--set k=v ...]

Trains source-only, adversarial (output-space, AdaptSegNet-style) and CLAN on the built-in digitscapes data
(synthetic source: flat-coloured MNIST digits; target: the same digits painted over real photographs) with the
'cpu' preset, evaluates each on digitscapes:val and on the held-out digitscapes:test, and prints the per-class IoU
and the target mIoUs. Writes to --out (default runs/demo-<time>): a checkpoint per method and seed,
summary.json, report.html.
  --quick      ≈2 minutes on 2 cores: a source-only start of 300 iterations per seed, then each method
               200 iterations from it (--shared-start 300 --iters 200 --val-limit 200)
  --methods L  comma-separated methods: ${METHOD_NAMES}, and clan+cotrain (CLAN, then
               co-training self-training rounds from its checkpoint: clan selftrain), clan+clan-cotrain (the same
               rounds with CLAN's losses on top); default source-only,adversarial,clan
  --all        every method: ${ALL.join(',')}
  --seeds N    train each method with N seeds; mIoU is reported as mean ± std
  --first-seed K  the seeds are K … K+N−1 (default 0), e.g. --seeds 2 --first-seed 1 adds seeds 1 and 2 to a
               seed-0 run without repeating it
  --iters N    iterations per method (default: the cpu preset's 1500; with --quick 200)
  --shared-start N  first train source-only N iterations per seed, then start every method from those weights
               (all of G; optimizers, D and schedules fresh): the methods then differ only in what they add
  --jobs N     training runs at once, each in its own process (default: min(3, cores / threads))
  --threads N  libtorch threads per run (default: cores / jobs)
  --val-limit N  evaluate on the first N validation (and test) images only
  --device D   where every run trains and evaluates (default cpu; cuda needs a CUDA libtorch)
  --texture DIGITS  target, val and test paint these digits with photo texture (e.g. 56789: a shift that
               differs by class; digitscapes:target,texture=56789 …)
  --layout row every split's digits are house numbers: 2–3 consecutive digits on one line, so a digit's
               class follows from its neighbours' (context; digitscapes:source,layout=row …)
  --set k=v    a config key of every run (as clan train --set), e.g. --set amp=bf16 --set hyper.adversarial.dFullSize=false`;

const OPTIONS = { quick: { type: 'boolean' }, seeds: { type: 'string' }, 'first-seed': { type: 'string' }, iters: { type: 'string' }, out: { type: 'string' },
  threads: { type: 'string' }, 'val-limit': { type: 'string' }, jobs: { type: 'string' }, 'shared-start': { type: 'string' },
  methods: { type: 'string' }, all: { type: 'boolean' }, texture: { type: 'string' }, layout: { type: 'string' }, set: { type: 'string', multiple: true },
  job: { type: 'string' }, 'job-out': { type: 'string' }, 'job-init': { type: 'string' }, device: { type: 'string' } } as const; // --job*: one run, for the parent's pool

/** The plan the flags ask for: sizes of the runs, how many at once, the data variant, the methods. */
async function demoPlan(p: Parsed, argv: string[]): Promise<DemoPlan> {
  const quick = boolFlag(p, 'quick');
  const { resolveConfig } = await import('../config/load.js');
  const base = resolveConfig({ preset: 'cpu' });
  const opt = (name: string, def: number | undefined, min = 1) => (str(p, name) ? intFlag('demo', name, str(p, name), 1, min, 1e6) : def);
  const iters = opt('iters', quick ? QUICK.iters : base.iters)!;
  const cores = availableParallelism();
  const threadsFlag = opt('threads', undefined);
  // no oversubscription by default: jobs × threads ≤ cores
  const jobs = opt('jobs', Math.min(3, Math.max(1, Math.floor(cores / (threadsFlag ?? 1)))))!;
  const threads = threadsFlag ?? Math.max(1, Math.floor(cores / jobs));
  const valLimit = opt('val-limit', quick ? QUICK.valLimit : undefined);
  const device = (await import('./device.js')).cliDevice('demo', str(p, 'device'));
  const texture = str(p, 'texture');
  const { textureDigits, DIGITSCAPES_LAYOUTS } = await import('../data/digitscapes.js');
  if (texture !== undefined && !textureDigits(texture)) throw new UsageError(`demo: --texture expects distinct digits 0-9 (e.g. 56789), got '${texture}'`);
  const layout = str(p, 'layout');
  if (layout !== undefined && !(DIGITSCAPES_LAYOUTS as readonly string[]).includes(layout)) throw new UsageError(`demo: --layout expects one of ${DIGITSCAPES_LAYOUTS.join(', ')}, got '${layout}'`);
  const variant = { ...(texture ? { texture } : {}), ...(layout && layout !== 'scatter' ? { layout } : {}) };
  if (boolFlag(p, 'all') && str(p, 'methods')) throw new UsageError('demo: give --methods or --all, not both');
  const sets = (p.values.set as unknown as string[] | undefined) ?? [];
  const firstSeed = opt('first-seed', 0, 0)!;
  return { names: boolFlag(p, 'all') ? ALL : (str(p, 'methods')?.split(',').map((x) => x.trim()).filter(Boolean) ?? DEFAULT_METHODS),
    seeds: Array.from({ length: opt('seeds', 1)! }, (_, s) => firstSeed + s), iters, sharedStart: opt('shared-start', quick ? QUICK.sharedStart : 0)!, ...(valLimit ? { valLimit } : {}), threads, jobs, cores, device,
    ...variant, sets, out: resolve(str(p, 'out') ?? `runs/demo-${new Date().toISOString().replace(/[:.]/g, '-')}`), argv,
    jobOpts: { threads, ...(valLimit ? { valLimit } : {}), ...(device !== 'cpu' ? { device } : {}), ...variant, sets, commandLine: ['demo', ...argv] },
    backbone: base.backbone, evalSize: base.targetVal!.size ?? [64, 64] };
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'train the methods on built-in data and show that adaptation works',
  usage: USAGE,
  async run(argv) {
    const p = parse('demo', argv, OPTIONS);
    if (p.values.help) { console.log(USAGE); return 0; }
    const plan = await demoPlan(p, argv);
    const { runJobHere, runJobsInChildren } = await import('./demo-jobs.js');
    const one = str(p, 'job');
    if (one !== undefined) { // a child of the job pool: one run, result.json for the parent
      const m = /^([a-z][a-z0-9-]*):(\d+)$/.exec(one);
      const dir = str(p, 'job-out'); const init = str(p, 'job-init');
      if (!m || !dir) throw new UsageError(`demo: --job expects METHOD:SEED with --job-out DIR, got '${one}'`);
      await runJobHere({ method: m[1]!, key: '', seed: Number(m[2]), outDir: resolve(dir), iters: plan.iters, ...(init ? { init } : {}) }, plan.jobOpts, true);
      return 0;
    }
    const { demoMethods, runDemo, checkSets, SELFTRAINED } = await import('../train/demo.js');
    const { trained, selftrained } = demoMethods(plan.names);
    await checkSets(plan.sets, [...trained, ...selftrained.map((n) => SELFTRAINED[n]!.method)]); // a bad key: one line, before any run
    assertWritable(plan.out);
    process.stderr.write(`clan demo: ${plan.sharedStart ? `a shared source-only start of ${plan.sharedStart} iterations per seed, then ` : ''}${plan.names.join(', ')} × ${plan.seeds.length} seed(s) × ${plan.iters} iterations on digitscapes → ${plan.out}` +
      ` (${Math.min(plan.jobs, trained.length * plan.seeds.length)} at a time, ${plan.threads} thread(s) each)\n`);
    const pool = async (list: DemoJob[]): Promise<TrainResult[]> => {
      if (plan.jobs > 1 && list.length > 1) return runJobsInChildren(list, plan.jobs, plan.threads, plan.jobOpts);
      const r: TrainResult[] = [];
      for (const job of list) r.push(await runJobHere(job, plan.jobOpts));
      return r;
    };
    const o = await runDemo(plan, pool, (label) => trainProgress(label, 50));
    printDemo(o.rows, o.classNames, o.untrained, plan.seeds.length);
    if (o.sharedStart) console.log(`the shared start (source-only, ${plan.sharedStart} iterations) target mIoU ${pctMeanStd(o.sharedStart.valStats, plan.seeds.length)}`);
    console.log(`wrote ${o.summary} and ${o.report}`);
    return 0;
  },
};

/** The per-class table and the mIoUs (val: what checkpoints are compared on; test: held out, chooses nothing). */
function printDemo(rows: DemoRow[], classNames: readonly string[], untrained: number, seeds: number): void {
  const w = Math.max(...classNames.map((n) => n.length), 10);
  const cw = Math.max(12, ...rows.map((r) => r.name.length + 1));
  const pct = (v: number | null) => (v === null ? '-' : (v * 100).toFixed(2)).padStart(cw);
  console.log(`${'class'.padEnd(w)}${rows.map((r) => r.name.padStart(cw)).join('')}`);
  classNames.forEach((n, c) => console.log(`${n.padEnd(w)}${rows.map((r) => pct(r.perClass[c]!)).join('')}`));
  const lw = Math.max(...rows.map((r) => r.label.length), 12);
  for (const r of rows) console.log(`${r.label.padEnd(lw)} target mIoU ${pctMeanStd(r.valStats, seeds)}   test ${pctMeanStd(r.testStats, seeds)}`);
  console.log(`${'untrained'.padEnd(lw)} target mIoU ${(untrained * 100).toFixed(2)}`);
}
