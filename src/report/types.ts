// The plain-data input of the report (what training and evaluation hand over), and its validation.
// Fractions stay fractions here (IoU 0.432, not 43.2); only the HTML formats them as percent.
import { DataError } from '../util/errors.js';
import type { PngBytes, Rgb } from './png.js';

/** One logged training step. Losses a method does not have (source-only: adv, weight, d_s, d_t) are left out. */
export interface MetricRow {
  step: number;
  lr: number;
  seg: number;     // segmentation (focal) loss on source, docs/method.md §2.1
  adv?: number;    // generator adversarial loss on target, §2.5
  weight?: number; // weight-discrepancy loss (cos(W5, W6) + 1)·…, §2.2
  d_s?: number;    // discriminator loss on source, §2.6
  d_t?: number;    // discriminator loss on target, §2.6
  m?: number;      // mean of the disagreement map M = 1 − cos(p1, p2) over the target batch, §2.3
}

export interface MethodResult {
  key: string;                      // 'source_only' | 'adversarial' | 'clan' | any other method name
  label: string;                    // shown in legends and tables
  metrics: MetricRow[];
  evals: { step: number; miou: number; seed?: number }[]; // target mIoU (fraction) at each checkpoint; seed 0 if absent
  perClassIou: (number | null)[];   // fraction per class; null = class absent from the evaluation set
  miouMean: number;                 // fraction, mean over seeds
  miouStd: number;                  // fraction, std over seeds (0 for one seed)
  seeds: number;
  perSeed?: number[];               // fraction per seed, in seed order (shown when there are several)
  iters: number;
  seconds: number;                  // training wall time
}

export interface Sample {
  name: string;
  image: PngBytes;          // target image
  gt: PngBytes;             // colourised ground truth
  predictions: PngBytes[];  // colourised prediction of each method, in `ReportData.methods` order
  disagreement?: PngBytes;  // heat-map of M = 1 − cos(p1, p2) of `ReportData.disagreementOf`, docs/method.md §2.3
}

export interface ReportData {
  title: string;
  classNames: string[];
  methods: MethodResult[];
  confusion?: { method: string; matrix: number[][] }; // method key; K×K counts, rows = ground truth
  samples: Sample[];
  palette?: Rgb[];                        // class colours, for the legend under the samples
  disagreementOf?: string;                // method key whose M map the samples show (default: the last method)
  disagreementRange?: [number, number];   // values at the two ends of the M heat-map (default [0, 1])
  notes?: string[];
}

export const LOSS_KEYS = ['seg', 'adv', 'weight', 'd_s', 'd_t'] as const;
/** Per-step curves drawn in the Training section: the five losses, then mean M (what λ_local multiplies). */
export const CURVE_KEYS = [...LOSS_KEYS, 'm'] as const;
export type CurveKey = (typeof CURVE_KEYS)[number];

/** Throws a DataError naming the first field that does not fit (sizes, duplicate keys, fractions out of range). */
export function validateReportData(d: ReportData): void {
  const K = d.classNames.length;
  if (K === 0) fail('classNames', 'is empty; expected the class names in label order');
  if (d.methods.length === 0) fail('methods', 'is empty; expected at least one method');
  const keys = new Set<string>(), labels = new Set<string>();
  d.methods.forEach((m, i) => {
    const at = `methods[${i}] (${m.key})`;
    if (keys.has(m.key)) fail(`${at}.key`, 'is repeated; expected unique method keys');
    if (labels.has(m.label)) fail(`${at}.label`, 'is repeated; expected unique labels');
    keys.add(m.key); labels.add(m.label);
    if (m.perClassIou.length !== K) fail(`${at}.perClassIou`, `has ${m.perClassIou.length} entries; expected ${K} (one per class)`);
    m.perClassIou.forEach((v, k) => { if (v !== null && !(v >= 0 && v <= 1)) fail(`${at}.perClassIou[${k}]`, `= ${v}; expected a fraction in [0, 1] or null`); });
    m.evals.forEach((e, k) => { if (!(e.miou >= 0 && e.miou <= 1)) fail(`${at}.evals[${k}].miou`, `= ${e.miou}; expected a fraction in [0, 1]`); });
    if (!(m.miouMean >= 0 && m.miouMean <= 1)) fail(`${at}.miouMean`, `= ${m.miouMean}; expected a fraction in [0, 1]`);
    if (m.perSeed && m.perSeed.length !== m.seeds) fail(`${at}.perSeed`, `has ${m.perSeed.length} entries; expected ${m.seeds} (seeds)`);
    m.perSeed?.forEach((v, k) => { if (!(v >= 0 && v <= 1)) fail(`${at}.perSeed[${k}]`, `= ${v}; expected a fraction in [0, 1]`); });
  });
  if (d.confusion) {
    const { method, matrix } = d.confusion;
    if (!keys.has(method)) fail('confusion.method', `'${method}' is not a method key; expected one of: ${[...keys].join(', ')}`);
    if (matrix.length !== K || matrix.some((r) => r.length !== K)) fail('confusion.matrix', `is not ${K}×${K}`);
  }
  d.samples.forEach((s, i) => {
    if (s.predictions.length !== d.methods.length) fail(`samples[${i}].predictions`, `has ${s.predictions.length} images; expected ${d.methods.length} (one per method)`);
  });
  if (d.disagreementOf !== undefined && !keys.has(d.disagreementOf)) fail('disagreementOf', `'${d.disagreementOf}' is not a method key; expected one of: ${[...keys].join(', ')}`);
  if (d.palette && d.palette.length < K) fail('palette', `has ${d.palette.length} colours; expected ${K}`);
}

function fail(field: string, what: string): never {
  throw new DataError(`report data: ${field} ${what}`);
}
