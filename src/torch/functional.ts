// Pure tensor functions of the neural-network kind (torch.nn.functional). Shapes are checked here so the
// common mistakes get a clear message before libtorch sees them.
import { native } from './native.js';
import { Tensor } from './tensor.js';
import { TensorError } from '../util/errors.js';

export type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);
export type Reduction = 'none' | 'mean' | 'sum';
const RED: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

function need4d(x: Tensor, fn: string): void {
  const n = x.ndim;
  if (n !== 4) throw new TensorError(`${fn}: input must be 4-D [N, C, H, W], got shape [${x.shape.join(', ')}]`);
}

export interface Conv2dOptions { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number }
/** x [N, C, H, W], weight [O, C/groups, kh, kw], bias [O] → [N, O, H', W']. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  need4d(x, 'conv2d');
  let dilation = pair(o.dilation ?? 1);
  const stride = pair(o.stride ?? 1);
  if (pointwiseOnednn && dilation[0] === 1 && dilation[1] === 1 && stride[0] === 1 && stride[1] === 1 && (o.groups ?? 1) === 1
    && weight.shape[2] === 1 && weight.shape[3] === 1) {
    const [n, c, h, w] = x.shape as [number, number, number, number];
    // where libtorch then takes oneDNN (batch > 1 or over 20480 values; else a dilated THNN kernel would run)
    if ((n > 1 || n * c * h * w > 20480) && x.device === 'cpu') dilation = [2, 2]; // the same 1×1 convolution: see setPointwiseOnednn
  }
  return new Tensor(native.conv2d(x.handle, weight.handle, bias?.handle, stride, pair(o.padding ?? 0), dilation, o.groups ?? 1));
}

let pointwiseOnednn = false;
/**
 * On: CPU 1×1 stride-1 convolutions run through oneDNN, forward and backward. libtorch 1.13 sends an undilated, unstrided 1×1
 * convolution of a batch < 16 on one thread to THNN (im2col-free sgemm in OpenBLAS; ~60–90 GFLOP/s here) and
 * everything else to oneDNN (~125–190); it reads dilation 2 as "dilated" and so picks oneDNN, while a 1×1 kernel
 * computes exactly the same sums at any dilation. The math is unchanged; the float rounding is oneDNN's
 * (docs/speed.md). Off by default: PyTorch's dispatch, bit-identical to the PyTorch reference.
 */
export function setPointwiseOnednn(on: boolean): void { pointwiseOnednn = on; }
export function getPointwiseOnednn(): boolean { return pointwiseOnednn; }

export interface BatchNormOptions {
  weight?: Tensor | null; bias?: Tensor | null; runningMean?: Tensor | null; runningVar?: Tensor | null;
  training?: boolean; momentum?: number; eps?: number;
}
/** Training mode uses batch statistics and updates the running buffers in place (momentum 0.1 by default). */
export function batchNorm(x: Tensor, o: BatchNormOptions = {}): Tensor {
  return new Tensor(native.batchNorm(x.handle, o.weight?.handle, o.bias?.handle, o.runningMean?.handle, o.runningVar?.handle,
    o.training ?? false, o.momentum ?? 0.1, o.eps ?? 1e-5));
}

/** Training-mode batch norm over every data-parallel rank's batch (torch.nn.SyncBatchNorm; needs torch.dist initialised). */
export function syncBatchNorm(x: Tensor, o: BatchNormOptions = {}): Tensor {
  return new Tensor(native.distSyncBatchNorm(x.handle, o.weight?.handle, o.bias?.handle, o.runningMean?.handle, o.runningVar?.handle,
    o.momentum ?? 0.1, o.eps ?? 1e-5));
}

export interface PoolOptions { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean }
export function maxPool2d(x: Tensor, kernel: Pair, o: PoolOptions = {}): Tensor {
  need4d(x, 'maxPool2d');
  return new Tensor(native.maxPool2d(x.handle, pair(kernel), pair(o.stride ?? kernel), pair(o.padding ?? 0), pair(o.dilation ?? 1),
    o.ceilMode ?? false));
}
export function avgPool2d(x: Tensor, kernel: Pair, o: Omit<PoolOptions, 'dilation'> = {}): Tensor {
  need4d(x, 'avgPool2d');
  return new Tensor(native.avgPool2d(x.handle, pair(kernel), pair(o.stride ?? kernel), pair(o.padding ?? 0), o.ceilMode ?? false));
}

