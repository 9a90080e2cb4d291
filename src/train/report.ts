// The report of training runs (report/html.ts's page) built from what run folders hold: run.json (class names,
// palette, seconds), config.yaml, metrics.jsonl (losses, lr, M, every evaluation with per-class IoU and the
// confusion matrix) and the newest checkpoint (sample predictions on the target validation split). `clan train`
// writes it when a run ends or is interrupted, `clan report RUN…` rebuilds it and compares runs, `clan demo` uses it
// for its methods. Runs that differ only in the seed are one method with mean ± std over seeds.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import YAML from 'yaml';
import { METHODS } from '../methods/registry.js';
import { validate } from '../config/schema.js';
import { listCheckpoints } from '../io/checkpoint.js';
import { loadInferenceModel, type InferenceModel } from '../infer/model.js';
import type { RgbImage } from '../data/image.js';
import { predictImage } from '../infer/predict.js';
import { openDataset } from '../data/registry.js';
import { writeReport } from '../report/html.js';
import { colorize, encodePng, heatmap, upscale, type Rgb } from '../report/png.js';
import { CURVE_KEYS, type MethodResult, type MetricRow, type ReportData, type Sample } from '../report/types.js';
import { DataError } from '../util/errors.js';

/** One run folder, read back. Fractions stay fractions. */
export interface RunRecord {
  dir: string;
  method: string;                     // registry name ('clan', 'source-only', …)
  seed: number;
  iters: number;
  config: Record<string, unknown>;    // config.yaml as written
  metrics: MetricRow[];
  evals: { step: number; miou: number }[];
  final: { step: number; miou: number; perClassIou: (number | null)[]; confusion: number[][] | null } | null; // the last evaluation
  classNames: string[];
  palette: Rgb[] | null;
  checkpoint: string | null;          // the newest checkpoint file
  seconds: number;                    // training time: the sum of the logged step times (survives resumes)
}

interface EvalLine { miou: number; iou?: (number | null)[]; per_class_iou?: Record<string, number | null>; confusion?: number[] }

/** Reads a run folder; a missing or damaged file is a DataError naming it. */
export function readRun(dir: string): RunRecord {
  const abs = resolve(dir);
  const cfgPath = join(abs, 'config.yaml'), metricsPath = join(abs, 'metrics.jsonl');
  if (!existsSync(cfgPath) || !existsSync(metricsPath)) throw new DataError(`${abs} is not a run folder (expected config.yaml and metrics.jsonl)`);
  let config: Record<string, unknown>;
  try { config = YAML.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>; } catch (e) {
    throw new DataError(`${cfgPath}: not readable YAML (${(e as Error).message.split('\n')[0]})`);
  }
  const info = readJson(join(abs, 'run.json'));
  const ckpt = listCheckpoints(join(abs, 'checkpoints'))[0] ?? null;
  let classNames = Array.isArray(info.classNames) ? (info.classNames as string[]) : null;
  let palette = Array.isArray(info.palette) ? (info.palette as Rgb[]) : null;
  if (!classNames && ckpt) { // runs written before run.json held the classes: the checkpoint header has them
    const m = loadInferenceModel(ckpt);
    classNames = m.classNames; palette = m.palette; m.G.dispose();
  }
  if (!classNames) throw new DataError(`${abs}: no class names (run.json has none and there is no checkpoint)`);
  const metrics: MetricRow[] = [];
  const evals: RunRecord['evals'] = [];
  let final: RunRecord['final'] = null;
  let seconds = 0;
  const lines = readFileSync(metricsPath, 'utf8').split('\n').filter(Boolean);
  lines.forEach((l, i) => {
    let row: Record<string, unknown>;
    try { row = JSON.parse(l) as Record<string, unknown>; } catch {
      if (i === lines.length - 1) return; // a torn last line of an interrupted write
      throw new DataError(`${metricsPath}: line ${i + 1} is not JSON`);
    }
    const step = row.step as number;
    const ev = row.eval as EvalLine | undefined;
    if (ev) {
      evals.push({ step, miou: ev.miou });
      const K = classNames.length;
      const iou = ev.iou ?? classNames.map((n) => ev.per_class_iou?.[n] ?? null);
      const conf = ev.confusion && ev.confusion.length === K * K
        ? Array.from({ length: K }, (_, r) => ev.confusion!.slice(r * K, (r + 1) * K)) : null;
      final = { step, miou: ev.miou, perClassIou: iou, confusion: conf };
      return;
    }
    const m: MetricRow = { step, lr: row.lr as number, seg: row.seg as number };
    for (const k of CURVE_KEYS) if (typeof row[k] === 'number') m[k] = row[k];
    metrics.push(m);
    if (typeof row.seconds === 'number') seconds += row.seconds;
  });
  return { dir: abs, method: String(config.method ?? 'clan'), seed: Number(config.seed ?? 0), iters: Number(config.iters ?? 0), config,
    metrics, evals, final, classNames, palette, checkpoint: ckpt, seconds };
}

