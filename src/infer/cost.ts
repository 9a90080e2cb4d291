// What a command will hold in memory, estimated before it starts, and the one-line refusal when that is over the
// budget (CLAN_MEMORY_BUDGET_MB, util/limits.ts). The decode limit bounds what an image costs to decode, not what
// the network does with it: predict and eval hold per-pixel maps at the image's own size (labels, colours, the
// disagreement map, the PNG encoders' buffers) and training holds every activation of its crops for the backward.
//
// The model, in bytes (README "Limits"; docs/deploy.md "Memory budget"):
//   inference  BASE + INFER_PER_PARAM·params + (INFER_PER_PIXEL + INFER_PER_FEATURE·F)·P + perImagePixel·W·H + maps
//   training   BASE + TRAIN_PER_PARAM·params + Σ domains (TRAIN_PER_PIXEL + TRAIN_PER_FEATURE·F)·P·batch + decoding
// where P = the network input's (crop's) pixels, W×H = the image's, and F = the activation floats the network makes
// per input pixel, counted from the backbone's shape (featureFloats: every conv/norm/activation output of each block
// over its stride²; micro 27.75, tiny 55.5, resnet18 300, resnet50 1544, resnet101 3040). The per-pixel term beside F
// is what does not grow with the backbone: the input and its resized copies, the heads, the upsampled logits, the
// discriminator (training). `maps` = the [1, K, H, W] float maps of the whole path, capped by the column bands.
//
// The constants are least-squares fits of peak RSS (VmHWM, /usr/bin/time -f %M, --threads 1) measured by
// tools/measure-memory.mjs on this code (2026-12, libtorch 1.13, x86-64): `clan eval` of a 64² image at --size 512²,
// 1024², 1536² for micro, tiny, resnet18, resnet50 (bytes per model pixel 143, 235, 631, 1854); `clan train` one step,
// batch 1, crops 128², 256², 384² (per domain 542, 603, 758, 3145 B per crop pixel); `clan predict` / `clan eval` of
// 1000²…8000² images (predict also 13376²) at a 1024×512 input. The estimates are within 12 % of every measured peak
// above 1 GB (training within 5 % throughout) but banded predict's, which runs over by 19-33 % (its peaks are not a line
// in the pixels: 641, 835, 1071, 2268 MB at 3000², 4000², 8000², 13376²; the estimate is kept above each); below 1 GB
// they run over by up to 50 % (micro's eval), as BASE is the largest of the intercepts.
import {
  BACKBONES, isMit, isVgg, type BackboneSpec, type MitBackbone, type ResNetBackbone, type VggBackbone,
} from '../models/backbones.js';
import { inferencePasses, isPlainWhole, type InferenceSpec } from '../data/inference-spec.js';
import { BudgetError } from '../util/errors.js';
import { limit, LIMITS } from '../util/limits.js';

const MiB = 2 ** 20;

/** Node, libtorch and the addon loaded, one tiny step or image run: the fits' intercepts (eval 228, predict 317-332,
 *  train 332-343 MB), the largest taken. */
export const BASE_BYTES = 340 * MiB;
/** Inference, per model-input pixel: 190 B plus 1.09 B per activation float (fit: 221, 251, 517, 1874 B for the four). */
export const INFER_PER_PIXEL = 190;
export const INFER_PER_FEATURE = 1.09;
/** Inference, per parameter: the weights and the copy they were loaded from (measured 5.7-6.1). */
export const INFER_PER_PARAM = 6;
/** Training, per crop pixel per image of each domain: 422 B plus 1.74 B per activation float (fit: 471, 519, 945, 3113). */
export const TRAIN_PER_PIXEL = 422;
export const TRAIN_PER_FEATURE = 1.74;
/** Training, per parameter of G: weights, gradients, Adam's moments, D's share, the checkpoint's host copy (52.0-53.6). */
export const TRAIN_PER_PARAM = 54;
/**
 * Bytes per image pixel beyond the network, measured with the model input fixed (the slope):
 *   predict  11 (banded 3000², 4000², 8000², 13376², the `wide` map below taken out): the RGB image (3), the labels
 *            (1), the heat-map's indices (2), the PNG decoder's inflated rows while the image is decoded (3) and the
 *            encoders' row blocks; the colour, overlay and heat-map PNGs are drawn from the labels and streamed a block
 *            of rows at a time (report/png-stream.ts), never whole. It was 31 while the four pictures were built whole.
 *   eval     5: the RGB image (3), the labels (1), the predictions (1); the banded sizes 2000²…8000² measured a slope of
 *            3.1 B/px (the fit over 1000²…4000², 26, mixed in the whole path's maps)
 */
export const PREDICT_PER_PIXEL = 11;
export const EVAL_PER_PIXEL = 5;

