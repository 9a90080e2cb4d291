// Evaluation exactly as the papers (docs/method.md §5.3): inputs at the eval size, logits of C1 + C2 upsampled
// (bilinear, align_corners) to the full label size, argmax, ONE confusion matrix over the whole set, IoU per class,
// mIoU = nan-mean over the protocol's classes (19 / 16 / 13).
import * as torch from '../torch/index.js';
import { predictLogits, type Segmentor } from '../models/segmentor.js';
import type { Dataset } from '../data/dataset.js';
import { Loader } from '../data/loader.js';
import { EVAL_SUBSETS } from '../data/labels.js';
import { IoUMetric, type IoUResult } from './metric.js';
import { DataError } from '../util/errors.js';
import { nextTurn } from '../util/tick.js';

export type Protocol = 19 | 16 | 13;

/** Class indices averaged into mIoU for a protocol; 16/13 are the SYNTHIA subsets of the 19 Cityscapes classes. */
export function protocolClasses(protocol: Protocol, numClasses: number): readonly number[] {
  if (protocol === 16) return EVAL_SUBSETS.synthia16;
  if (protocol === 13) return EVAL_SUBSETS.synthia13;
  return Array.from({ length: numClasses }, (_, i) => i); // 19 = "every class" for datasets with another count
}

export interface EvalOptions {
  size: readonly [number, number];   // network input [W, H]
  protocol?: Protocol;
  normalize?: 'caffe' | 'imagenet';
  limit?: number;                    // first N images only
  workers?: number;
  /** Where the forward pass and the confusion matrix run (default cpu). */
  device?: torch.Device;
  /** Called per image with its prediction (e.g. to save PNGs or collect report samples). */
  onImage?: (name: string, pred: Uint8Array, width: number, height: number, index: number) => void;
  onProgress?: (done: number, total: number) => void;
}

export interface EvalResult extends IoUResult { images: number; protocol: Protocol; confusion: Float64Array }

export async function evaluate(G: Segmentor, ds: Dataset, o: EvalOptions): Promise<EvalResult> {
  if (!ds.hasLabels) throw new DataError(`dataset ${ds.spec} has no labels to evaluate against`);
  const wasTraining = G.training;
  G.eval();
  const n = Math.min(ds.length, o.limit ?? Infinity);
  const loader = new Loader({ dataset: ds, seed: 0, shuffle: false, epochs: 1, workers: o.workers ?? 0,
    transform: { size: o.size, normalize: o.normalize ?? 'caffe', labelSize: 'native' } });
  const metric = new IoUMetric(ds.numClasses);
  const device = o.device ?? 'cpu';
  const K = ds.numClasses;
  // Off the CPU the confusion matrix is counted on the device ([K·K] int64) and read back once at the end.
  const counts = device === 'cpu' ? null : torch.keep(torch.zeros([K * K], { dtype: 'int64', device }));
  let done = 0;
  try {
    while (done < n) {
      await nextTurn(); // lets Node-API free the last image's tensor wrappers: memory stays flat (util/tick.ts)
      const b = await loader.next();
      if (!b) break;
      const pred = torch.tidy(() => {
        const x = torch.fromTypedArray(b.images, [1, 3, b.height, b.width], 'float32', device);
        const logits = predictLogits(G, x, [b.labelHeight, b.labelWidth]);      // [1, K, h, w]
        const p = logits.argmax(1).flatten(0, 2);                                      // [h·w] int64
        if (counts) counts.add_(confusionCounts(torch.fromTypedArray(b.labels!, [b.labelHeight * b.labelWidth], 'uint8', device), p, K));
        return counts && !o.onImage ? null : p.to('uint8').toTypedArray<'uint8'>(); // [h, w] on the host only when needed
      });
      if (pred) {
        if (!counts) metric.process(pred, b.labels!);
        o.onImage?.(b.names[0]!, pred, b.labelWidth, b.labelHeight, b.indices[0]!);
      }
      done++;
      o.onProgress?.(done, n);
    }
    if (counts) metric.addCounts(counts.toTypedArray<'int64'>());
  } finally {
    counts?.dispose();
    await loader.close();
    if (wasTraining) G.train();
  }
  const protocol = o.protocol ?? 19;
  const r = metric.compute(protocolClasses(protocol, ds.numClasses));
  return { ...r, images: done, protocol, confusion: metric.hist.slice() };
}

/**
 * fast_hist on tensors: gt [P] uint8/int64 (ids ≥ K, e.g. 255, ignored), pred [P] int64 → [K·K] int64 counts at
 * gt·K + pred, on the tensors' device. Equal to IoUMetric.process (tested), without the trip to the host.
 */
export function confusionCounts(gt: torch.Tensor, pred: torch.Tensor, K: number): torch.Tensor {
  return torch.tidy(() => {
    const g = gt.to('int64');
    return torch.F.bincount(g.mul(K).add(pred).maskedSelect(g.lt(K)), K * K);
  });
}

/** Per-class IoU by class name (fractions; null for classes absent from ground truth and prediction), for JSON.
 * Key order is JavaScript's: integer-like names ('0'…'9') come first; `perClassMetrics` keeps the class order. */
export function perClassIou(r: IoUResult, names: readonly string[]): Record<string, number | null> {
  return Object.fromEntries(names.map((n, i) => [n, Number.isNaN(r.iou[i]!) ? null : r.iou[i]!]));
}

/** One class's row of `clan eval --json`'s per_class (fractions; null where the value is NaN). */
export interface ClassMetrics { class: string; iou: number | null; acc: number | null }

/** IoU and Acc of every class as a list in the dataset's class order (an object would reorder integer-like names). */
export function perClassMetrics(r: IoUResult, names: readonly string[]): ClassMetrics[] {
  const num = (v: number): number | null => (Number.isNaN(v) ? null : v);
  return names.map((n, i) => ({ class: n, iou: num(r.iou[i]!), acc: num(r.acc[i]!) }));
}
