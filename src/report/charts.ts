// The report's charts: vega-lite 5 specs compiled to vega and rendered server-side to static SVG strings
// (renderer 'none', view.toSVG()), so the HTML needs no script. Every data mark carries an aria-label that starts
// with its series name and " · ", which is how tests (and screen readers) find one mark per plotted series.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { CURVE_KEYS, type CurveKey, type MethodResult, type ReportData } from './types.js';

export interface Chart {
  id: string;       // unique in the page; also prefixes the SVG's clip/gradient ids
  title: string;
  series: string[]; // the plotted series; each has ≥ 1 mark whose aria-label starts with `${series}${SEP}`
  svg: string;
  wide: boolean;    // spans the full page width
}

/** Separator between the series name and the rest of a mark's aria-label. */
export const SEP = ' · ';

// Fixed colours for the three methods of the paper (tableau10), so a method keeps its colour across charts.
const METHOD_COLORS: Record<string, string> = { source_only: '#79706e', adversarial: '#f28e2b', clan: '#4e79a7' };
const OTHER_COLORS = ['#e15759', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f'];

const CURVE_TITLES: Record<CurveKey, string> = {
  seg: 'Segmentation loss (source)', adv: 'Adversarial loss (G, target)', weight: 'Weight-discrepancy loss',
  d_s: 'Discriminator loss, source', d_t: 'Discriminator loss, target',
  m: 'C1/C2 disagreement M on target (mean)',
};

const LOG_KEYS: ReadonlySet<CurveKey> = new Set(['m']); // curves drawn on a log axis
const SMOOTH_BETA = 0.9;   // EMA factor of the bold loss lines (raw values are drawn faintly behind them)
const SMOOTH_MIN_POINTS = 30; // fewer points than this: raw line only
const SMALL = { width: 330, height: 170 }; // one small-multiple chart, px
const CELL = 22;           // confusion-matrix cell side, px

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif',
  background: 'white',
  view: { stroke: '#ddd' },
  title: { anchor: 'start', fontSize: 13, fontWeight: 600, subtitleFontSize: 11, subtitleColor: '#666', offset: 8 },
  axis: { labelFontSize: 10, titleFontSize: 11, titlePadding: 6, titleFontWeight: 500, gridColor: '#eee', domainColor: '#999', tickColor: '#999' },
  legend: { labelFontSize: 11, titleFontSize: 11, symbolStrokeWidth: 3, symbolOpacity: 1, labelLimit: 260, orient: 'top', direction: 'horizontal', title: null },
} as const;

/** Colour per method label: fixed for the known keys, then tableau10 for others. */
export function methodColors(methods: readonly Pick<MethodResult, 'key' | 'label'>[]): Map<string, string> {
  const out = new Map<string, string>();
  let k = 0;
  for (const m of methods) out.set(m.label, METHOD_COLORS[m.key] ?? OTHER_COLORS[k++ % OTHER_COLORS.length]!);
  return out;
}

/** Compiles a vega-lite spec and renders it to an SVG string. */
export async function specToSvg(spec: TopLevelSpec): Promise<string> {
  useSansTextMetrics();
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

// vega measures text with a canvas when the optional 'canvas' package is installed; without it, it guesses
// 0.8·fontSize per character, about 40% too wide for sans-serif, which leaves gaps under rotated axis labels.
// Average advance widths (em) of DejaVu Sans / Helvetica-like faces are much closer.
const NARROW = new Set("iljft.,:;'|!()[] "), WIDE = new Set('mwMW@%');

/** Estimated width in px of a single-line string in a sans-serif face. */
export function sansTextWidth(text: string, fontSize: number): number {
  let em = 0;
  for (const ch of text) em += NARROW.has(ch) ? 0.34 : WIDE.has(ch) ? 0.9 : ch >= 'A' && ch <= 'Z' ? 0.7 : ch >= '0' && ch <= '9' ? 0.66 : 0.6;
  return Math.ceil(em * fontSize);
}

type TextItem = { text?: unknown; fontSize?: number };
let textMetricsInstalled = false;
function useSansTextMetrics(): void {
  if (textMetricsInstalled) return;
  const tm = (vega as unknown as
    { textMetrics?: { width: (item: TextItem, text?: unknown) => number; canvas: (use: boolean) => void } }).textMetrics;
  if (!tm) return; // another vega build: keep its own estimate
  tm.width = (item, text) => {
    const t = text ?? item.text, size = item.fontSize ?? 11;
    const lines = Array.isArray(t) ? t.map(String) : t === undefined || t === null ? [] : [String(t)];
    return Math.max(0, ...lines.map((l) => sansTextWidth(l, size)));
  };
  textMetricsInstalled = true;
}

/** Prefixes every id="…" and url(#…) in an SVG so several SVGs can share one HTML document. */
export function scopeSvgIds(svg: string, prefix: string): string {
  return svg.replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`).replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`);
}