/** x [N, C, H, W] → [N, C, h, w]: each output cell the mean of the input cells it covers (torch's adaptive_avg_pool2d). */
export function adaptiveAvgPool2d(x: Tensor, size: [number, number]): Tensor {
  need4d(x, 'adaptiveAvgPool2d');
  return new Tensor(native.adaptiveAvgPool2d(x.handle, size));
}

export interface InterpolateOptions { mode?: 'bilinear' | 'nearest'; alignCorners?: boolean }
/** F.interpolate(x, size=[H, W]) for 4-D input. Bilinear needs an explicit alignCorners (the reference uses true). */
export function interpolate(x: Tensor, size: [number, number], o: InterpolateOptions = {}): Tensor {
  need4d(x, 'interpolate');
  const mode = o.mode ?? 'bilinear';
  if (mode === 'nearest') {
    if (o.alignCorners !== undefined) throw new TensorError('interpolate: alignCorners only applies to bilinear mode');
    return new Tensor(native.upsampleNearest2d(x.handle, size));
  }
  return new Tensor(native.upsampleBilinear2d(x.handle, size, o.alignCorners ?? false));
}

export function relu(x: Tensor): Tensor { return x.relu(); }
export function leakyRelu(x: Tensor, slope = 0.01): Tensor { return new Tensor(native.leakyRelu(x.handle, slope)); }
export function sigmoid(x: Tensor): Tensor { return x.sigmoid(); }
export function softmax(x: Tensor, dim: number): Tensor { return new Tensor(native.softmax(x.handle, dim)); }
export function logSoftmax(x: Tensor, dim: number): Tensor { return new Tensor(native.logSoftmax(x.handle, dim)); }

export interface CrossEntropyOptions { weight?: Tensor | null; reduction?: Reduction; ignoreIndex?: number }
function checkTarget(x: Tensor, target: Tensor, fn: string): void {
  if (target.dtype !== 'int64') throw new TensorError(`${fn}: target must be int64 class indices, got ${target.dtype}`);
  const xs = x.shape; const ts = target.shape;
  const ok = ts.length === xs.length - 1 && ts[0] === xs[0] && ts.every((s, i) => i === 0 || s === xs[i + 1]);
  if (!ok) throw new TensorError(`${fn}: target shape [${ts.join(', ')}] does not match input [${xs.join(', ')}] (expected [N, d1, ...] for input [N, C, d1, ...])`);
}
/** logits [N, C, ...], target [N, ...] int64; pixels equal to ignoreIndex (default -100) are skipped. */
export function crossEntropy(logits: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  checkTarget(logits, target, 'crossEntropy');
  return new Tensor(native.crossEntropy(logits.handle, target.handle, o.weight?.handle, RED[o.reduction ?? 'mean'], o.ignoreIndex ?? -100));
}
export function nllLoss(logProbs: Tensor, target: Tensor, o: CrossEntropyOptions = {}): Tensor {
  checkTarget(logProbs, target, 'nllLoss');
  return new Tensor(native.nllLoss(logProbs.handle, target.handle, o.weight?.handle, RED[o.reduction ?? 'mean'], o.ignoreIndex ?? -100));
}

export interface BCEOptions { weight?: Tensor | null; posWeight?: Tensor | null; reduction?: Reduction }
/** Numerically stable BCE on logits, with an optional per-element weight (broadcast to the input). */
export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor, o: BCEOptions = {}): Tensor {
  return new Tensor(native.bceWithLogits(logits.handle, target.handle, o.weight?.handle, o.posWeight?.handle, RED[o.reduction ?? 'mean']));
}
export function mseLoss(x: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return new Tensor(native.mseLoss(x.handle, target.handle, RED[reduction]));
}

