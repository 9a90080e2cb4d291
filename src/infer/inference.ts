// Inference modes as mmsegmentation's test options, on a Segmentor: the one inference path of `clan eval`, `clan
// predict` and the API (docs/method.md §5.3 for the default). Semantics of mmseg 0.x (EncoderDecoder.slide_inference,
// inference, aug_test; MultiScaleFlipAug; Resize(keep_ratio=True), i.e. mmcv.rescale_size), with CLAN's network and
// pre-processing (PIL bicubic resize, Caffe/ImageNet normalisation, logits = up(x1 + x2) bilinear align_corners):
//
//   whole   the image at once; logits upsampled ONCE to the output size (CLAN's evaluation; mmseg resizes twice,
//           to the input then to the original size)
//   slide   windows of `crop` every `stride` over the network input, mmseg's grid: n = max(L − crop + stride − 1, 0)
//           // stride + 1 per axis, a window starts at i·stride and is pulled back to end at the border; each
//           window's up(x1 + x2) at the window's size is added into the input frame, divided by the count of
//           windows per pixel, then upsampled to the output size. An input smaller than the crop is one short window.
//   scales / flip (test-time augmentation)  per ratio r the scale (⌊W·r⌋, ⌊H·r⌋) of the eval size [W, H], applied
//           with keep_ratio to the image's own w×h: f = min(max(scale)/max(w, h), min(scale)/min(w, h)), size =
//           (⌊w·f + 0.5⌋, ⌊h·f + 0.5⌋); each ratio unflipped then flipped (if asked); per pass softmax at the
//           output size, flipped back; the probabilities summed in pass order, divided by the pass count; argmax.
//
// Without scales and flip the input is the eval size exactly (CLAN's stretch, today's `clan eval`); with them it keeps
// the image's ratio, as mmseg's test pipeline. The two agree at ratio 1 when the image has the eval size's aspect
// (Cityscapes 2048×1024 at 1024×512). Sizes are [W, H] here, as --size/--crop/--stride; mmseg's configs give (H, W).
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import { preprocess } from '../data/transforms.js';
import type { RgbImage } from '../data/image.js';
import { predictLogits, type Segmentor } from '../models/segmentor.js';
import { UsageError } from '../util/errors.js';

export type InferMode = 'whole' | 'slide';

export interface InferenceSpec {
  /** 'whole' (default): the network input at once; 'slide': windows of `crop` every `stride` (mmseg slide_inference). */
  mode: InferMode;
  /** Slide window [W, H] in network-input pixels (--crop WxH). */
  crop?: readonly [number, number];
  /** Slide step [W, H] (--stride WxH). */
  stride?: readonly [number, number];
  /** Ratios of the eval size, one pass each (--scales 0.5,0.75,…; mmseg img_ratios); absent: one pass at the eval size. */
  scales?: readonly number[];
  /** Each ratio also mirrored left–right, its probabilities mirrored back (--flip). */
  flip?: boolean;
}

/** Today's inference: one pass at the eval size, the whole input. */
export const WHOLE: InferenceSpec = Object.freeze({ mode: 'whole' });

/** One network pass of a spec: the input size and whether it is mirrored. */
export interface Pass { width: number; height: number; flip: boolean }

/** A slide window in input pixels, [x1, x2) × [y1, y2). */
export interface Window { x1: number; y1: number; x2: number; y2: number }

/** Where an inference runs: the network input size and normalisation (the checkpoint's) and the output size [H, W]. */
export interface InferenceTarget {
  evalSize: readonly [number, number];  // [W, H]
  normalize: 'caffe' | 'imagenet';
  out: readonly [number, number];       // [H, W] of the labels / probabilities
}

/** True when a spec is today's single whole pass (the eval loader path, no softmax needed). */
export function isPlainWhole(s: InferenceSpec | undefined): boolean {
  return s === undefined || (s.mode === 'whole' && !isAugmented(s));
}

/** True when a spec asks for test-time augmentation (then sizes follow mmseg's keep_ratio). */
export function isAugmented(s: InferenceSpec): boolean {
  return s.scales !== undefined || s.flip === true;
}

const MAX_SCALE = 8;
const MAX_SCALES = 16;
const okSize = (v: readonly number[] | undefined): boolean => v !== undefined && v.length === 2 && v.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= 65535);