/** Debiased exponential moving average (as TensorBoard's smoothing slider). */
export function ema(values: readonly number[], beta = SMOOTH_BETA): number[] {
  let s = 0;
  return values.map((v, t) => { s = beta * s + (1 - beta) * v; return s / (1 - beta ** (t + 1)); });
}

/** All charts of the report, in page order. Charts with no data (e.g. no confusion matrix) are left out. */
export async function reportCharts(d: ReportData): Promise<Chart[]> {
  const colors = methodColors(d.methods);
  const specs: { id: string; title: string; series: string[]; spec: TopLevelSpec; wide: boolean }[] = [];
  for (const key of CURVE_KEYS) {
    const c = curveSpec(d.methods, key, colors);
    if (c) specs.push({ id: key === 'm' ? 'disagreement' : `loss-${key}`, title: CURVE_TITLES[key], wide: false, ...c });
  }
  const lr = lrSpec(d.methods, colors);
  if (lr) specs.push({ id: 'lr', title: 'Learning rate', wide: false, ...lr });
  const miou = miouSpec(d.methods, colors);
  if (miou) specs.push({ id: 'miou', title: 'Target mIoU over checkpoints', wide: false, ...miou });
  const bars = perClassSpec(d, colors);
  if (bars) specs.push({ id: 'per-class', title: 'Per-class IoU on target', wide: true, ...bars });
  const conf = confusionSpec(d);
  if (conf) specs.push({ id: 'confusion', title: 'Confusion matrix', wide: false, ...conf });
  const out: Chart[] = [];
  for (const s of specs) out.push({ id: s.id, title: s.title, series: s.series, wide: s.wide, svg: scopeSvgIds(await specToSvg(s.spec), `c-${s.id}`) });
  return out;
}

type Built = { series: string[]; spec: TopLevelSpec };

function colorEncoding(series: string[], colors: Map<string, string>) {
  return { field: 'series', type: 'nominal' as const, scale: { domain: series, range: series.map((s) => colors.get(s) ?? '#333') } };
}

/** One logged curve over steps, methods as colours; a method without any finite value of it is not a series. */
function curveSpec(methods: readonly MethodResult[], key: CurveKey, colors: Map<string, string>): Built | undefined {
  const rows: Record<string, unknown>[] = [];
  const series: string[] = [];
  for (const m of methods) {
    // M falls by orders of magnitude once C1 and C2 agree: a log axis (positive values only) keeps it readable.
    const pts = m.metrics.filter((r) => Number.isFinite(r[key]) && (!LOG_KEYS.has(key) || r[key]! > 0))
      .map((r) => ({ step: r.step, value: r[key]! }));
    if (pts.length === 0) continue;
    series.push(m.label);
    for (const p of pts) rows.push({ ...p, series: m.label, kind: 'raw', aria: `${m.label}${SEP}raw` });
    if (pts.length >= SMOOTH_MIN_POINTS) {
      const s = ema(pts.map((p) => p.value));
      pts.forEach((p, i) => rows.push({ step: p.step, value: s[i], series: m.label, kind: 'smooth', aria: `${m.label}${SEP}smoothed` }));
    }
  }
  if (series.length === 0) return undefined;
  return {
    series,
    spec: {
      config: CONFIG, ...SMALL,
      title: { text: CURVE_TITLES[key], subtitle: `faint: raw, bold: EMA ${SMOOTH_BETA}${LOG_KEYS.has(key) ? ', log scale' : ''}` },
      data: { values: rows },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'iteration' },
        y: { field: 'value', type: 'quantitative', title: key, scale: LOG_KEYS.has(key) ? { type: 'log' } : { zero: false } },
        color: colorEncoding(series, colors),
        description: { field: 'aria' },
      },
      layer: [
        { transform: [{ filter: "datum.kind === 'raw'" }], mark: { type: 'line', strokeWidth: 1, opacity: 0.25 } },
        { transform: [{ filter: "datum.kind === 'smooth'" }], mark: { type: 'line', strokeWidth: 2 } },
      ],
    } as TopLevelSpec,
  };
}

