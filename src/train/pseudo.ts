// One self-training round's pseudo-labels (docs/method.md §10), class-balanced as CBST (Zou et al., ECCV 2018): for
// each class c the confidence threshold τ_c keeps the top p of the target pixels predicted as c, so rare classes
// keep their share instead of being drowned by the confident frequent ones. Two passes over the target training
// set with the round's starting weights: (1) per-class confidence histograms (flat memory on any dataset size;
// 1000 bins over u = −log10(1 − conf) ∈ [0, 7], because a trained network puts most pixels above 0.99 and a
// linear [0, 1] histogram could not split them), (2) the label PNGs (data/pseudo.ts layout). Co-training: C1's labels come
// from C2's confident predictions and C2's from C1's, each head with its own thresholds. The same thresholds on
// target-val measure what the labels are worth: per-class precision of the kept pixels and their coverage.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { openDataset } from '../data/registry.js';
import type { Dataset } from '../data/dataset.js';
import { preprocess } from '../data/transforms.js';
import { PSEUDO_INDEX, pseudoLabelFile, type PseudoIndex } from '../data/pseudo.js';
import { predictHeads } from '../models/segmentor.js';
import type { InferenceModel } from '../infer/model.js';
import { encodePng } from '../report/png.js';
import { checkBudget, inferenceBytes } from '../infer/cost.js';
import { atomicWrite } from '../util/atomic.js';
import { makeDirs } from '../util/paths.js';
import { nextTurn } from '../util/tick.js';

const BINS = 1000;
const DECADES = 7;          // u = −log10(1 − conf) is clipped here (float32 resolves 1 − conf down to ~6e-8)
const IGNORE = 255;

/** Histogram bin of a confidence: uniform in −log10(1 − conf) (fine near 1, where trained networks put most pixels). */
export const binOf = (conf: number): number =>
  Math.max(0, Math.min(BINS - 1, Math.floor((-Math.log10(Math.max(1e-7, 1 - conf)) / DECADES) * BINS)));
/** The confidence at a bin's lower edge. */
export const binEdge = (b: number): number => 1 - 10 ** (-(b / BINS) * DECADES);

export interface PseudoOptions {
  target: string;                 // target training set spec
  size: [number, number];         // [W, H] the round trains at (the target size)
  portion: number;                // p: share of each class's pixels kept (CBST)
  variant: 'cotrain' | 'plain';
  round: number;
  dir: string;                    // where labels/ and pseudo.json go
  val?: { spec: string; size: [number, number]; limit?: number } | null;  // target-val, to measure the labels
  log?: (line: string) => void;
}

export interface PseudoStats {
  round: number; portion: number; variant: 'cotrain' | 'plain';
  // [view][class]: τ, the confidence a pixel needs (null: class never predicted); views = [C1, C2] or [p]
  thresholds: (number | null)[][];
  kept: number[][];                  // [half][class] pixels labelled, half 0 = labels for C1, 1 = for C2
  keptShare: number;                 // labelled share of all target pixels (both halves)
  val: { precision: (number | null)[]; meanPrecision: number; coverage: number; accuracy: number } | null;
}

/** Confidence (max probability) and class (argmax) per pixel of each view: [C1, C2] for co-training, [p] for plain. */
function views(m: InferenceModel, image: Float32Array, hw: [number, number], outHW: [number, number], variant: PseudoOptions['variant']): { conf: Float32Array; cls: Uint8Array }[] {
  return torch.tidy(() => {
    const x = torch.fromTypedArray(image, [1, 3, hw[0], hw[1]], 'float32', m.G.device);
    const { logits, x1, x2 } = predictHeads(m.G, x, outHW);
    const logitsOf = variant === 'cotrain' ? [x1, x2] : [logits];
    return logitsOf.map((l) => {
      const p = F.softmax(l, 1);
      const [conf, cls] = p.maxDim(1); // [1, h, w]
      return { conf: conf.toTypedArray<'float32'>(), cls: cls.to('uint8').toTypedArray<'uint8'>() };
    });
  });
}

/** The bin per class whose lower edge keeps at least `portion` of the class's pixels (null: class never predicted). */
export function classThresholds(hist: Float64Array, K: number, portion: number): (number | null)[] {
  return Array.from({ length: K }, (_, c) => {
    const h = hist.subarray(c * BINS, (c + 1) * BINS);
    const n = h.reduce((a, b) => a + b, 0);
    if (n === 0) return null;
    let acc = 0;
    for (let b = BINS - 1; b >= 0; b--) { acc += h[b]!; if (acc >= portion * n) return b; }
    return 0;
  });
}

/** The labels a view gives: its class where its confidence bin reaches the class's threshold bin, 255 elsewhere. */
export function keep(v: { conf: Float32Array; cls: Uint8Array }, tau: readonly (number | null)[]): Uint8Array {
  const out = new Uint8Array(v.cls.length);
  for (let i = 0; i < out.length; i++) {
    const c = v.cls[i]!, t = tau[c];
    out[i] = t !== null && t !== undefined && binOf(v.conf[i]!) >= t ? c : IGNORE; // on bins: exactly the counted top portion
  }
  return out;
}

/**
 * Refuses (BudgetError) pseudo-labelling whose estimate is over the budget, before any image is read: each target
 * image decoded at its own size and predicted at the round's size, both heads' softmaxes held there (augmented).
 */