/** UsageError (one line naming the flag) for a spec that cannot run; called before any image is read. */
export function checkInferenceSpec(s: InferenceSpec): void {
  if (s.mode !== 'whole' && s.mode !== 'slide') throw new UsageError(`--mode expects whole or slide, got '${String(s.mode)}'`);
  if (s.mode === 'slide') {
    if (!okSize(s.crop)) throw new UsageError(`--mode slide needs --crop WxH (the window, positive integers), got ${fmt(s.crop)}`);
    if (!okSize(s.stride)) throw new UsageError(`--mode slide needs --stride WxH (the step, positive integers), got ${fmt(s.stride)}`);
  } else if (s.crop !== undefined || s.stride !== undefined) {
    throw new UsageError('--crop and --stride are for --mode slide; --mode whole runs the whole input');
  }
  if (s.scales !== undefined) {
    if (s.scales.length < 1 || s.scales.length > MAX_SCALES) throw new UsageError(`--scales expects 1 to ${MAX_SCALES} ratios, got ${s.scales.length}`);
    const bad = s.scales.find((r) => !(Number.isFinite(r) && r > 0 && r <= MAX_SCALE));
    if (bad !== undefined) throw new UsageError(`--scales expects ratios in (0, ${MAX_SCALE}] of the eval size, e.g. 0.5,0.75,1,1.25,1.5,1.75; got ${bad}`);
  }
}

const fmt = (v: readonly number[] | undefined): string => (v === undefined ? 'none' : v.join('x'));

/**
 * The spec from the command line's strings (undefined = flag absent): --mode whole|slide, --crop WxH, --stride WxH,
 * --scales a,b,c, --flip. UsageError naming the flag; the result passed checkInferenceSpec.
 */
export function inferenceFromFlags(f: { mode?: string; crop?: string; stride?: string; scales?: string; flip?: boolean }): InferenceSpec {
  const wxh = (flag: string, v: string | undefined): [number, number] | undefined => {
    if (v === undefined) return undefined;
    const m = /^([1-9]\d{0,4})x([1-9]\d{0,4})$/.exec(v);
    if (!m) throw new UsageError(`--${flag} expects WxH (e.g. 512x512), got '${v}'`);
    return [Number(m[1]), Number(m[2])];
  };
  let scales: number[] | undefined;
  if (f.scales !== undefined) {
    scales = f.scales.split(',').map((t) => {
      if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(t)) throw new UsageError(`--scales expects ratios separated by commas (e.g. 0.5,0.75,1,1.25,1.5,1.75), got '${f.scales}'`);
      return Number(t);
    });
  }
  const crop = wxh('crop', f.crop), stride = wxh('stride', f.stride);
  const s: InferenceSpec = { mode: (f.mode ?? 'whole') as InferMode, ...(crop ? { crop } : {}), ...(stride ? { stride } : {}),
    ...(scales ? { scales } : {}), ...(f.flip ? { flip: true } : {}) };
  checkInferenceSpec(s);
  return s;
}

/** mmcv.rescale_size with a (w, h) scale: the image's w×h scaled by f, the largest factor that fits both edges. */
export function rescaleSize(w: number, h: number, scale: readonly [number, number]): [number, number] {
  const f = Math.min(Math.max(...scale) / Math.max(h, w), Math.min(...scale) / Math.min(h, w));
  return [Math.trunc(w * f + 0.5), Math.trunc(h * f + 0.5)];
}

/** The passes of a spec for an image of w×h at eval size [W, H], in MultiScaleFlipAug's order (ratio, then flip). */
export function inferencePasses(s: InferenceSpec, w: number, h: number, evalSize: readonly [number, number]): Pass[] {
  const [W, H] = evalSize;
  if (!isAugmented(s)) return [{ width: W, height: H, flip: false }];
  return (s.scales ?? [1]).flatMap((r) => {
    const [pw, ph] = rescaleSize(w, h, [Math.trunc(W * r), Math.trunc(H * r)]);
    if (pw < 1 || ph < 1) throw new UsageError(`--scales ${r}: a ${w}x${h} image would be resized to ${pw}x${ph}; use a larger ratio`);
    return (s.flip ? [false, true] : [false]).map((flip) => ({ width: pw, height: ph, flip }));
  });
}

