// DAFormer's strong augmentation of the mixed images (docs/method.md §12; lhoyer/DAFormer dacs_transforms.py, after
// DACS): colour jitter as kornia 0.5's ColorJitter(brightness = contrast = saturation = hue = s) on the pixels in
// [0, 1], and a Gaussian blur of the normalised image (kornia GaussianBlur2d, reflect border). Written with our tensor
// ops; every random draw comes from torch's generator (so a checkpoint resumes it), in this order per iteration:
//   u_jitter, u_blur (one each: the whole batch jitters, or not, and blurs, or not — DAFormer's random.uniform pair);
//   then per image: if jittering, 4 factors (brightness, contrast, saturation, hue) and a randperm(4) of their order;
//   if blurring, σ = 0.15 + u. MIC's 'separatetrgaug' (mic.ts) augments its masked batch as one tensor (perBatch):
//   4 factors per image, then one order and one σ for the batch.
// tools/reference/daformer_parity.py draws the same numbers in the same order with torch.rand / torch.randperm.
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import { IMG_MEAN_BGR, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB } from '../util/normalization.js';

export interface StrongAugOptions {
  jitterP: number;   // jitter when a uniform draw exceeds this (DAFormer's `> p`: p 0.2 jitters 80% of the iterations)
  jitterS: number;   // strength s: factors in [1 − s, 1 + s], hue shift in [−s, s] turns
  blur: boolean;     // blur when a uniform draw exceeds 0.5
  normalize: 'caffe' | 'imagenet';  // how the images were normalised (caffe: BGR − mean, 0..255)
  // false (DAFormer's mixed images, transformed one at a time): an order and a σ per image; true (MIC's masked batch,
  // transformed as one tensor: kornia draws the order once per batch, gaussian_blur one σ): one of each per batch
  perBatch?: boolean;
}

/** The options from a section's keys (config.ts strongAugKeys: daformer's, mic's) and the loaders' normalisation. */
export function strongAugOptions(k: { colorJitterP: number; colorJitterS: number; blur: boolean }, normalize: 'caffe' | 'imagenet' | undefined,
  perBatch = false): StrongAugOptions {
  return { jitterP: k.colorJitterP, jitterS: k.colorJitterS, blur: k.blur, normalize: normalize ?? 'caffe', perBatch };
}

/** What the last call drew (the parity test and debugging views). */
export interface StrongAugDraws { jitter: boolean; blur: boolean; factors: number[][]; orders: number[][]; sigmas: number[] }

const TWO_PI = 2 * Math.PI;
const rand1 = (): number => torch.tidy(() => torch.rand([1]).item());
const randOrder = (): number[] => torch.tidy(() => torch.randperm(4).toArray()).map(Number);

/**
 * images [N, 3, H, W] (normalised) → the augmented batch, and the draws. The mix labels are not touched. Per batch,
 * the draws after u_jitter, u_blur are: 4 factors per image, then one order; one σ.
 */
export function strongAugment(images: Tensor, o: StrongAugOptions): { image: Tensor; draws: StrongAugDraws } {
  return torch.tidy(() => {
    const jitter = rand1() > o.jitterP;
    const blur = o.blur && rand1() > 0.5;
    const draws: StrongAugDraws = { jitter, blur, factors: [], orders: [], sigmas: [] };
    if (!jitter && !blur) return { image: images.clone(), draws };
    const s = o.jitterS;
    const drawFactors = () => [1 - s + 2 * s * rand1(), 1 - s + 2 * s * rand1(), 1 - s + 2 * s * rand1(), -s + 2 * s * rand1()];
    const drawSigma = () => { const sigma = 0.15 + rand1(); draws.sigmas.push(sigma); return sigma; };
    const n = images.size(0);
    if (jitter && o.perBatch) {
      for (let j = 0; j < n; j++) draws.factors.push(drawFactors());
      draws.orders.push(randOrder());
    }
    const sigma = blur && o.perBatch ? drawSigma() : 0;
    const out: Tensor[] = [];
    for (let j = 0; j < n; j++) {
      let x = images.slice(0, j, j + 1);                                   // [1, 3, H, W]
      if (jitter) {
        if (!o.perBatch) { draws.factors.push(drawFactors()); draws.orders.push(randOrder()); }
        const order = draws.orders[o.perBatch ? 0 : j]!;
        x = fromUnit(colorJitter(toUnit(x, o.normalize), draws.factors[j]!, order), o.normalize);
      }
      if (blur) x = gaussianBlur(x, o.perBatch ? sigma : drawSigma());
      out.push(x);
    }
    return { image: torch.cat(out, 0), draws };
  });
}