/** Activation floats per input pixel of a DeepLab-v2 ResNet: conv, norm and activation outputs of each block. */
function resnetFloats(s: ResNetBackbone): number {
  const pool = s.stemPool === false ? 1 : 2;                         // the stem pool halves each side
  const strides = [2 * pool, 4 * pool, 4 * pool, 4 * pool];           // layer3/4 dilated: output stride 8 (4 without pool)
  let f = (3 * s.width) / 4;                                          // stem conv/bn/relu at /2
  s.layers.forEach((n, i) => {
    const p = s.width * 2 ** i;
    const perBlock = s.block === 'bottleneck' ? 3 * p + 3 * p + 4 * (4 * p) : 3 * p + 4 * p;  // 22p or 7p channels
    f += (n * perBlock) / (strides[i]! * strides[i]!);
  });
  return f;
}

/** DeepLab-v2 VGG-16: 13 convs (conv + ReLU) over pools to /8, fc6/fc7 at 16w on /8. */
function vggFloats(s: VggBackbone): number {
  const stages: [mult: number, convs: number, stride: number][] = [[1, 2, 1], [2, 2, 2], [4, 3, 4], [8, 3, 8], [8, 3, 8]];
  const convs = stages.reduce((f, [m, n, st]) => f + (2 * m * s.width * n) / (st * st), 0);
  return convs + (2 * 2 * 16 * s.width) / 64;
}

/** Mix Transformer + decode head: per block ~19·d per token (norms, q, reduced k/v, MLP 4d ×3), attention maps. */
function mitFloats(s: MitBackbone, pixels: number): number {
  const m = s.mit;
  let f = 0;
  m.depths.forEach((n, i) => {
    const stride = 4 * 2 ** i; const d = m.embedDims[i]!; const sr = m.srRatios[i]!;
    const attention = m.numHeads[i]! * (pixels / (stride * stride * sr * sr));       // per query token: heads × keys
    f += (n * (19 * d + attention)) / (stride * stride);
  });
  const head = (6 * (s.decodeWidth ?? 256)) / 16;                     // the fused stages at /4
  return (f + head) * (s.decoder === 'hrda' ? 1.25 : 1);               // HRDA: the context pass at half size on top
}

/** F: activation floats the backbone `name` makes per input pixel at P input pixels. */
export function featureFloats(name: string, pixels = 1024 * 512): number {
  const s: BackboneSpec = BACKBONES.get(name);
  if (isMit(s)) return mitFloats(s, pixels);
  return isVgg(s) ? vggFloats(s) : resnetFloats(s);
}

/**
 * Above this many floats in one [1, K, H, W] map at the output size, predict and eval upsample logits in bands of
 * columns (inference.ts bandedUp), so an image far larger than the network input costs O(band) there instead of K·4
 * bytes per pixel per map (a 13376² image of 19 classes: 13.6 GB per map). 64 Mi floats = 256 MB: every dataset's
 * frame stays on the whole path (Cityscapes 2048×1024 of 19 classes is 40 Mi floats), so its outputs are the bits
 * they always were.
 */
export const BAND_FLOATS = 64 * 2 ** 20;
/** Unbanded, predict holds this many [1, K, H, W] float32 maps at its peak (x1, x2 and x1 + x2 up, the softmaxes of M,
 *  their products; measured 5.98 beyond the banded path at 1000² and 1400²), eval about one and a half (up(x1 + x2) and its
 *  int64 argmax; 1.3 at 1000²). */
export const WHOLE_MAPS = 6;
export const EVAL_WHOLE_MAPS = 1.5;
/** Banded, what the bands hold beyond the per-pixel maps and `wide`: one band [1, 3K, H, bw] of BAND_FLOATS / 3 and its
 *  softmaxes (the banded fits' intercepts less BASE and micro's network at 1024×512: predict 610 MB over 3000²…13376²,
 *  rounded up to 180 MB so no measured peak is over the estimate; eval 721 MB over 2000²…8000²). */
export const BANDED_BYTES = 180 * MiB;
export const EVAL_BANDED_BYTES = 265 * MiB;

/** The logits' stride: DeepLab-v2 ResNets 8 (4 without the stem pool), VGG-16 8, MiT decode heads 4. */
export function outputStride(name: string): number {
  const s: BackboneSpec = BACKBONES.get(name);
  if (isMit(s)) return 4;
  return isVgg(s) || s.stemPool !== false ? 8 : 4;
}

/** Banded predict's `wide`: x1, x2 and x1 + x2 upsampled along the width once, [1, 3K, h, W] float32 at the logits'
 *  height h (inference.ts forEachBand) — 14.8 KB per image column for 19 classes at 1024×512 (198 MB at 13376 wide). */
export function wideBytes(backbone: string, classes: number, input: readonly [number, number], width: number): number {
  return 4 * 3 * classes * (Math.ceil(input[1] / outputStride(backbone)) + 1) * width;
}

/** What one image costs through predict, eval, export or pseudo-labelling. */
export interface InferenceCost {
  command: 'predict' | 'eval' | 'export' | 'pseudo';
  backbone: string; params: number; classes: number;
  input: readonly [number, number];           // network input [W, H] (the eval size, or the largest pass)
  image: readonly [number, number];           // the image and outputs [W, H]
  augmented?: boolean;                        // slide or multi-scale/flip: probabilities held at the image size, unbanded
}

