// An evaluation's numbers in the forms users read: `clan eval --json` and the API share one shape and one set of
// names (mmsegmentation's: aAcc, mIoU, mAcc, per-class IoU and Acc), the confusion matrix as rows of counts in JSON
// and as CSV. Fractions throughout; null where a value is NaN (a class absent from the labels and the prediction).
import type { EvalResult, IoUResult, Protocol } from './metric.js';

/** One class's row of `per_class` (fractions; null where the value is NaN). */
export interface ClassMetrics { class: string; iou: number | null; acc: number | null }

/**
 * `clan eval --json` and `JSON.stringify` of the API's evaluation. Classes in the dataset's order everywhere.
 * miou and macc average the protocol's `classes`; aacc counts every labelled pixel.
 */
export interface EvalJson {
  miou: number | null;
  macc: number | null;
  aacc: number | null;
  per_class: ClassMetrics[];
  protocol: Protocol;
  /** The classes averaged into miou and macc (all of them for protocol 19). */
  classes: string[];
  images: number;
  /** Labelled pixels counted (ignore label and ids outside the classes excluded). */
  pixels: number;
  /** [K][K] pixel counts: row = ground-truth class, column = predicted class, both in per_class's order. */
  confusion: number[][];
}

const num = (v: number): number | null => (Number.isNaN(v) ? null : v);

/** IoU and Acc of every class as a list in the dataset's class order (an object would reorder integer-like names). */
export function perClassMetrics(r: IoUResult, names: readonly string[]): ClassMetrics[] {
  return names.map((n, i) => ({ class: n, iou: num(r.iou[i]!), acc: num(r.acc[i]!) }));
}

/** The flat [K·K] confusion (row-major, hist[gt·K + pred]) as K rows of K counts. */
export function confusionRows(r: Pick<EvalResult, 'confusion'>, k: number): number[][] {
  if (r.confusion.length !== k * k) throw new RangeError(`confusionRows: ${r.confusion.length} counts are not ${k}×${k}`);
  return Array.from({ length: k }, (_, g) => Array.from(r.confusion.subarray(g * k, (g + 1) * k)));
}

/** The JSON shape of an evaluation (EvalJson); `names` are the class names in class order. */
export function evaluationJson(r: EvalResult, names: readonly string[]): EvalJson {
  checkNames(r, names);
  return { miou: num(r.miou), macc: num(r.macc), aacc: num(r.aacc), per_class: perClassMetrics(r, names), protocol: r.protocol,
    classes: r.classes.map((c) => names[c]!), images: r.images, pixels: r.pixels, confusion: confusionRows(r, names.length) };
}

/** A CSV field: quoted when it holds a comma, quote or line break (RFC 4180); a leading =+-@ is defused for spreadsheets. */
function field(s: string): string {
  const t = /^[=+\-@]/.test(s) ? `'${s}` : s;
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** The confusion matrix as CSV: header `gt\pred,<classes…>`, then one row per ground-truth class of pixel counts. */
export function confusionCsv(r: EvalResult, names: readonly string[]): string {
  checkNames(r, names);
  const rows = confusionRows(r, names.length);
  return [['gt\\pred', ...names].map(field).join(','), ...rows.map((row, g) => [field(names[g]!), ...row.map(String)].join(','))].join('\n') + '\n';
}

/** Per-class metrics as CSV: `class,iou,acc` (fractions, empty where NaN), then the rows mIoU, mAcc, aAcc. */
export function metricsCsv(r: EvalResult, names: readonly string[]): string {
  checkNames(r, names);
  const v = (x: number): string => (Number.isNaN(x) ? '' : String(x));
  const rows = names.map((n, i) => `${field(n)},${v(r.iou[i]!)},${v(r.acc[i]!)}`);
  return ['class,iou,acc', ...rows, `mIoU,${v(r.miou)},`, `mAcc,,${v(r.macc)}`, `aAcc,,${v(r.aacc)}`].join('\n') + '\n';
}

function checkNames(r: EvalResult, names: readonly string[]): void {
  if (names.length !== r.iou.length) throw new RangeError(`${names.length} class names for an evaluation of ${r.iou.length} classes`);
}
