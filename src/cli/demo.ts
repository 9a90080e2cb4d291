// `clan demo`: source-only, adversarial and CLAN (or any --methods) on the built-in digitscapes data with the `cpu`
// preset, each evaluated on digitscapes:val (which checkpoints are compared on) and on the held-out
// digitscapes:test (which chooses nothing); a per-class table, summary.json, a checkpoint per run, report.html.
import { join, resolve } from 'node:path';
import { parse, str, intFlag, type Command } from './args.js';
import { assertWritable } from './files.js';
import type { TrainResult } from '../train/trainer.js';
import type { RunRecord } from '../train/report.js';
import { availableParallelism } from 'node:os';
import { UsageError } from '../util/errors.js';
import { setsFor } from '../config/hyper.js';
import type { Device } from '../torch/index.js';
import { demoData, demoTargetFlags, runJobHere, runJobsInChildren, type DemoJob } from './demo-jobs.js';

// The default comparison, baseline first (names in methods/registry.ts, which gives keys and labels), and --all.
const DEFAULT_METHODS = ['source-only', 'adversarial', 'clan'];
const ALL = ['source-only', 'adversarial', 'clan', 'minent', 'advent', 'dacs', 'clan+cotrain', 'clan+clan-cotrain'];
// CLAN, then `clan selftrain` rounds of this method from its last checkpoint
const SELFTRAINED: Record<string, { method: string; key: string; label: string }> = {
  'clan+cotrain': { method: 'cotrain', key: 'clan_cotrain', label: 'CLAN + co-training' },
  'clan+clan-cotrain': { method: 'clan-cotrain', key: 'clan_cotrain_clan', label: 'CLAN + co-training with CLAN losses' },
};
const METHOD_NAMES = 'source-only, adversarial, clan, minent, advent, dacs';
const QUICK = { sharedStart: 300, iters: 200, valLimit: 200 }; // measured: README, "The demo"
const SELFTRAIN = { rounds: 2, portion: 0.2, portionStep: 0.05, portionMax: 0.5 }; // CBST's p schedule, 2 rounds

const USAGE = `usage: clan demo [--quick] [--methods LIST | --all] [--seeds N] [--iters N] [--shared-start N] [--out DIR]
                 [--jobs N] [--threads N] [--val-limit N] [--device D] [--texture DIGITS] [--set k=v ...]

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
  --iters N    iterations per method (default: the cpu preset's 1500; with --quick 200)
  --shared-start N  first train source-only N iterations per seed, then start every method from those weights
               (all of G; optimizers, D and schedules fresh): the methods then differ only in what they add
  --jobs N     training runs at once, each in its own process (default: min(3, cores / threads))
  --threads N  libtorch threads per run (default: cores / jobs)
  --val-limit N  evaluate on the first N validation (and test) images only
  --device D   where every run trains and evaluates (default cpu; cuda needs a CUDA libtorch)
  --texture DIGITS  target, val and test paint these digits with photo texture (e.g. 56789: a shift that
               differs by class; digitscapes:target,texture=56789 …)
  --set k=v    a config key of every run (as clan train --set), e.g. --set amp=bf16 --set hyper.adversarial.dFullSize=false`;