function checkPseudoBudget(m: InferenceModel, ds: Dataset, size: [number, number]): void {
  const largest = ds.largestSize ?? ds.defaultSize ?? size;
  const params = m.G.parameters().reduce((n, p) => n + p.numel, 0);
  const net = inferenceBytes({ command: 'pseudo', backbone: m.backbone, params, classes: m.numClasses, input: size, image: size,
    augmented: true });
  const bytes = net + 16 * largest[0] * largest[1];                             // the decoded image (3 B) and its float copy (12 B)
  checkBudget(`selftrain: pseudo-labels of ${ds.spec} at ${size[0]}x${size[1]}`, bytes, 'lower the target size (--set target.size=[W,H])');
}

/** Writes the round's pseudo-labels into `o.dir` (pseudo.json last) and returns their statistics. */
export async function makePseudoLabels(m: InferenceModel, o: PseudoOptions): Promise<PseudoStats> {
  const log = o.log ?? (() => {});
  const ds = openDataset(o.target, { labels: 'none', warn: log });
  checkPseudoBudget(m, ds, o.size);
  rmSync(o.dir, { recursive: true, force: true }); // a half-written round starts over
  makeDirs(join(o.dir, 'labels'));
  const K = m.numClasses;
  const [W, H] = o.size;
  const nViews = o.variant === 'cotrain' ? 2 : 1;
  const wasTraining = m.G.training;
  m.G.eval();
  const input = (d: Dataset, i: number, size: [number, number]) =>
    preprocess(d.load(i), { size, normalize: m.normalize }, { scale: 1, flip: false }).image;
  try {
    // Pass 1: per-view, per-class confidence histograms.
    const hist = Array.from({ length: nViews }, () => new Float64Array(K * BINS));
    for (let i = 0; i < ds.length; i++) {
      if (i % 16 === 0) await nextTurn();
      views(m, input(ds, i, o.size), [H, W], [H, W], o.variant).forEach((v, k) => {
        for (let j = 0; j < v.cls.length; j++) hist[k]![v.cls[j]! * BINS + binOf(v.conf[j]!)]! += 1;
      });
    }
    const tau = hist.map((h) => classThresholds(h, K, o.portion));
    // Pass 2: the label maps. Co-training: the top half (for C1) from C2's view, the bottom half (for C2) from C1's.
    const kept = [new Array<number>(K).fill(0), new Array<number>(K).fill(0)];
    for (let i = 0; i < ds.length; i++) {
      if (i % 16 === 0) await nextTurn();
      const v = views(m, input(ds, i, o.size), [H, W], [H, W], o.variant);
      const halves = o.variant === 'cotrain' ? [keep(v[1]!, tau[1]!), keep(v[0]!, tau[0]!)] : [keep(v[0]!, tau[0]!), keep(v[0]!, tau[0]!)];
      const stacked = new Uint8Array(2 * W * H);
      halves.forEach((l, k) => {
        stacked.set(l, k * W * H);
        for (const c of l) if (c !== IGNORE) kept[k]![c]! += 1;
      });
      atomicWrite(pseudoLabelFile(o.dir, i), encodePng(stacked, W, 2 * H, 1));
    }
    const total = 2 * ds.length * W * H;
    const stats: PseudoStats = { round: o.round, portion: o.portion, variant: o.variant,
      thresholds: tau.map((t) => t.map((b) => (b === null ? null : binEdge(b)))), kept,
      keptShare: kept.flat().reduce((a, b) => a + b, 0) / total, val: o.val ? await valPrecision(m, o, tau, input) : null };
    const index: PseudoIndex = { target: o.target, size: o.size, length: ds.length, round: o.round, variant: o.variant };
    atomicWrite(join(o.dir, 'stats.json'), JSON.stringify(stats, null, 1) + '\n');
    atomicWrite(join(o.dir, PSEUDO_INDEX), JSON.stringify(index, null, 1) + '\n'); // last: the round's labels are complete
    return stats;
  } finally {
    if (wasTraining) m.G.train();
  }
}

/**
 * The same thresholds on target-val against its ground truth (at the label's resolution, as evaluation): per-class
 * precision of the kept pixels (how often a pseudo-label is right), coverage (kept share of labelled pixels) and the
 * accuracy of the plain argmax on those pixels, for comparison. Co-training: C1's view (the labels C2 learns).
 */
async function valPrecision(m: InferenceModel, o: PseudoOptions, tau: (number | null)[][], input: (d: Dataset, i: number, s: [number, number]) => Float32Array): Promise<NonNullable<PseudoStats['val']>> {
  const val = openDataset(o.val!.spec, { labels: 'required' });
  const K = m.numClasses;
  const right = new Array<number>(K).fill(0), kept = new Array<number>(K).fill(0);
  let labelled = 0, keptAll = 0, argmaxRight = 0;
  const n = Math.min(val.length, o.val!.limit ?? Infinity);
  for (let i = 0; i < n; i++) {
    if (i % 16 === 0) await nextTurn();
    const s = val.load(i);
    const gt = s.label!;
    const [W, H] = o.val!.size;
    const v = views(m, input(val, i, o.val!.size), [H, W], [gt.height, gt.width], o.variant)[0]!;
    const l = keep(v, tau[0]!);
    for (let j = 0; j < l.length; j++) {
      const g = gt.data[j]!;
      if (g === IGNORE) continue;
      labelled++;
      if (v.cls[j] === g) argmaxRight++;
      const c = l[j]!;
      if (c === IGNORE) continue;
      kept[c]! += 1; keptAll++;
      if (c === g) right[c]! += 1;
    }
  }
  const precision = kept.map((k, c) => (k === 0 ? null : right[c]! / k));
  const present = precision.filter((x): x is number => x !== null);
  return { precision, meanPrecision: present.length ? present.reduce((a, b) => a + b, 0) / present.length : 0,
    coverage: labelled ? keptAll / labelled : 0, accuracy: labelled ? argmaxRight / labelled : 0 };
}
