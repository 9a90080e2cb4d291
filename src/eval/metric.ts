// mIoU as CLAN_iou.py / AdaptSegNet compute_iou.py / ADVENT (docs/method.md §5.3), in mmseg IoUMetric style:
// ONE K×K confusion matrix accumulated over the whole evaluation set (dataset-level, not per-image mean),
// rows = ground truth, columns = prediction; pixels with gt outside [0, K) (255 = ignore) are skipped.
// IoU_c = diag / (rowsum + colsum − diag), NaN where class c is absent from both gt and prediction;
// mIoU = nanmean over the protocol's class subset (19 Cityscapes / 16 or 13 SYNTHIA, §5.2), as fractions.
// Beside IoU, what mmseg's IoUMetric prints: aAcc = diag sum / all counted pixels, per-class Acc_c = diag / rowsum
// (recall; NaN where c is absent from gt), mAcc = nanmean of Acc over the same classes as mIoU.
import { DataError } from '../util/errors.js';

export interface IoUResult {
  /** Per-class IoU for all K classes, fractions; NaN where the class never occurs in gt or prediction. */
  iou: Float64Array;
  /** Class indices averaged into `miou`. */
  classes: readonly number[];
  /** nanmean of iou over `classes` (fraction); NaN if all of them are NaN. */
  miou: number;
  /** Overall pixel accuracy over counted pixels (fraction): mmseg's aAcc, `aacc` in `clan eval --json`. */
  aacc: number;
  /** @deprecated The same value as `aacc` (the name `clan eval --json` and mmseg use). */
  accuracy: number;
  /** Per-class pixel accuracy diag / rowsum for all K classes (fractions); NaN where the class is absent from gt. */
  acc: Float64Array;
  /** nanmean of acc over `classes` (fraction): mmseg's mAcc; NaN if all of them are NaN. */
  macc: number;
  /** Number of counted (non-ignored) pixels. */
  pixels: number;
}

export class IoUMetric {
  /** [K, K] row-major counts, hist[gt * K + pred]. Float64 so counts stay exact far beyond 2^32. */
  readonly hist: Float64Array;

  constructor(readonly numClasses = 19) {
    if (!(Number.isInteger(numClasses) && numClasses >= 1 && numClasses <= 255)) {
      throw new RangeError(`IoUMetric: numClasses must be an integer in [1, 255], got ${numClasses}`);
    }
    this.hist = new Float64Array(numClasses * numClasses);
  }

  /** fast_hist: adds one image. pred and gt are [H, W] flattened, same length. */
  process(pred: Uint8Array | Int32Array, gt: Uint8Array): void {
    const K = this.numClasses;
    if (pred.length !== gt.length) {
      throw new DataError(`IoUMetric.process: prediction has ${pred.length} pixels but ground truth has ${gt.length}; ` +
        'upsample the prediction to the label size first');
    }
    const h = this.hist;
    for (let i = 0; i < gt.length; i++) {
      const g = gt[i]!;
      if (g >= K) continue; // 255 ignore (and any id outside [0, K), as fast_hist's mask does)
      const p = pred[i]!;
      if (p < 0 || p >= K) throw new DataError(`IoUMetric.process: predicted class ${p} at pixel ${i} is outside [0, ${K})`);
      h[g * K + p]!++;
    }
  }

  /** Adds a [K·K] count vector hist[gt·K + pred] (e.g. counted on a GPU). */
  addCounts(counts: BigInt64Array | Float64Array): void {
    if (counts.length !== this.hist.length) throw new RangeError(`IoUMetric.addCounts: ${counts.length} counts for ${this.numClasses} classes (expected ${this.hist.length})`);
    for (let i = 0; i < counts.length; i++) this.hist[i]! += Number(counts[i]!);
  }

  /** Adds another metric's counts (e.g. from a worker). */
  merge(other: IoUMetric): void {
    if (other.numClasses !== this.numClasses) throw new RangeError(`IoUMetric.merge: ${other.numClasses} vs ${this.numClasses} classes`);
    for (let i = 0; i < this.hist.length; i++) this.hist[i]! += other.hist[i]!;
  }

  reset(): void { this.hist.fill(0); }

  /** IoU per class and mIoU over `classes` (default: all K). */
  compute(classes: readonly number[] = Array.from({ length: this.numClasses }, (_, i) => i)): IoUResult {
    const K = this.numClasses, h = this.hist;
    const iou = new Float64Array(K), acc = new Float64Array(K);
    let diagSum = 0, total = 0;
    for (let c = 0; c < K; c++) {
      let row = 0, col = 0;
      for (let j = 0; j < K; j++) { row += h[c * K + j]!; col += h[j * K + c]!; }
      const d = h[c * K + c]!;
      const union = row + col - d;
      iou[c] = union === 0 ? NaN : d / union; // numpy: 0/0 → nan
      acc[c] = row === 0 ? NaN : d / row;
      diagSum += d; total += row;
    }
    for (const c of classes) if (!(Number.isInteger(c) && c >= 0 && c < K)) throw new RangeError(`IoUMetric.compute: class ${c} outside [0, ${K})`);
    const nanMean = (a: Float64Array): number => {
      const vals = classes.map((c) => a[c]!).filter((v) => !Number.isNaN(v));
      return vals.length === 0 ? NaN : vals.reduce((x, y) => x + y, 0) / vals.length;
    };
    const aacc = total === 0 ? NaN : diagSum / total;
    return { iou, classes, miou: nanMean(iou), aacc, accuracy: aacc, acc, macc: nanMean(acc), pixels: total };
  }
}

/** Percent with two decimals as the reference prints (round(x·100, 2)); NaN → 'nan'. */
export function pct(x: number): string {
  return Number.isNaN(x) ? 'nan' : (x * 100).toFixed(2);
}

/**
 * A plain-text table as mmseg prints it: one row per class in `r.classes` with IoU and Acc (percent), then the
 * summary, each value in its own labelled row: mIoU and mAcc (over those classes, said in the row), aAcc (over every
 * counted pixel).
 * `caption` (e.g. the dataset, protocol and image count) is printed above the table when given.
 */
export function formatIoU(r: IoUResult, classNames: readonly string[], caption?: string): string {
  const names = r.classes.map((c) => classNames[c] ?? `class ${c}`);
  const over = `over ${r.classes.length} class${r.classes.length === 1 ? '' : 'es'}`;
  const width = Math.max(8, ...names.map((n) => n.length));
  const line = (a: string, b: string, c: string, note = ''): string => `${a.padEnd(width)}  ${b.padStart(6)}  ${c.padStart(6)}${note ? `  ${note}` : ''}`.trimEnd();
  const rule = '-'.repeat(width + 16);
  const rows = [...(caption ? [caption] : []), line('class', 'IoU', 'Acc'), rule];
  r.classes.forEach((c, i) => rows.push(line(names[i]!, pct(r.iou[c]!), pct(r.acc[c]!))));
  rows.push(rule, line('mIoU', pct(r.miou), '', over), line('mAcc', '', pct(r.macc), over), line('aAcc', '', pct(r.aacc)));
  return rows.join('\n');
}

/**
 * Classes averaged into mIoU and mAcc: 'all' (every class of the dataset, the default), 19 (GTA5's name for the same:
 * every class), 16 or 13 (the SYNTHIA subsets of the 19 Cityscapes classes).
 */
export type Protocol = 'all' | 19 | 16 | 13;

export interface EvalResult extends IoUResult { images: number; protocol: Protocol; confusion: Float64Array }