/** Learning rate over steps; methods with the very same schedule are drawn as one series. */
function lrSpec(methods: readonly MethodResult[], colors: Map<string, string>): Built | undefined {
  const groups: { labels: string[]; pts: { step: number; lr: number }[] }[] = [];
  for (const m of methods) {
    const pts = m.metrics.filter((r) => Number.isFinite(r.lr)).map((r) => ({ step: r.step, lr: r.lr }));
    if (pts.length === 0) continue;
    const same = groups.find((g) => g.pts.length === pts.length && g.pts.every((p, i) => p.step === pts[i]!.step && p.lr === pts[i]!.lr));
    if (same) same.labels.push(m.label); else groups.push({ labels: [m.label], pts });
  }
  if (groups.length === 0) return undefined;
  const name = (g: { labels: string[] }) => (g.labels.length === methods.length && methods.length > 1 ? 'all methods' : g.labels.join(' = '));
  const series = groups.map(name);
  const c = new Map(groups.map((g) => [name(g), groups.length === 1 ? '#333' : colors.get(g.labels[0]!) ?? '#333']));
  const rows = groups.flatMap((g) => g.pts.map((p) => ({ ...p, series: name(g), aria: `${name(g)}${SEP}lr` })));
  return {
    series,
    spec: {
      config: CONFIG, ...SMALL,
      title: { text: 'Learning rate (G, base group)', subtitle: 'warm-up, then poly 0.9' },
      data: { values: rows },
      mark: { type: 'line', strokeWidth: 2 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'iteration' },
        y: { field: 'lr', type: 'quantitative', title: 'lr', axis: { format: '.1e' } },
        color: colorEncoding(series, c),
        description: { field: 'aria' },
      },
    } as TopLevelSpec,
  };
}

/**
 * Target mIoU at each checkpoint, one line with points per method. With several seeds: the mean over seeds
 * (points) and each seed as a thin line, so the spread that the summary's ± states is visible over the run.
 */
function miouSpec(methods: readonly MethodResult[], colors: Map<string, string>): Built | undefined {
  const series: string[] = [];
  const rows: Record<string, unknown>[] = [];
  let manySeeds = false;
  for (const m of methods) {
    const pts = m.evals.filter((e) => Number.isFinite(e.miou));
    if (pts.length === 0) continue;
    series.push(m.label);
    const seeds = new Set(pts.map((e) => e.seed ?? 0));
    manySeeds ||= seeds.size > 1;
    for (const e of pts) {
      const seed = e.seed ?? 0;
      rows.push({ step: e.step, miou: e.miou, series: m.label, seed,
        aria: `${m.label}${SEP}${seeds.size > 1 ? `seed ${seed}${SEP}` : ''}step ${e.step}: ${(100 * e.miou).toFixed(2)}%` });
    }
  }
  if (series.length === 0) return undefined;
  const x = { field: 'step', type: 'quantitative', title: 'iteration', axis: { tickCount: 5 } } as const;
  const y = { field: 'miou', type: 'quantitative', title: 'mIoU', axis: { format: '.0%' }, scale: { zero: false } } as const;
  const color = colorEncoding(series, colors);
  if (!manySeeds) {
    return {
      series,
      spec: {
        config: CONFIG, ...SMALL,
        title: { text: 'Target mIoU over checkpoints', subtitle: 'one run per method' },
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 2, point: { size: 30 } },
        encoding: { x, y, color, description: { field: 'aria' } },
      } as TopLevelSpec,
    };
  }
  return {
    series,
    spec: {
      config: CONFIG, ...SMALL,
      title: { text: 'Target mIoU over checkpoints', subtitle: 'mean over seeds (points); thin lines: each seed' },
      data: { values: rows },
      layer: [
        { mark: { type: 'line', strokeWidth: 1, opacity: 0.45 }, encoding: { x, y, color, detail: { field: 'seed', type: 'nominal' }, description: { field: 'aria' } } },
        {
          transform: [
            { aggregate: [{ op: 'mean', field: 'miou', as: 'miou' }], groupby: ['step', 'series'] },
            { calculate: `datum.series + '${SEP}mean${SEP}step ' + datum.step + ': ' + format(100 * datum.miou, '.2f') + '%'`, as: 'aria' },
          ],
          mark: { type: 'line', strokeWidth: 2.5, point: { size: 30 } },
          encoding: { x, y, color, description: { field: 'aria' } },
        },
      ],
    } as TopLevelSpec,
  };
}

