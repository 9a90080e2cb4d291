// Evaluation exactly as the papers (docs/method.md §5.3): inputs at the eval size, logits of C1 + C2 upsampled
// (bilinear, align_corners) to the full label size, argmax, ONE confusion matrix over the whole set, IoU per class,
// mIoU = nan-mean over the protocol's classes (19 / 16 / 13). Other inference modes (sliding windows, multi-scale +
// flip as mmsegmentation's test options) go through infer/inference.ts, the same path `clan predict` takes.
import * as torch from '../torch/index.js';
import type { Segmentor } from '../models/segmentor.js';
import type { Dataset } from '../data/dataset.js';
import { Loader } from '../data/loader.js';
import { CITYSCAPES_CLASSES, EVAL_SUBSETS } from '../data/labels.js';
import { checkInferenceSpec, inferLabels, isPlainWhole, wholeLabels, type InferenceSpec } from '../infer/inference.js';
import { IoUMetric, type EvalResult, type IoUResult, type Protocol } from './metric.js';
export type { EvalResult, Protocol } from './metric.js';
import { DataError, UsageError } from '../util/errors.js';
import { nextTurn } from '../util/tick.js';

export { perClassMetrics, type ClassMetrics } from './results.js';


/** Class indices averaged into mIoU for a protocol; 16/13 are the SYNTHIA subsets of the 19 Cityscapes classes. */
export function protocolClasses(protocol: Protocol, numClasses: number): readonly number[] {
  if (protocol === 16) return EVAL_SUBSETS.synthia16;
  if (protocol === 13) return EVAL_SUBSETS.synthia13;
  return Array.from({ length: numClasses }, (_, i) => i); // 'all', and 19: every class of the dataset
}

/**
 * Checks a protocol against the dataset before any work (one line naming the flag, the dataset's classes and what is
 * expected): 'all' (and 19, GTA5's name for it) averages every class of any dataset; 16 and 13 are subsets of the 19
 * Cityscapes classes (§5.2), so they need a dataset whose classes are exactly those, in trainId order.
 */
export function checkProtocol(protocol: Protocol, ds: Pick<Dataset, 'spec' | 'numClasses' | 'classNames'>, flag = '--protocol'): void {
  if (protocol !== 'all' && protocol !== 19 && protocol !== 16 && protocol !== 13) throw new UsageError(`${flag} expects all, 19, 16 or 13, got ${String(protocol)}`);
  if (protocol === 'all' || protocol === 19) return;
  const names = ds.classNames;
  if (names.length === 19 && names.every((n, i) => n === CITYSCAPES_CLASSES[i])) return;
  const shown = names.slice(0, 4).join(', ') + (names.length > 4 ? ', …' : '');
  throw new UsageError(`${flag} ${protocol} averages a SYNTHIA subset of the 19 Cityscapes classes (road, sidewalk, building, …); ` +
    `dataset ${ds.spec} has ${ds.numClasses} other classes (${shown}): use ${flag} all (all of its classes)`);
}

export interface EvalOptions {
  size: readonly [number, number];   // network input [W, H]
  protocol?: Protocol;
  normalize?: 'caffe' | 'imagenet';
  limit?: number;                    // first N images only
  workers?: number;
  /** Where the forward pass and the confusion matrix run (default cpu). */
  device?: torch.Device;
  /** Sliding windows and/or multi-scale + flip (infer/inference.ts); default: one whole pass at `size`. */
  inference?: InferenceSpec;
  /** Called per image with its prediction (e.g. to save PNGs or collect report samples). */
  onImage?: (name: string, pred: Uint8Array, width: number, height: number, index: number) => void;
  onProgress?: (done: number, total: number) => void;
  /** A sample that cannot be read (damaged file, label value outside the classes) is skipped and passed here instead of
   *  stopping the evaluation (clan eval --skip-bad); absent: it stops it. */
  onBadSample?: (name: string, message: string) => void;
}


/** One image to score: its labels [height, width] and a synchronous prediction, [h·w] int64 on the device. */
interface EvalImage { name: string; index: number; labels: Uint8Array; width: number; height: number; predict(): torch.Tensor }
interface EvalImages { next(): Promise<EvalImage | null>; close(): Promise<void> }