function readJson(path: string): Record<string, unknown> {
  if (!existsSync(path)) return {};
  try { return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>; } catch { return {}; }
}

export interface RunsReportOptions {
  title?: string;
  samples?: number;      // target-validation images shown with each method's prediction (default 4; 0: none)
  notes?: string[];
  log?: (line: string) => void;
}

/** Groups runs that differ only in seed (machine settings, --init file) into one method, in the order first seen. */
export function groupRuns(runs: readonly RunRecord[]): { key: string; label: string; runs: RunRecord[] }[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of runs) {
    // Seeds of one setting: the seed, machine settings and the start file (a shared start is one per seed) may differ.
    // (a self-training round's target is that seed's pseudo-label folder: the same setting for every seed)
    const { seed: _s, threads: _t, workers: _w, device: _d, init, target, ...rest } = withDefaults(r.config);
    const t = target as { data?: string } | undefined;
    const id = JSON.stringify({ ...rest, init: init !== undefined, target: t?.data?.startsWith('pseudo:') ? { ...t, data: 'pseudo' } : t });
    groups.set(id, [...(groups.get(id) ?? []), r]);
  }
  const list = [...groups.values()];
  const perMethod = new Map<string, number>();
  for (const g of list) perMethod.set(g[0]!.method, (perMethod.get(g[0]!.method) ?? 0) + 1);
  const root = commonParent(runs.map((r) => r.dir));
  const used = new Map<string, number>();
  return list.map((g) => {
    const entry = METHODS.has(g[0]!.method) ? METHODS.get(g[0]!.method) : null;
    let key = entry?.key ?? g[0]!.method.replace(/[^a-z0-9]+/gi, '_');
    let label = entry?.label ?? g[0]!.method;
    if (perMethod.get(g[0]!.method)! > 1) { // the same method with other settings: tell them apart by folder
      const n = (used.get(key) ?? 0) + 1;
      used.set(key, n);
      label = `${label} (${relative(root, g[0]!.dir) || basename(g[0]!.dir)})`;
      key = `${key}_${n}`;
    }
    return { key, label, runs: [...g].sort((a, b) => a.seed - b.seed) };
  });
}

/** The config with the schema's defaults filled in: a key added to the schema later does not split two runs. */
function withDefaults(c: Record<string, unknown>): Record<string, unknown> {
  try { return validate(c, 'config') as unknown as Record<string, unknown>; } catch { return c; }
}

function commonParent(dirs: readonly string[]): string {
  let p = dirname(dirs[0]!);
  while (!dirs.every((d) => d === p || d.startsWith(p.endsWith('/') ? p : p + '/')) && p !== dirname(p)) p = dirname(p);
  return p;
}

