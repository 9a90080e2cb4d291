// Prediction for one RGB image: run at the model's eval size, upsample C1/C2 logits to the input size, argmax of
// p1 + p2 (§1.3), and the C1/C2 disagreement map M (§2.3) — what CLAN adapts with, shown per pixel. Another inference
// spec (sliding windows, multi-scale + flip: infer/inference.ts) changes the label; M stays the eval-size pass's.
// An image larger than BAND_FLOATS allows is upsampled in column bands (inference.ts bandedUp): the same labels, and M
// within a float32 rounding (softmax's vectorised and scalar exp differ in the last bit, and which pixels fall in a
// vector's tail depends on the band's width).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { preprocess } from '../data/transforms.js';
import type { RgbImage } from '../data/image.js';
import { disagreementMap, predictHeads, type Segmentor } from '../models/segmentor.js';
import { BAND_FLOATS, bandedUp, checkInferenceSpec, inferLabels, isPlainWhole, type InferenceSpec } from './inference.js';
import type { InferenceModel } from './model.js';

export interface Prediction { label: Uint8Array; disagreement: Float32Array; width: number; height: number }

export function predictImage(m: InferenceModel, img: RgbImage, name = 'image', spec?: InferenceSpec, bandFloats = BAND_FLOATS): Prediction {
  if (spec) checkInferenceSpec(spec);
  const p = preprocess({ index: 0, name, image: img }, { size: m.evalSize, normalize: m.normalize }, { scale: 1, flip: false });
  const out: [number, number] = [img.height, img.width];
  return torch.tidy(() => torch.noGrad(() => {
    const x = torch.fromTypedArray(p.image, [1, 3, p.height, p.width], 'float32', m.G.device);
    const plain = isPlainWhole(spec);
    const banded = m.G.numClasses * img.width * img.height > bandFloats;
    const heads = banded ? bandedHeads(m.G, x, out, plain, bandFloats) : wholeHeads(m.G, x, out, plain);
    const labels = heads.label ?? inferLabels(m.G, img, spec!, { evalSize: m.evalSize, normalize: m.normalize, out });
    return { label: labels.to('uint8').toTypedArray<'uint8'>(), disagreement: heads.disagreement, width: img.width, height: img.height };
  }));
}

/** Labels (argmax up(x1 + x2); null unless plain) and M at out [H, W], each head's [1, K, H, W] at once. */
function wholeHeads(G: Segmentor, x: Tensor, out: [number, number], plain: boolean): { label: Tensor | null; disagreement: Float32Array } {
  const heads = predictHeads(G, x, out);                                             // each [1, K, H, W]
  const disagreement = disagreementMap(heads.x1, heads.x2).toTypedArray<'float32'>();
  const label = plain ? heads.logits.argmax(1) : null;
  for (const t of [heads.x1, heads.x2, heads.logits]) t.dispose();                 // before another spec's passes
  return { label, disagreement };
}

/**
 * The same in column bands: [x1, x2, x1 + x2] stacked on the class axis ([1, 3K, h, w]; bilinear upsampling treats
 * each channel alone) and upsampled a band [1, 3K, H, bw] at a time; M [1, 1, H, bw] and the labels [1, 1, H, bw]
 * per band, joined along the width.
 */
function bandedHeads(G: Segmentor, x: Tensor, out: [number, number], plain: boolean,
  bandFloats: number): { label: Tensor | null; disagreement: Float32Array } {
  const K = G.numClasses;
  const [a, b] = G.forward(x);                                                        // each [1, K, h, w]
  const labels: Tensor[] = [];
  try {
    const M = bandedUp(torch.cat([a, b, a.add(b)], 1), out, G.alignCorners ?? true, (t) => {
      if (plain) labels.push(torch.keep(t.slice(1, 2 * K, 3 * K).argmax(1, true).to('uint8')));
      return disagreementMap(t.slice(1, 0, K), t.slice(1, K, 2 * K));
    }, bandFloats / 3);
    const disagreement = M.toTypedArray<'float32'>();
    M.dispose();
    return { label: plain ? torch.cat(labels, 3).flatten(0, 3) : null, disagreement };
  } finally { for (const l of labels) l.dispose(); }
}