export async function evaluate(G: Segmentor, ds: Dataset, o: EvalOptions): Promise<EvalResult> {
  if (!ds.hasLabels) throw new DataError(`dataset ${ds.spec} has no labels to evaluate against`);
  const protocol = o.protocol ?? 'all';
  checkProtocol(protocol, ds);                          // before any image is read: a wrong protocol costs nothing
  if (o.inference) checkInferenceSpec(o.inference);
  const wasTraining = G.training;
  G.eval();
  const n = Math.min(ds.length, o.limit ?? Infinity);
  const device = o.device ?? 'cpu';
  const images = isPlainWhole(o.inference) ? loaderImages(G, ds, o, device) : sampleImages(G, ds, o, o.inference!);
  const metric = new IoUMetric(ds.numClasses);
  const K = ds.numClasses;
  // Off the CPU the confusion matrix is counted on the device ([K·K] int64) and read back once at the end.
  const counts = device === 'cpu' ? null : torch.keep(torch.zeros([K * K], { dtype: 'int64', device }));
  let done = 0;
  try {
    while (done < n) {
      await nextTurn(); // lets Node-API free the last image's tensor wrappers: memory stays flat (util/tick.ts)
      const im = await images.next();
      if (!im) break;
      const pred = torch.tidy(() => {
        const p = im.predict();                                                        // [h·w] int64
        if (counts) counts.add_(confusionCounts(torch.fromTypedArray(im.labels, [im.height * im.width], 'uint8', device), p, K));
        return counts && !o.onImage ? null : p.to('uint8').toTypedArray<'uint8'>(); // [h, w] on the host only when needed
      });
      if (pred) {
        if (!counts) metric.process(pred, im.labels);
        o.onImage?.(im.name, pred, im.width, im.height, im.index);
      }
      done++;
      o.onProgress?.(done, n);
    }
    if (counts) metric.addCounts(counts.toTypedArray<'int64'>());
  } finally {
    counts?.dispose();
    await images.close();
    if (wasTraining) G.train();
  }
  const r = metric.compute(protocolClasses(protocol, ds.numClasses));
  return { ...r, images: done, protocol, confusion: metric.hist.slice() };
}

/** Today's path: the loader resizes each image to `size` (in worker threads); one whole pass, logits to the label size. */
function loaderImages(G: Segmentor, ds: Dataset, o: EvalOptions, device: torch.Device): EvalImages {
  const loader = new Loader({ dataset: ds, seed: 0, shuffle: false, epochs: 1, workers: o.workers ?? 0,
    transform: { size: o.size, normalize: o.normalize ?? 'caffe', labelSize: 'native' }, ...(o.onBadSample ? { onBadSample: o.onBadSample } : {}) });
  return {
    async next() {
      const b = await loader.next();
      if (!b) return null;
      const predict = () => {
        const x = torch.fromTypedArray(b.images, [1, 3, b.height, b.width], 'float32', device);
        return wholeLabels(G, x, [b.labelHeight, b.labelWidth]);   // [1, K, h, w] → [h·w] (in column bands when large)
      };
      return { name: b.names[0]!, index: b.indices[0]!, labels: b.labels!, width: b.labelWidth, height: b.labelHeight, predict };
    },
    close: () => loader.close(),
  };
}

/** Any other inference spec: each sample read whole in this thread (its own size decides mmseg's pass sizes). */
function sampleImages(G: Segmentor, ds: Dataset, o: EvalOptions, spec: InferenceSpec): EvalImages {
  let i = 0;
  return {
    async next() {
      let s;
      for (;;) {
        if (i >= ds.length) return null;
        try { s = ds.load(i++); break; } catch (e) {
          if (!o.onBadSample || !(e instanceof DataError)) throw e;
          o.onBadSample(ds.name(i - 1), e.message);
        }
      }
      const l = s.label!;
      const target = { evalSize: o.size, normalize: o.normalize ?? 'caffe', out: [l.height, l.width] } as const;
      return { name: s.name, index: s.index, labels: l.data, width: l.width, height: l.height,
        predict: () => inferLabels(G, s.image, spec, target) };
    },
    close: async () => {},
  };
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