/** Normalised [N, 3, H, W] → RGB pixels in [0, 1] (DAFormer's denorm: x·std + mean, / 255). */
export function toUnit(x: Tensor, norm: 'caffe' | 'imagenet'): Tensor {
  return torch.tidy(() => {
    const { mean, std } = stats(norm);
    const u = x.mul(std).add(mean).div(255);
    return norm === 'caffe' ? u.flip([1]) : u;                              // caffe stores BGR
  });
}

/** RGB pixels in [0, 1] → normalised (DAFormer's renorm: ·255, − mean, / std). */
export function fromUnit(u: Tensor, norm: 'caffe' | 'imagenet'): Tensor {
  return torch.tidy(() => {
    const { mean, std } = stats(norm);
    return (norm === 'caffe' ? u.flip([1]) : u).mul(255).sub(mean).div(std);
  });
}

function stats(norm: 'caffe' | 'imagenet'): { mean: Tensor; std: Tensor } {
  const m = norm === 'caffe' ? IMG_MEAN_BGR : IMAGENET_MEAN_RGB.map((v) => v * 255);
  const s = norm === 'caffe' ? [1, 1, 1] : IMAGENET_STD_RGB.map((v) => v * 255);
  return { mean: torch.tensor([...m]).view(1, 3, 1, 1), std: torch.tensor(s).view(1, 3, 1, 1) };
}

/**
 * kornia 0.5 ColorJitter on RGB [1, 3, H, W] in [0, 1]: factors [brightness, contrast, saturation, hue] applied in
 * `order` (0 brightness: + (b − 1), clamp; 1 contrast: × c, clamp; 2 saturation: HSV s × f, clamp; 3 hue: HSV h + 2π·h).
 */
export function colorJitter(u: Tensor, factors: number[], order: number[]): Tensor {
  return torch.tidy(() => {
    const [b, c, s, h] = factors as [number, number, number, number];
    let x = u;
    for (const k of order) {
      if (k === 0) x = x.add(b - 1).clamp(0, 1);
      else if (k === 1) x = x.mul(c).clamp(0, 1);
      else if (k === 2) { const [hh, ss, vv] = rgbToHsv(x); x = hsvToRgb(hh, ss.mul(s).clamp(0, 1), vv); }
      else { const [hh, ss, vv] = rgbToHsv(x); x = hsvToRgb(fmod(hh.add(h * TWO_PI), TWO_PI), ss, vv); }
    }
    return x;
  });
}

/** kornia's rgb_to_hsv: RGB [1, 3, H, W] → h (radians in [0, 2π)), s, v, each [1, 1, H, W]. */
export function rgbToHsv(x: Tensor): [Tensor, Tensor, Tensor] {
  return torch.tidy(() => {
    const [v, argmax] = x.maxDim(1, true);                                  // [1, 1, H, W]
    const [mn] = x.minDim(1, true);
    const delta = v.sub(mn);
    const s = delta.div(v.add(1e-6));
    const d = torch.where(delta.eq(0), torch.onesLike(delta), delta);
    const diff = v.sub(x);                                                  // [1, 3, H, W]: max − r, max − g, max − b
    const [rc, gc, bc] = [0, 1, 2].map((c) => diff.slice(1, c, c + 1)) as [Tensor, Tensor, Tensor];
    const cand = torch.cat([bc.sub(gc), rc.sub(bc).add(d.mul(2)), gc.sub(rc).add(d.mul(4))], 1).div(d);
    const h = remainder(cand.gather(1, argmax).div(6), 1).mul(TWO_PI);
    return [h, s, v];
  });
}