export const demoCmd: Command = {
  name: 'demo',
  summary: 'train the methods on built-in data and show that adaptation works',
  usage: USAGE,
  async run(argv) {
    const p = parse('demo', argv, { quick: { type: 'boolean' }, seeds: { type: 'string' }, iters: { type: 'string' }, out: { type: 'string' },
      threads: { type: 'string' }, 'val-limit': { type: 'string' }, jobs: { type: 'string' }, 'shared-start': { type: 'string' },
      methods: { type: 'string' }, all: { type: 'boolean' }, texture: { type: 'string' }, set: { type: 'string', multiple: true },
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
    const texture = str(p, 'texture');
    if (texture !== undefined && !(await import('../data/digitscapes.js')).textureDigits(texture)) throw new UsageError(`demo: --texture expects distinct digits 0-9 (e.g. 56789), got '${texture}'`);
    const data = demoData(texture);
    const sets = (p.values.set as unknown as string[] | undefined) ?? [];
    const jobOpts = { threads, ...(valLimit ? { valLimit } : {}), ...(device !== 'cpu' ? { device } : {}), ...(texture ? { texture } : {}), sets, commandLine: ['demo', ...argv] };

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
    if (p.values.all === true && str(p, 'methods')) throw new UsageError('demo: give --methods or --all, not both');
    const names = p.values.all === true ? ALL : (str(p, 'methods')?.split(',').map((x) => x.trim()).filter(Boolean) ?? DEFAULT_METHODS);
    for (const n of names) if (!SELFTRAINED[n]) registry.get(n); // an unknown name: one line with "did you mean"
    const selftrained = names.filter((n) => SELFTRAINED[n]);
    const trained = [...new Set([...names.filter((n) => !SELFTRAINED[n]), ...(selftrained.length ? ['clan'] : [])])]; // plain training runs
    const entryOf = (n: string) => SELFTRAINED[n] ?? { key: registry.get(n).key, label: registry.get(n).label };
    await checkSets(sets, [...trained, ...selftrained.map((n) => SELFTRAINED[n]!.method)]);
    const { checkpointName } = await import('../io/checkpoint.js');
    const out = resolve(str(p, 'out') ?? `runs/demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    assertWritable(out);
    process.stderr.write(`clan demo: ${sharedStart ? `a shared source-only start of ${sharedStart} iterations per seed, then ` : ''}${names.join(', ')} × ${seeds} seed(s) × ${iters} iterations on digitscapes → ${out}` +
      ` (${Math.min(jobs, trained.length * seeds)} at a time, ${threads} thread(s) each)\n`);
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
    // Longest runs first (the adversarial ones) so that the job pool ends together.
    const list: DemoJob[] = [];
    for (const name of [...trained].reverse()) for (let s = 0; s < seeds; s++) list.push({ method: name, key: entryOf(name).key, seed: s, outDir: join(out, entryOf(name).key, `seed-${s}`), iters, ...init(s) });
    const ran = await pool(list);
    const dirsOf: Record<string, string[]> = {};
    for (const name of trained) dirsOf[name] = list.flatMap((j) => (j.method === name ? [j.outDir] : []));

    // CLAN + co-training: self-training rounds (train/selftrain.ts) from each seed's CLAN checkpoint, here.
    const roundIters = Math.max(1, Math.round(iters / SELFTRAIN.rounds));
    const clanCheckpoint = (s: number) => ran[list.findIndex((j) => j.method === 'clan' && j.seed === s)]!.checkpoint;
    for (const name of selftrained) {
      dirsOf[name] = await selftrainRuns(name, seeds, clanCheckpoint, { out, roundIters, threads: Math.max(1, cores), device, jobOpts, sets, argv });
    }

    // Every run read back (train/report.ts), evaluated once more on the held-out test split.
    const { writeRunsReport } = await import('../train/report.js');
    const rows = await demoRows(names.map((n) => ({ name: n, ...entryOf(n), dirs: dirsOf[n]! })), device, valLimit, data.test);
    const classNames = rows[0]!.runs[0]!.classNames;

    const untrained = await untrainedMiou(base.backbone, data.val, base.targetVal!.size ?? [64, 64], device, valLimit);

    const summary = demoSummary(rows, classNames, untrained, data);
    if (sharedStart) summary.shared_start = { iters: sharedStart, checkpoints: Array.from({ length: seeds }, (_, s) => init(s).init) };
    if (sets.length) summary.sets = sets;
    if (selftrained.length) summary.selftrain = { ...SELFTRAIN, iters_per_round: roundIters, variant: 'cotrain', methods: selftrained.map((n) => SELFTRAINED[n]!.method) };
    const { atomicWrite } = await import('../util/atomic.js');
    atomicWrite(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');

    await writeRunsReport(join(out, 'report.html'), rows.flatMap((r) => r.runs.map((x) => x.dir)), {
      title: `clan demo — digitscapes${texture ? ` (texture=${texture})` : ''}, ${sharedStart ? `${sharedStart} shared source-only + ` : ''}${iters} iterations × ${seeds} seed(s)`, samples: 6,
      notes: [`untrained network: target mIoU ${(untrained * 100).toFixed(2)}`, `summary (with the held-out ${data.test} mIoU): ${join(out, 'summary.json')}`,
        ...rows.map((r) => `${r.label}: ${data.test} mIoU ${(100 * r.testStats[0]).toFixed(2)}${seeds > 1 ? ` ± ${(100 * r.testStats[1]).toFixed(2)}` : ''}`),
        ...(sharedStart ? [`every method of a seed started from the same source-only weights (${sharedStart} iterations, ${startOf(0)}…)`] : [])],
    });

    printDemo(rows, classNames, untrained, seeds);
    console.log(`wrote ${join(out, 'summary.json')} and ${join(out, 'report.html')}`);
    return 0;
  },
};

/** `clan selftrain` rounds of SELFTRAINED[name] from each seed's CLAN checkpoint; the last round's run folder per seed. */
async function selftrainRuns(name: string, seeds: number, clanCheckpoint: (seed: number) => string, o: {
  out: string; roundIters: number; threads: number; device: Device; jobOpts: Parameters<typeof demoTargetFlags>[0]; sets: string[]; argv: string[];
}): Promise<string[]> {
  const { resolveConfig } = await import('../config/load.js');
  const { selftrain } = await import('../train/selftrain.js');
  const { trainProgress } = await import('./progress.js');
  const { method, key } = SELFTRAINED[name]!;
  const dirs: string[] = [];
  for (let s = 0; s < seeds; s++) {
    const dir = join(o.out, key, `seed-${s}`);
    const config = resolveConfig({ preset: 'cpu', flags: { method, seed: s, iters: o.roundIters, threads: o.threads,
      checkpointEvery: Math.max(1, Math.round(o.roundIters / 2)), ...(o.device !== 'cpu' ? { device: o.device } : {}),
      ...demoTargetFlags(o.jobOpts) }, sets: setsFor(method, o.sets) });
    const rs = await selftrain({ from: clanCheckpoint(s), ...SELFTRAIN, variant: 'cotrain', config }, dir,
      { progress: trainProgress(`${name} seed ${s}`, 50), commandLine: ['demo', ...o.argv] });
    dirs.push(join(dir, `round-${rs.length}`));
  }
  return dirs;
}

/** The untrained network (the same init as seed 0) on the validation images: the floor every method is read against. */
async function untrainedMiou(backbone: string, valSpec: string, size: [number, number], device: Device, valLimit: number | undefined): Promise<number> {
  const torch = await import('../torch/index.js');
  const { createGenerator } = await import('../models/registry.js');
  const { openDataset } = await import('../data/registry.js');
  const { evaluate } = await import('../eval/evaluate.js');
  const valDs = openDataset(valSpec);
  torch.manualSeed(0);
  const G0 = createGenerator(backbone, valDs.numClasses).to(device);
  try { return (await evaluate(G0, valDs, { size, device, ...(valLimit ? { limit: valLimit } : {}) })).miou; } finally { G0.dispose(); }
}

/** summary.json's body: per method the val and test mIoU (mean, std, per seed) and the per-class IoU. */
function demoSummary(rows: DemoRow[], classNames: readonly string[], untrained: number, data: object): Record<string, unknown> {
  const summary: Record<string, unknown> = {};
  for (const r of rows) {
    const [mean, std] = r.valStats;
    const [tm, ts] = r.testStats;
    summary[r.key] = { target_miou: mean, target_miou_std: std, per_seed: r.val, test_miou: tm, test_miou_std: ts, test_per_seed: r.test,
      per_class_iou: classNames.map((n, c) => ({ class: n, iou: r.perClass[c] })), iters: r.runs[0]!.iters,
      seconds: r.runs.reduce((a, x) => a + x.seconds, 0) / r.runs.length, checkpoint: r.runs[0]!.checkpoint };
  }
  summary.untrained_target_miou = untrained;
  summary.data = data;
  return summary;
}

/** One demo method: its runs read back (train/report.ts), val mIoU per seed, mIoU on the held-out test split. */
interface DemoRow {
  name: string; key: string; label: string; runs: RunRecord[]; val: number[]; test: number[]; perClass: (number | null)[];
  valStats: [number, number]; testStats: [number, number]; // mean, std over seeds
}

async function demoRows(methods: { name: string; key: string; label: string; dirs: string[] }[], device: string, valLimit: number | undefined, testSpec: string): Promise<DemoRow[]> {
  const { meanPerClassIou, meanStd, readRun } = await import('../train/report.js');
  const { loadInferenceModel } = await import('../infer/model.js');
  const { openDataset } = await import('../data/registry.js');
  const { evaluate } = await import('../eval/evaluate.js');
  const { parseDevice } = await import('../torch/index.js');
  const dev = parseDevice(device, '--device');
  const test = openDataset(testSpec);
  const testMiou = async (ckpt: string): Promise<number> => {
    const m = loadInferenceModel(ckpt, dev);
    try { return (await evaluate(m.G, test, { size: m.evalSize, device: dev, ...(valLimit ? { limit: valLimit } : {}) })).miou; } finally { m.G.dispose(); }
  };
  const rows: DemoRow[] = [];
  for (const { dirs, ...entry } of methods) {
    const runs = dirs.map((d) => readRun(d));
    const test: number[] = [];
    for (const r of runs) test.push(await testMiou(r.checkpoint!));
    const val = runs.map((r) => r.final!.miou);
    rows.push({ ...entry, runs, val, test, perClass: meanPerClassIou(runs, runs[0]!.classNames.length), valStats: meanStd(val), testStats: meanStd(test) });
  }
  return rows;
}

/** The per-class table and the mIoUs (val: what checkpoints are compared on; test: held out, chooses nothing). */
function printDemo(rows: DemoRow[], classNames: readonly string[], untrained: number, seeds: number): void {
  const w = Math.max(...classNames.map((n) => n.length), 10);
  const cw = Math.max(12, ...rows.map((r) => r.name.length + 1));
  const pct = (v: number | null) => (v === null ? '-' : (v * 100).toFixed(2)).padStart(cw);
  console.log(`${'class'.padEnd(w)}${rows.map((r) => r.name.padStart(cw)).join('')}`);
  classNames.forEach((n, c) => console.log(`${n.padEnd(w)}${rows.map((r) => pct(r.perClass[c]!)).join('')}`));
  const lw = Math.max(...rows.map((r) => r.label.length), 12);
  const pm = ([a, b]: [number, number]) => `${(a * 100).toFixed(2)}${seeds > 1 ? ` ± ${(b * 100).toFixed(2)}` : ''}`;
  for (const r of rows) console.log(`${r.label.padEnd(lw)} target mIoU ${pm(r.valStats)}   test ${pm(r.testStats)}`);
  console.log(`${'untrained'.padEnd(lw)} target mIoU ${(untrained * 100).toFixed(2)}`);
}

/** Every --set now, in one line, not in every run: valid for each method that reads it, and read by at least one of them. */
async function checkSets(sets: string[], methods: string[]): Promise<void> {
  if (!sets.length) return;
  const { resolveConfig } = await import('../config/load.js');
  for (const m of methods) resolveConfig({ preset: 'cpu', flags: { method: m }, sets: setsFor(m, sets) }, 'demo --set');
  const unread = sets.filter((x) => methods.every((m) => !setsFor(m, [x]).length));
  if (unread.length) throw new UsageError(`demo: --set ${unread[0]}: none of the methods run (${methods.join(', ')}) reads that key`);
}