/** Mean and sample standard deviation (0 for one value): how the report and the demo summarise seeds. */
export function meanStd(xs: readonly number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

/** Per-class IoU of the runs' last evaluations, each class averaged over the runs where it was present (null: none). */
export function meanPerClassIou(runs: readonly RunRecord[], K: number): (number | null)[] {
  return Array.from({ length: K }, (_, c) => {
    const v = runs.map((r) => r.final?.perClassIou[c]).filter((x): x is number => typeof x === 'number');
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  });
}

/** The report page's data for a set of runs (which must share their class list). */
export function runsReportData(runs: readonly RunRecord[], o: RunsReportOptions = {}): ReportData {
  if (runs.length === 0) throw new DataError('report: no runs given');
  const classNames = runs[0]!.classNames;
  for (const r of runs) {
    if (r.classNames.join('\u0000') !== classNames.join('\u0000')) throw new DataError(`report: ${r.dir} has other classes than ${runs[0]!.dir}; runs compared in one report must share them`);
  }
  const groups = groupRuns(runs);
  const methods: MethodResult[] = groups.map((g) => {
    const done = g.runs.filter((r) => r.final);
    const mious = done.map((r) => r.final!.miou);
    const [mean, std] = mious.length ? meanStd(mious) : [0, 0];
    const perClassIou = meanPerClassIou(done, classNames.length);
    return { key: g.key, label: g.label, metrics: g.runs[0]!.metrics,
      evals: g.runs.flatMap((r, seed) => r.evals.map((e) => ({ ...e, seed }))), perClassIou, miouMean: mean, miouStd: std,
      seeds: done.length || 1, ...(done.length > 1 ? { perSeed: mious } : {}),
      iters: g.runs[0]!.iters, seconds: g.runs.reduce((a, r) => a + r.seconds, 0) / g.runs.length };
  });
  const last = groups[groups.length - 1]!;
  const conf = last.runs[0]!.final?.confusion;
  const samples = o.samples ?? 4;
  const sampled = samples > 0 ? buildSamples(groups.map((g) => g.runs[0]!), samples, o.log) : null;
  return {
    title: o.title ?? (groups.length === 1 ? `${last.label} — ${basename(last.runs[0]!.dir)}` : `${groups.length} methods compared (${runs.length} runs)`),
    classNames, methods, ...(conf ? { confusion: { method: last.key, matrix: conf } } : {}),
    samples: sampled?.samples ?? [],
    ...(sampled ? { disagreementRange: [0, sampled.mMax] as [number, number], disagreementOf: last.key } : {}),
    ...(runs[0]!.palette ? { palette: runs[0]!.palette } : {}),
    notes: [...(o.notes ?? []), ...runs.map((r) => `${r.method} seed ${r.seed}: ${r.dir}${r.checkpoint ? ` (checkpoint ${basename(r.checkpoint)})` : ''}`)],
  };
}

/**
 * Sample rows: the first `n` images of the first run's target-validation split, each method's prediction from its
 * newest checkpoint, and the last method's C1/C2 disagreement M on one colour scale shared by the rows.
 */
function buildSamples(firstRuns: readonly RunRecord[], n: number, log?: (l: string) => void): { samples: Sample[]; mMax: number } | null {
  const tv = firstRuns[0]!.config.targetVal as { data?: string } | undefined;
  if (!tv?.data || firstRuns.some((r) => !r.checkpoint)) return null;
  const val = openDataset(tv.data, { labels: 'required', ...(log ? { warn: log } : {}) });
  const models = firstRuns.map((r) => loadInferenceModel(r.checkpoint!));
  const samples: Sample[] = [];
  const maps: { m: Float32Array; w: number; h: number; up: number }[] = [];
  try {
    for (let i = 0; i < Math.min(n, val.length); i++) {
      const s = val.load(i);
      const { width: w, height: h } = s.image;
      const up = Math.max(1, Math.min(4, Math.floor(256 / Math.max(w, h)))); // small scenes shown larger, pixels kept sharp
      const png = (rgb: Uint8Array) => encodePng(upscale(rgb, w, h, 3, up), w * up, h * up);
      const preds = models.map((m) => predictImage(m, s.image, s.name));
      const pal = models[0]!.palette;
      samples.push({ name: s.name, image: png(s.image.data), gt: png(colorize(s.label!.data, w, h, pal, [255, 255, 255])),
        predictions: preds.map((p) => png(colorize(p.label, w, h, pal))) });
      maps.push({ m: preds[preds.length - 1]!.disagreement, w, h, up });
    }
  } finally {
    for (const m of models) m.G.dispose();
  }
  let mMax = 1e-6;
  for (const { m } of maps) for (const v of m) if (v > mMax) mMax = v;
  maps.forEach(({ m, w, h, up }, i) => {
    samples[i]!.disagreement = encodePng(upscale(heatmap(m, w, h, { max: mMax }), w, h, 3, up), w * up, h * up);
  });
  return { samples, mMax };
}

/** One validation image as a strip [image | ground truth | prediction] (RGB, 3·W × H): TensorBoard's sample images. */
export function predictionStrip(m: InferenceModel,
  s: { name: string; image: RgbImage; label?: { data: Uint8Array } | null }): { rgb: Uint8Array; width: number; height: number } {
  const { width: w, height: h } = s.image;
  const p = predictImage(m, s.image, s.name);
  const parts = [s.image.data, s.label ? colorize(s.label.data, w, h, m.palette, [255, 255, 255]) : new Uint8Array(w * h * 3),
    colorize(p.label, w, h, m.palette)];
  const rgb = new Uint8Array(3 * w * h * 3);
  for (let y = 0; y < h; y++) parts.forEach((part, k) => rgb.set(part.subarray(y * w * 3, (y + 1) * w * 3), (y * 3 * w + k * w) * 3));
  return { rgb, width: 3 * w, height: h };
}

/** Reads the runs and writes their report to `path` (atomically). */
export async function writeRunsReport(path: string, dirs: readonly string[], o: RunsReportOptions = {}): Promise<ReportData> {
  const data = runsReportData(dirs.map(readRun), o);
  await writeReport(path, data);
  return data;
}