/** kornia's hsv_to_rgb: h (radians), s, v [1, 1, H, W] → RGB [1, 3, H, W]. */
export function hsvToRgb(h: Tensor, s: Tensor, v: Tensor): Tensor {
  return torch.tidy(() => {
    const h6 = h.div(TWO_PI).mul(6);
    const hi = remainder(h6.floor(), 6);
    const f = remainder(h6, 6).sub(hi);
    const p = v.mul(s.rsub(1));
    const q = v.mul(f.mul(s).rsub(1));
    const t = v.mul(f.rsub(1).mul(s).rsub(1));
    const hl = hi.to('int64');
    const table = torch.cat([v, q, p, p, t, v, t, v, v, q, p, p, p, p, t, v, v, q], 1);  // [1, 18, H, W]
    return table.gather(1, torch.cat([hl, hl.add(6), hl.add(12)], 1));
  });
}

/** torch.remainder for a positive divisor: a − m·⌊a/m⌋ (ATen's formula). */
function remainder(a: Tensor, m: number): Tensor { return torch.tidy(() => a.sub(a.div(m).floor().mul(m))); }
/** C's fmod: a − m·trunc(a/m) (the sign of a). */
function fmod(a: Tensor, m: number): Tensor {
  return torch.tidy(() => { const q = a.div(m); return a.sub(q.abs().floor().mul(q.sign()).mul(m)); });
}

/** DAFormer's kernel side for an image side n: ⌈0.1·n⌉ made odd (⌈0.1·n⌉ − 1 when even). */
export function blurKernelSize(n: number): number { const c = Math.ceil(0.1 * n); return Math.floor(c - 0.5 + (c % 2)); }

/** kornia GaussianBlur2d((ky, kx), (σ, σ)), reflect border, per channel: [N, C, H, W] → same shape. */
export function gaussianBlur(x: Tensor, sigma: number): Tensor {
  return torch.tidy(() => {
    const [, c, H, W] = x.shape as [number, number, number, number];
    const [ky, kx] = [blurKernelSize(H), blurKernelSize(W)];
    const kernel = gauss1d(ky, sigma).unsqueeze(1).matmul(gauss1d(kx, sigma).unsqueeze(0));  // [ky, kx]
    const padded = reflectPad(reflectPad(x, 2, (ky - 1) / 2), 3, (kx - 1) / 2);
    return F.conv2d(padded, kernel.view(1, 1, ky, kx).expand(c, 1, ky, kx), null, { groups: c });
  });
}

/** kornia's gaussian window: exp(−x²/(2σ²)) at x = k − ⌊n/2⌋, normalised to sum 1 (float32). [n] */
function gauss1d(n: number, sigma: number): Tensor {
  return torch.tidy(() => {
    const x = torch.arange(0, n, 1, { dtype: 'float32' }).sub(Math.floor(n / 2));
    const g = x.pow(2).neg().div(2 * sigma ** 2).exp();
    return g.div(g.sum());
  });
}

/** Reflect padding of `p` along `dim` (index −i and 2(n − 1) − i, no edge repeat: torch's 'reflect'). */
function reflectPad(x: Tensor, dim: number, p: number): Tensor {
  if (p === 0) return x;
  const n = x.size(dim);
  const idx = Array.from({ length: n + 2 * p }, (_, k) => { const i = k - p; return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; });
  return torch.tidy(() => x.indexSelect(dim, torch.tensor(idx).to('int64')));
}