export function inferenceBytes(c: InferenceCost): number {
  const P = c.input[0] * c.input[1];
  const px = c.image[0] * c.image[1];
  const predict = c.command === 'predict';
  // only predict and eval band (export traces, pseudo-labels are at the training size: both at the network's input)
  const banded = (predict || c.command === 'eval') && c.classes * px > BAND_FLOATS && c.classes <= 256;
  const bandedBytes = predict ? BANDED_BYTES + wideBytes(c.backbone, c.classes, c.input, c.image[0]) : EVAL_BANDED_BYTES;
  const maps = (banded ? bandedBytes : 4 * (predict ? WHOLE_MAPS : EVAL_WHOLE_MAPS) * c.classes * px)
    + (c.augmented ? 4 * 3 * c.classes * px : 0);                   // slide / multi-scale: probabilities at W×H, unbanded
  const network = (INFER_PER_PIXEL + INFER_PER_FEATURE * featureFloats(c.backbone, P)) * P;
  return BASE_BYTES + INFER_PER_PARAM * c.params + network + (predict ? PREDICT_PER_PIXEL : EVAL_PER_PIXEL) * px + maps;
}

/**
 * `clan predict --engine onnx` (no libtorch; the tail on the host, deploy/host-ops.ts): 206 MB at 0 pixels and 19.9 B per
 * image pixel, fitted over RGB images of 1000², 2000², 3000², 4000², 6000² (micro at 1024×512: peaks 198…885 MB). Its
 * network part (onnxruntime's arena) is taken as libtorch's, not measured; a backbone the registry lacks counts none.
 */
export const ONNX_BASE_BYTES = 206 * MiB;
export const ONNX_PER_PIXEL = 20;

export function onnxPredictBytes(c: Omit<InferenceCost, 'command'>): number {
  const P = c.input[0] * c.input[1];
  const F = BACKBONES.has(c.backbone) ? featureFloats(c.backbone, P) : 0;
  const px = c.image[0] * c.image[1];
  return ONNX_BASE_BYTES + INFER_PER_PARAM * c.params + (INFER_PER_PIXEL + INFER_PER_FEATURE * F) * P + ONNX_PER_PIXEL * px
    + (c.augmented ? 4 * 3 * c.classes * px : 0);
}

/** The network's largest input [W, H] for an image under a spec: the eval size, or a multi-scale spec's largest pass. */
export function networkInput(spec: InferenceSpec | undefined, image: readonly [number, number],
  evalSize: readonly [number, number]): [number, number] {
  if (isPlainWhole(spec)) return [evalSize[0], evalSize[1]];
  return inferencePasses(spec!, image[0], image[1], evalSize)
    .reduce<[number, number]>((a, p) => (p.width * p.height > a[0] * a[1] ? [p.width, p.height] : a), [0, 0]);
}

/** What a training step costs: batch crops of each domain, the largest image of each decoded by the loaders. */
export interface TrainCost {
  backbone: string; params: number; batch: number; workers: number;
  source: readonly [number, number]; target: readonly [number, number];   // crops [W, H]
  largest: readonly [number, number];                                      // the largest image either set holds
}

export function trainBytes(c: TrainCost): number {
  const act = (s: readonly [number, number]) =>
    (TRAIN_PER_PIXEL + TRAIN_PER_FEATURE * featureFloats(c.backbone, s[0] * s[1])) * s[0] * s[1] * c.batch;
  // a loader decodes (3 B), converts to float (12 B) and resizes each image, one per worker thread in flight: counted,
  // not fitted (the measured runs read 64² scenes)
  const decode = 16 * c.largest[0] * c.largest[1] * Math.max(1, c.workers);
  return BASE_BYTES + TRAIN_PER_PARAM * c.params + act(c.source) + act(c.target) + decode;
}

/** The budget in bytes: CLAN_MEMORY_BUDGET_MB, else the default (3/4 of this machine's memory). */
export function memoryBudget(env: NodeJS.ProcessEnv = process.env): number {
  return limit('memoryBudgetMB', env) * MiB;
}

export const mb = (bytes: number): string => `${Math.ceil(bytes / MiB)} MB`;

/** "estimate X MB of the budget Y MB (CLAN_MEMORY_BUDGET_MB)", for `clan train --dry-run`. */
export function budgetLine(bytes: number, env: NodeJS.ProcessEnv = process.env): string {
  return `estimate ${mb(bytes)} of the budget ${mb(memoryBudget(env))} (${LIMITS.memoryBudgetMB.env})`;
}

/** Throws BudgetError when `bytes` is over the budget: `what` names the work, `wayOut` the flag that shrinks it. */
export function checkBudget(what: string, bytes: number, wayOut: string, env: NodeJS.ProcessEnv = process.env): void {
  const budget = memoryBudget(env);
  if (bytes <= budget) return;
  throw new BudgetError(`${what} needs about ${mb(bytes)} of memory, over the budget of ${mb(budget)}: ${wayOut}, ` +
    `or raise ${LIMITS.memoryBudgetMB.env} (MB) if the machine has it`);
}
