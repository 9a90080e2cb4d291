// `clan demo` below the command line: which methods, the demo's data (digitscapes target/val/test, optionally with
// photo texture on some digits), one config per run (the cpu preset with the demo's schedule), then the whole demo —
// an optional shared source-only start per seed, every method × seed through the caller's job pool, self-training
// rounds from CLAN, each run evaluated again on the held-out test split, summary.json and report.html.
import { join } from 'node:path';
import type { Device } from '../torch/index.js';
import type { TrainConfig } from '../config/schema.js';
import { setsFor } from '../config/hyper.js';
import { checkpointName } from '../io/checkpoint.js';
import { METHODS } from '../methods/registry.js';
import { atomicWrite } from '../util/atomic.js';
import { ClanError, UsageError } from '../util/errors.js';
import { pctMeanStd } from '../util/percent.js';
import type { RunRecord } from './report.js';
import type { StepLog } from '../methods/uda.js';
import type { TrainResult } from './trainer.js';

/** A progress callback factory: one line per run, labelled (the CLI's trainProgress). */
export type DemoProgress = (label: string) => (step: number, total: number, s: StepLog, secs: number) => void;

// The default comparison, baseline first (names in methods/registry.ts, which gives keys and labels), and --all.
export const DEFAULT_METHODS = ['source-only', 'adversarial', 'clan'];
export const ALL = ['source-only', 'adversarial', 'clan', 'minent', 'advent', 'dacs', 'mic', 'clan+cotrain', 'clan+clan-cotrain'];
// CLAN, then `clan selftrain` rounds of this method from its last checkpoint
export const SELFTRAINED: Record<string, { method: string; key: string; label: string }> = {
  'clan+cotrain': { method: 'cotrain', key: 'clan_cotrain', label: 'CLAN + co-training' },
  'clan+clan-cotrain': { method: 'clan-cotrain', key: 'clan_cotrain_clan', label: 'CLAN + co-training with CLAN losses' },
};
export const METHOD_NAMES = 'source-only, adversarial, clan, minent, advent, dacs, mic (daformer, hrda and mic-* on MiT: --set backbone=mit-b0)';
export const QUICK = { sharedStart: 300, iters: 200, valLimit: 200 }; // measured: README, "The demo"
export const SELFTRAIN = { rounds: 2, portion: 0.2, portionStep: 0.05, portionMax: 0.5 }; // CBST's p schedule, 2 rounds

/** One training run of the demo; `init`: start from these weights (all of G: the shared source-only start). */
export interface DemoJob { method: string; key: string; seed: number; outDir: string; iters: number; init?: string }
export interface DemoJobOptions {
  threads?: number; valLimit?: number; device?: string; texture?: string; layout?: string; sets?: string[]; commandLine: string[];
}

/**
 * The demo's datasets: digitscapes source/target/val/test; with `texture` (e.g. '56789') those digits painted with
 * photo texture on target, val and test (a shift that differs by class), with `layout` 'row' every split's digits
 * laid out as house numbers (context; data/digitscapes.ts).
 */
export function demoData(o: Pick<DemoJobOptions, 'texture' | 'layout'>): { source: string; target: string; val: string; test: string } {
  const l = o.layout ? `,layout=${o.layout}` : '';
  const t = (o.texture ? `,texture=${o.texture}` : '') + l;
  return { source: `digitscapes:source${l}`, target: `digitscapes:target${t}`, val: `digitscapes:val${t}`, test: `digitscapes:test${t}` };
}

/** The config of one demo run: the cpu preset with the demo's schedule. */
export async function demoConfig(job: DemoJob, o: DemoJobOptions): Promise<TrainConfig> {
  const { resolveConfig } = await import('../config/load.js');
  return resolveConfig({ preset: 'cpu', flags: { method: job.method, seed: job.seed, iters: job.iters,
    checkpointEvery: Math.max(1, Math.round(job.iters / 4)), ...(o.threads ? { threads: o.threads } : {}),
    ...(o.device ? { device: o.device } : {}),
    ...(job.init ? { init: job.init, initScope: 'all' } : {}),
    ...demoDataFlags(o) }, sets: setsFor(job.method, o.sets ?? []) });
}