/** mmseg slide_inference's windows over an input of width×height, rows outer; crop and stride are [W, H]. */
export function slideWindows(width: number, height: number, crop: readonly [number, number], stride: readonly [number, number]): Window[] {
  const [wc, hc] = crop, [ws, hs] = stride;
  const rows = Math.floor(Math.max(height - hc + hs - 1, 0) / hs) + 1;
  const cols = Math.floor(Math.max(width - wc + ws - 1, 0) / ws) + 1;
  const out: Window[] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const y2 = Math.min(i * hs + hc, height), x2 = Math.min(j * ws + wc, width);
      out.push({ x1: Math.max(x2 - wc, 0), y1: Math.max(y2 - hc, 0), x2, y2 });
    }
  }
  return out;
}

/**
 * Sliding-window logits at the input's size: x [1, 3, H, W] → [1, K, H, W], each window's up(x1 + x2) at its own
 * size summed into place (mmseg adds F.pad(window); adding into a view is the same sum), divided by the count map.
 */
export function slideLogits(G: Segmentor, x: Tensor, crop: readonly [number, number], stride: readonly [number, number]): Tensor {
  const [, , H, W] = x.shape as [number, number, number, number];
  const windows = slideWindows(W, H, crop, stride);
  const count = new Float32Array(H * W);
  for (const w of windows) for (let y = w.y1; y < w.y2; y++) for (let i = y * W + w.x1; i < y * W + w.x2; i++) count[i]!++;
  return torch.tidy(() => torch.noGrad(() => {
    const sum = torch.zeros([1, G.numClasses, H, W], { device: G.device });
    for (const w of windows) {
      torch.tidy(() => {
        const crop = x.slice(2, w.y1, w.y2).slice(3, w.x1, w.x2);
        sum.slice(2, w.y1, w.y2).slice(3, w.x1, w.x2).add_(predictLogits(G, crop, [w.y2 - w.y1, w.x2 - w.x1]));
      });
    }
    return sum.div(torch.fromTypedArray(count, [1, 1, H, W], 'float32', G.device));
  }));
}

/** One pass's logits at `out` [H, W]: whole = up(x1 + x2) once; slide = up(slideLogits). x [1, 3, h, w]. */
export function passLogits(G: Segmentor, x: Tensor, s: InferenceSpec, out: readonly [number, number]): Tensor {
  const size: [number, number] = [out[0], out[1]];
  if (s.mode === 'whole') return predictLogits(G, x, size);
  return torch.tidy(() => F.interpolate(slideLogits(G, x, s.crop!, s.stride!), size, { alignCorners: true }));
}

/** The network input of one pass: the image resized (PIL bicubic), mirrored if asked, normalised → [1, 3, h, w]. */
function passInput(img: RgbImage, p: Pass, t: InferenceTarget, device: torch.Device): Tensor {
  const q = preprocess({ index: 0, name: 'image', image: img }, { size: [p.width, p.height], normalize: t.normalize }, { scale: 1, flip: p.flip });
  return torch.fromTypedArray(q.image, [1, 3, q.height, q.width], 'float32', device);
}

/**
 * mmseg's aug_test probabilities [1, K, H, W] at t.out for any spec: per pass softmax(logits) (mirrored back), summed
 * in pass order and divided by the number of passes (one pass: its softmax). G must be in eval mode.
 */
export function inferProbabilities(G: Segmentor, img: RgbImage, s: InferenceSpec, t: InferenceTarget): Tensor {
  const passes = inferencePasses(s, img.width, img.height, t.evalSize);
  let total: Tensor | null = null;
  try {
    for (const p of passes) {
      const prob = torch.tidy(() => torch.noGrad(() => {
        const q = F.softmax(passLogits(G, passInput(img, p, t, G.device), s, t.out), 1);
        return p.flip ? q.flip([3]) : q;
      }));
      if (total === null) total = prob;
      else { total.add_(prob); prob.dispose(); }
    }
    return total!.div_(passes.length);
  } catch (e) { total?.dispose(); throw e; }
}

/**
 * Labels [H·W] (int64, on G's device) at t.out for a spec: plain whole = argmax up(x1 + x2) as today; any other
 * spec = argmax of inferProbabilities (mmseg argmaxes the probabilities, so ties fall as there).
 */
export function inferLabels(G: Segmentor, img: RgbImage, s: InferenceSpec, t: InferenceTarget): Tensor {
  return torch.tidy(() => {
    if (isPlainWhole(s)) return passLogits(G, passInput(img, { width: t.evalSize[0], height: t.evalSize[1], flip: false }, t, G.device), s, t.out).argmax(1).flatten(0, 2);
    return inferProbabilities(G, img, s, t).argmax(1).flatten(0, 2);
  });
}