/** Grouped bars: class on x, one bar per method; absent classes (null) have no bar. */
function perClassSpec(d: ReportData, colors: Map<string, string>): Built | undefined {
  const series: string[] = [];
  const rows: Record<string, unknown>[] = [];
  for (const m of d.methods) {
    const pts = m.perClassIou.map((v, k) => ({ v, k })).filter((p): p is { v: number; k: number } => p.v !== null && Number.isFinite(p.v));
    if (pts.length === 0) continue;
    series.push(m.label);
    for (const { v, k } of pts) rows.push({ cls: d.classNames[k], iou: v, series: m.label, aria: `${m.label}${SEP}${d.classNames[k]}: ${(100 * v).toFixed(2)}%` });
  }
  if (series.length === 0) return undefined;
  return {
    series,
    spec: {
      config: CONFIG,
      width: Math.max(1100, d.classNames.length * series.length * 12), height: 220,
      title: { text: 'Per-class IoU on target', subtitle: 'final checkpoint; classes absent from the evaluation set have no bar' },
      data: { values: rows },
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'cls', type: 'nominal', sort: d.classNames, scale: { domain: d.classNames, paddingInner: 0.2 }, title: null, axis: { labelAngle: -35, labelFontSize: 11 } },
        xOffset: { field: 'series', sort: series },
        y: { field: 'iou', type: 'quantitative', title: 'IoU', axis: { format: '.0%' }, scale: { domain: [0, 1] } },
        color: colorEncoding(series, colors),
        description: { field: 'aria' },
      },
    } as TopLevelSpec,
  };
}

/** Row-normalised confusion matrix (rows = ground truth); rows with no pixels are left blank. */
function confusionSpec(d: ReportData): Built | undefined {
  if (!d.confusion) return undefined;
  const m = d.methods.find((x) => x.key === d.confusion!.method);
  const label = m?.label ?? d.confusion.method;
  const names = d.classNames;
  const rows: Record<string, unknown>[] = [];
  d.confusion.matrix.forEach((row, g) => {
    const total = row.reduce((a, b) => a + b, 0);
    if (!(total > 0)) return;
    row.forEach((c, p) => {
      const v = c / total;
      rows.push({ gt: names[g], pred: names[p], v, pct: v >= 0.01 ? String(Math.round(100 * v)) : '', aria: `${label}${SEP}${names[g]} → ${names[p]}: ${(100 * v).toFixed(2)}%` });
    });
  });
  if (rows.length === 0) return undefined;
  const side = names.length * CELL;
  return {
    series: [label],
    spec: {
      config: CONFIG, width: side, height: side,
      title: { text: `Confusion matrix, ${label} (target)`, subtitle: ['row-normalised: each row (ground truth) sums to 100%; numbers are percent;', 'classes without ground-truth pixels have a blank row'] },
      data: { values: rows },
      encoding: {
        x: { field: 'pred', type: 'nominal', sort: names, scale: { domain: names }, title: 'predicted', axis: { labelAngle: -45, orient: 'bottom' } },
        y: { field: 'gt', type: 'nominal', sort: names, scale: { domain: names }, title: 'ground truth' },
      },
      layer: [
        {
          mark: { type: 'rect' },
          encoding: {
            color: { field: 'v', type: 'quantitative', scale: { scheme: 'viridis', domain: [0, 1] }, legend: { format: '.0%', title: 'of row', orient: 'right', direction: 'vertical', gradientLength: side * 0.6 } },
            description: { field: 'aria' },
          },
        },
        {
          mark: { type: 'text', fontSize: 9 },
          encoding: {
            text: { field: 'pct' },
            color: { condition: { test: 'datum.v > 0.55', value: 'black' }, value: 'white' },
          },
        },
      ],
    } as TopLevelSpec,
  };
}