/** Config flags of the demo's data: the texture and layout variants' datasets, the validation limit. */
export function demoDataFlags(o: Pick<DemoJobOptions, 'valLimit' | 'texture' | 'layout'>): Record<string, unknown> {
  const d = demoData(o), variant = Boolean(o.texture || o.layout);
  return { ...(o.layout ? { source: { data: d.source } } : {}), ...(variant ? { target: { data: d.target } } : {}),
    ...(o.valLimit || variant ? { targetVal: { data: d.val, ...(o.valLimit ? { limit: o.valLimit } : {}) } } : {}) };
}

/** What the command line asked for, resolved. */
export interface DemoPlan {
  names: string[];                  // methods and selftrained variants, as given
  seeds: number[]; iters: number; sharedStart: number; valLimit?: number; // seeds: the list (0..N−1 for --seeds N)
  threads: number; jobs: number; cores: number; device: Device; texture?: string; layout?: string; sets: string[];
  out: string; argv: string[]; jobOpts: DemoJobOptions;
  backbone: string; evalSize: [number, number];   // the cpu preset's, for the untrained floor
}

/** What a finished demo reports. */
export interface DemoOutcome {
  rows: DemoRow[]; classNames: readonly string[]; untrained: number; summary: string; report: string;
  sharedStart?: { val: number[]; valStats: [number, number] };  // the source-only starts' val mIoU (--shared-start)
}

/** Unknown names get a "did you mean"; the plain training runs (CLAN too where a selftrained variant needs it). */
export function demoMethods(names: string[]): { trained: string[]; selftrained: string[] } {
  for (const n of names) if (!SELFTRAINED[n]) METHODS.get(n);
  const selftrained = names.filter((n) => SELFTRAINED[n]);
  return { selftrained, trained: [...new Set([...names.filter((n) => !SELFTRAINED[n]), ...(selftrained.length ? ['clan'] : [])])] };
}

const entryOf = (n: string) => SELFTRAINED[n] ?? { key: METHODS.get(n).key, label: METHODS.get(n).label };