/** cos(x1, x2) along `dim` (PyTorch's eps = 1e-8 clamps each norm). */
export function cosineSimilarity(x1: Tensor, x2: Tensor, dim = 1, eps = 1e-8): Tensor {
  return new Tensor(native.cosineSimilarity(x1.handle, x2.handle, dim, eps));
}

/** int64 indices → int64 one-hot with a new last dim of size numClasses. */
export function oneHot(x: Tensor, numClasses: number): Tensor {
  if (x.dtype !== 'int64') throw new TensorError(`oneHot: input must be int64, got ${x.dtype}`);
  return new Tensor(native.oneHot(x.handle, numClasses));
}

export function bincount(x: Tensor, minlength = 0, weights: Tensor | null = null): Tensor {
  return new Tensor(native.bincount(x.handle, weights?.handle, minlength));
}

// ----------------------------------------------------------------------------------------- transformer layers
/** x [..., in] · weightᵀ [in, out] + bias [out] → [..., out] (torch.nn.functional.linear). */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  const inF = weight.shape[1];
  const last = x.shape[x.ndim - 1];
  if (weight.ndim !== 2 || last !== inF) {
    throw new TensorError(`linear: input [${x.shape.join(', ')}] does not end in the weight's ${inF ?? '?'} input features (weight [${weight.shape.join(', ')}])`);
  }
  return new Tensor(native.linear(x.handle, weight.handle, bias?.handle));
}

/**
 * Layer norm over the trailing dims `normalizedShape` (per sample: mean and biased variance, then ε), then
 * weight·x̂ + bias (torch.nn.functional.layer_norm). x [..., *normalizedShape].
 */
export function layerNorm(x: Tensor, normalizedShape: number[], weight: Tensor | null = null, bias: Tensor | null = null,
  eps = 1e-5): Tensor {
  const tail = x.shape.slice(x.ndim - normalizedShape.length);
  if (normalizedShape.length > x.ndim || tail.some((s, i) => s !== normalizedShape[i])) {
    throw new TensorError(`layerNorm: input [${x.shape.join(', ')}] does not end in the normalized shape [${normalizedShape.join(', ')}]`);
  }
  return new Tensor(native.layerNorm(x.handle, normalizedShape, weight?.handle, bias?.handle, eps));
}

/** x·Φ(x) with the exact normal CDF, Φ(x) = (1 + erf(x/√2))/2: PyTorch's default GELU (approximate='none'). */
export function gelu(x: Tensor): Tensor { return new Tensor(native.gelu(x.handle)); }

function checkP(p: number, fn: string): void {
  if (!(p >= 0 && p <= 1)) throw new TensorError(`${fn}: p must be in [0, 1], got ${p}`);
}
/** Training: each element zeroed with probability p, the rest scaled by 1/(1 − p); otherwise x unchanged (a new tensor). */
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  checkP(p, 'dropout');
  return new Tensor(native.dropout(x.handle, p, training));
}
/** nn.Dropout2d: whole channels of x [N, C, H, W] zeroed with probability p (per sample), the rest scaled by 1/(1 − p). */
export function dropout2d(x: Tensor, p: number, training: boolean): Tensor {
  need4d(x, 'dropout2d');
  checkP(p, 'dropout2d');
  return new Tensor(native.featureDropout(x.handle, p, training));
}

/**
 * Stochastic depth (a residual branch dropped per sample), as timm 0.3.2's drop_path that MiT uses: mask =
 * ⌊keep + U[0, 1)⌋ of shape [N, 1, …], out = x / keep · mask. The same generator calls as PyTorch, so a seeded run
 * draws the same mask. Eval mode or p = 0: x itself.
 */
export function dropPath(x: Tensor, p: number, training: boolean): Tensor {
  checkP(p, 'dropPath');
  if (p === 0 || !training) return x;
  const keep = 1 - p;
  const shape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
  const r = new Tensor(native.rand(shape, native.dtype(x.handle), x.device));
  const mask = r.add(keep).floor();
  const scaled = x.div(keep);
  const out = scaled.mul(mask);
  for (const t of [r, mask, scaled]) t.dispose();
  return out;
}
