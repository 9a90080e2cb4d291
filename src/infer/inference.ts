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
import { inferencePasses, isPlainWhole, slideWindows, windowCounts, type InferenceSpec, type Pass } from '../data/inference-spec.js';
import { BAND_FLOATS } from './cost.js';
export { BAND_FLOATS } from './cost.js';

export {
  WHOLE, checkInferenceSpec, inferencePasses, isAugmented, isPlainWhole, rescaleSize, slideWindows, windowCounts,
  type InferMode, type InferenceSpec, type Pass, type Window,
} from '../data/inference-spec.js';

/** Where an inference runs: the network input size and normalisation (the checkpoint's) and the output size [H, W]. */
export interface InferenceTarget {
  evalSize: readonly [number, number];  // [W, H]
  normalize: 'caffe' | 'imagenet';
  out: readonly [number, number];       // [H, W] of the labels / probabilities
}

/**
 * Sliding-window logits at the input's size: x [1, 3, H, W] → [1, K, H, W], each window's up(x1 + x2) at its own
 * size summed into place (mmseg adds F.pad(window); adding into a view is the same sum), divided by the count map.
 */
export function slideLogits(G: Segmentor, x: Tensor, crop: readonly [number, number], stride: readonly [number, number]): Tensor {
  const [, , H, W] = x.shape as [number, number, number, number];
  const windows = slideWindows(W, H, crop, stride);
  const count = windowCounts(W, H, windows);                                         // [H·W]
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

/**
 * up(low) at `size` [H, W] (bilinear, align_corners), column band by column band: f(band [1, K, H, bw]) → [1, c, H, bw],
 * the bands joined along the width → [1, c, H, W]. Bit-equal to up(low) whole: PyTorch's bilinear kernel interpolates
 * along W inside (t = w0·x0 + w1·x1), then along H (h0·t0 + h1·t1), so `wide` = up to [h, W] is each row's t exactly
 * (the H weights 1 and 0), and up(wide[:, :, :, band]) to [H, bw] applies the same H weights (the W ones 1 and 0) to
 * the same t (inference.test.ts compares the two).
 */
export function bandedUp(low: Tensor, size: readonly [number, number], alignCorners: boolean, f: (band: Tensor) => Tensor,
  bandFloats = BAND_FLOATS): Tensor {
  const parts: Tensor[] = [];
  try {
    forEachBand(low, size, alignCorners, (band) => { parts.push(torch.keep(f(band))); }, bandFloats);
    return torch.cat(parts, 3);
  } finally { for (const p of parts) p.dispose(); }
}

/**
 * The bands of bandedUp one at a time: `visit(band [1, K, H, x1 − x0], x0, x1)` for each column band left to right,
 * inside its own tidy scope (what it returns is not kept), so a caller can copy each band out to the host and hold
 * nothing of the image's size on the engine.
 */
export function forEachBand(low: Tensor, size: readonly [number, number], alignCorners: boolean,
  visit: (band: Tensor, x0: number, x1: number) => void, bandFloats = BAND_FLOATS): void {
  const [, K, h] = low.shape as [number, number, number, number];
  const [H, W] = size;
  torch.tidy(() => {
    const wide = F.interpolate(low, [h, W], { alignCorners });                        // [1, K, h, W]
    const bw = Math.max(1, Math.floor(bandFloats / (K * H)));
    for (let x0 = 0; x0 < W; x0 += bw) {
      const x1 = Math.min(W, x0 + bw);
      torch.tidy(() => { visit(F.interpolate(wide.slice(3, x0, x1), [H, x1 - x0], { alignCorners }), x0, x1); });
    }
  });
}

/**
 * Labels [H·W] of one whole pass: argmax up(x1 + x2) at out [H, W]. Up to BAND_FLOATS the [1, K, H, W] logits at once
 * (int64, as ever); above, in column bands (uint8: K ≤ 256 classes, label PNGs are 8-bit), the same labels.
 */
export function wholeLabels(G: Segmentor, x: Tensor, out: readonly [number, number], bandFloats = BAND_FLOATS): Tensor {
  const size: [number, number] = [out[0], out[1]];
  if (G.numClasses * out[0] * out[1] <= bandFloats || G.numClasses > 256) return predictLogits(G, x, size).argmax(1).flatten(0, 2);
  return torch.tidy(() => torch.noGrad(() => {
    const [a, b] = G.forward(x);                                                       // each [1, K, h, w]
    return bandedUp(a.add(b), size, G.alignCorners ?? true, (t) => t.argmax(1, true).to('uint8'), bandFloats).flatten(0, 3);
  }));
}

/** One pass's logits at `out` [H, W]: whole = up(x1 + x2) once; slide = up(slideLogits). x [1, 3, h, w]. */
export function passLogits(G: Segmentor, x: Tensor, s: InferenceSpec, out: readonly [number, number]): Tensor {
  const size: [number, number] = [out[0], out[1]];
  if (s.mode === 'whole') return predictLogits(G, x, size);
  return torch.tidy(() => F.interpolate(slideLogits(G, x, s.crop!, s.stride!), size, { alignCorners: G.alignCorners ?? true }));
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
    if (isPlainWhole(s)) {
      return wholeLabels(G, passInput(img, { width: t.evalSize[0], height: t.evalSize[1], flip: false }, t, G.device), t.out);
    }
    return inferProbabilities(G, img, s, t).argmax(1).flatten(0, 2);
  });
}