/** The whole demo; `pool` runs a list of training jobs (in this process or in children) and returns their results in order. */
export async function runDemo(plan: DemoPlan, pool: (jobs: DemoJob[]) => Promise<TrainResult[]>,
  progress: DemoProgress): Promise<DemoOutcome> {
  const { out, seeds, iters, sharedStart } = plan;
  const { trained, selftrained } = demoMethods(plan.names);
  await checkSets(plan.sets, [...trained, ...selftrained.map((n) => SELFTRAINED[n]!.method)]);
  // The shared start: one source-only run per seed, whose weights every method of that seed starts from.
  const startOf = (s: number) => join(out, 'shared-start', `seed-${s}`);
  const starts = sharedStart
    ? await pool(seeds.map((s) => ({ method: 'source-only', key: 'source_only', seed: s, outDir: startOf(s), iters: sharedStart }))) : [];
  const init = (s: number) => (sharedStart ? { init: join(startOf(s), 'checkpoints', checkpointName(sharedStart)) } : {});
  // Longest runs first (the adversarial ones) so that the job pool ends together.
  const list: DemoJob[] = [];
  for (const name of [...trained].reverse()) for (const s of seeds) list.push({ method: name, key: entryOf(name).key, seed: s, outDir: join(out, entryOf(name).key, `seed-${s}`), iters, ...init(s) });
  const ran = await pool(list);
  const dirsOf: Record<string, string[]> = {};
  for (const name of trained) dirsOf[name] = list.flatMap((j) => (j.method === name ? [j.outDir] : []));
  // CLAN + co-training: self-training rounds (train/selftrain.ts) from each seed's CLAN checkpoint, here.
  const roundIters = Math.max(1, Math.round(iters / SELFTRAIN.rounds));
  const clanCheckpoint = (s: number) => ran[list.findIndex((j) => j.method === 'clan' && j.seed === s)]!.checkpoint;
  for (const name of selftrained) {
    dirsOf[name] = await selftrainRuns(name, seeds, clanCheckpoint, { out, roundIters, threads: Math.max(1, plan.cores),
      device: plan.device, jobOpts: plan.jobOpts, sets: plan.sets, argv: plan.argv, progress });
  }
  // Every run read back (train/report.ts), evaluated once more on the held-out test split.
  const data = demoData(plan);
  const rows = await demoRows(plan.names.map((n) => ({ name: n, ...entryOf(n), dirs: dirsOf[n]! })), plan.device, plan.valLimit, data.test);
  const classNames = rows[0]!.runs[0]!.classNames;
  const untrained = await untrainedMiou(plan.backbone, data.val, plan.evalSize, plan.device, plan.valLimit);
  const summary = demoSummary(rows, classNames, untrained, data, seeds);
  const start = sharedStart ? await sharedStartStats(starts, seeds) : undefined;
  if (start) summary.shared_start = { iters: sharedStart, target_miou: start.valStats[0], target_miou_std: start.valStats[1],
    per_seed: start.val, checkpoints: seeds.map((s) => init(s).init) };
  if (plan.sets.length) summary.sets = plan.sets;
  if (selftrained.length) summary.selftrain = { ...SELFTRAIN, iters_per_round: roundIters, variant: 'cotrain', methods: selftrained.map((n) => SELFTRAINED[n]!.method) };
  atomicWrite(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  await demoReport(plan, rows, untrained, data.test, startOf(0));
  return { rows, classNames, untrained, ...(start ? { sharedStart: start } : {}), summary: join(out, 'summary.json'), report: join(out, 'report.html') };
}

/** The shared start's val mIoU per seed (each source-only start's final evaluation) and their mean, std. */
async function sharedStartStats(starts: TrainResult[], seeds: readonly number[]): Promise<{ val: number[]; valStats: [number, number] }> {
  const { meanStd } = await import('./report.js');
  const val = starts.map((r, k) => {
    if (!r.finalEval) throw new ClanError(`demo: the shared start of seed ${seeds[k]} ended without an evaluation`);
    return r.finalEval.miou;
  });
  return { val, valStats: meanStd(val) };
}

/** report.html of every run, with the held-out test mIoUs and the untrained floor as notes. */
async function demoReport(plan: DemoPlan, rows: DemoRow[], untrained: number, test: string, start0: string): Promise<void> {
  const { writeRunsReport } = await import('./report.js');
  const { out, seeds, iters, sharedStart } = plan;
  const variant = [plan.texture ? `texture=${plan.texture}` : '', plan.layout ? `layout=${plan.layout}` : ''].filter(Boolean).join(', ');
  await writeRunsReport(join(out, 'report.html'), rows.flatMap((r) => r.runs.map((x) => x.dir)), {
    title: `clan demo — digitscapes${variant ? ` (${variant})` : ''}, ${sharedStart ? `${sharedStart} shared source-only + ` : ''}${iters} iterations × ${seeds.length} seed(s)`, samples: 6,
    notes: [`untrained network: target mIoU ${(untrained * 100).toFixed(2)}`, `summary (with the held-out ${test} mIoU): ${join(out, 'summary.json')}`,
      ...rows.map((r) => `${r.label}: ${test} mIoU ${pctMeanStd(r.testStats, seeds.length)}`),
      ...(sharedStart ? [`every method of a seed started from the same source-only weights (${sharedStart} iterations, ${start0}…)`] : [])],
  });
}

/** `clan selftrain` rounds of SELFTRAINED[name] from each seed's CLAN checkpoint; the last round's run folder per seed. */
async function selftrainRuns(name: string, seeds: readonly number[], clanCheckpoint: (seed: number) => string, o: {
  out: string; roundIters: number; threads: number; device: Device; jobOpts: Parameters<typeof demoDataFlags>[0];
  sets: string[]; argv: string[]; progress: DemoProgress;
}): Promise<string[]> {
  const { resolveConfig } = await import('../config/load.js');
  const { selftrain } = await import('../train/selftrain.js');
  const { method, key } = SELFTRAINED[name]!;
  const dirs: string[] = [];
  for (const s of seeds) {
    const dir = join(o.out, key, `seed-${s}`);
    const config = resolveConfig({ preset: 'cpu', flags: { method, seed: s, iters: o.roundIters, threads: o.threads,
      checkpointEvery: Math.max(1, Math.round(o.roundIters / 2)), ...(o.device !== 'cpu' ? { device: o.device } : {}),
      ...demoDataFlags(o.jobOpts) }, sets: setsFor(method, o.sets) });
    const rs = await selftrain({ from: clanCheckpoint(s), ...SELFTRAIN, variant: 'cotrain', config }, dir,
      { progress: o.progress(`${name} seed ${s}`), commandLine: ['demo', ...o.argv] });
    dirs.push(join(dir, `round-${rs.length}`));
  }
  return dirs;
}

/** The untrained network (the same init as seed 0) on the validation images: the floor every method is read against. */
async function untrainedMiou(backbone: string, valSpec: string, size: [number, number], device: Device,
  valLimit: number | undefined): Promise<number> {
  const torch = await import('../torch/index.js');
  const { createSegmentor } = await import('../models/registry.js');
  const { openDataset } = await import('../data/registry.js');
  const { evaluate } = await import('../eval/evaluate.js');
  const valDs = openDataset(valSpec);
  torch.manualSeed(0);
  const G0 = createSegmentor(backbone, valDs.numClasses).to(device);
  try { return (await evaluate(G0, valDs, { size, device, ...(valLimit ? { limit: valLimit } : {}) })).miou; } finally { G0.dispose(); }
}

/** summary.json's body: per method the val and test mIoU (mean, std, per seed) and the per-class val IoU (mean, per seed). */
function demoSummary(rows: DemoRow[], classNames: readonly string[], untrained: number, data: object,
  seeds: readonly number[]): Record<string, unknown> {
  const summary: Record<string, unknown> = { seeds }; // per_seed and test_per_seed follow this order
  for (const r of rows) {
    const [mean, std] = r.valStats;
    const [tm, ts] = r.testStats;
    summary[r.key] = { target_miou: mean, target_miou_std: std, per_seed: r.val, test_miou: tm, test_miou_std: ts, test_per_seed: r.test,
      per_class_iou: perClassRows(r, classNames),
      iters: r.runs[0]!.iters, seconds: r.runs.reduce((a, x) => a + x.seconds, 0) / r.runs.length, checkpoint: r.runs[0]!.checkpoint };
  }
  summary.untrained_target_miou = untrained;
  summary.data = data;
  return summary;
}

/** Per class: the mean IoU over seeds and each seed's (its run's final evaluation; null where the class was absent). */
const perClassRows = (r: DemoRow, classNames: readonly string[]) =>
  classNames.map((n, c) => ({ class: n, iou: r.perClass[c], per_seed: r.runs.map((x) => x.final?.perClassIou[c] ?? null) }));

/** One demo method: its runs read back (train/report.ts), val mIoU per seed, mIoU on the held-out test split. */
export interface DemoRow {
  name: string; key: string; label: string; runs: RunRecord[]; val: number[]; test: number[]; perClass: (number | null)[];
  valStats: [number, number]; testStats: [number, number]; // mean, std over seeds
}

async function demoRows(methods: { name: string; key: string; label: string; dirs: string[] }[], device: string,
  valLimit: number | undefined, testSpec: string): Promise<DemoRow[]> {
  const { meanPerClassIou, meanStd, readRun } = await import('../train/report.js');
  const { loadInferenceModel } = await import('../infer/model.js');
  const { openDataset } = await import('../data/registry.js');
  const { evaluate } = await import('../eval/evaluate.js');
  const { parseDevice } = await import('../torch/index.js');
  const dev = parseDevice(device, '--device');
  const test = openDataset(testSpec);
  const testMiou = async (ckpt: string): Promise<number> => {
    const m = loadInferenceModel(ckpt, dev);
    try {
      return (await evaluate(m.G, test, { size: m.evalSize, device: dev, ...(valLimit ? { limit: valLimit } : {}) })).miou;
    } finally { m.G.dispose(); }
  };
  const rows: DemoRow[] = [];
  for (const { dirs, ...entry } of methods) {
    const runs = dirs.map((d) => readRun(d));
    const test: number[] = [];
    for (const r of runs) test.push(await testMiou(r.checkpoint!));
    const val = runs.map((r) => r.final!.miou);
    rows.push({ ...entry, runs, val, test, perClass: meanPerClassIou(runs, runs[0]!.classNames.length),
      valStats: meanStd(val), testStats: meanStd(test) });
  }
  return rows;
}

/** Every --set now, in one line, not in every run: valid for each method that reads it, and read by at least one of them. */
export async function checkSets(sets: string[], methods: string[]): Promise<void> {
  if (!sets.length) return;
  const { resolveConfig } = await import('../config/load.js');
  for (const m of methods) resolveConfig({ preset: 'cpu', flags: { method: m }, sets: setsFor(m, sets), commandLine: true }, 'demo --set');
  const unread = sets.filter((x) => methods.every((m) => !setsFor(m, [x]).length));
  if (unread.length) throw new UsageError(`demo: --set ${unread[0]}: none of the methods run (${methods.join(', ')}) reads that key`);
}
