// Prediction for one RGB image: run at the model's eval size, upsample C1/C2 logits to the input size, argmax of
// p1 + p2 (§1.3), and the C1/C2 disagreement map M (§2.3) — what CLAN adapts with, shown per pixel. Another inference
// spec (sliding windows, multi-scale + flip: infer/inference.ts) changes the label; M stays the eval-size pass's.
import * as torch from '../torch/index.js';
import { preprocess } from '../data/transforms.js';
import type { RgbImage } from '../data/image.js';
import { disagreementMap, predictHeads } from '../models/segmentor.js';
import { checkInferenceSpec, inferLabels, isPlainWhole, type InferenceSpec } from './inference.js';
import type { InferenceModel } from './model.js';

export interface Prediction { label: Uint8Array; disagreement: Float32Array; width: number; height: number }

export function predictImage(m: InferenceModel, img: RgbImage, name = 'image', spec?: InferenceSpec): Prediction {
  if (spec) checkInferenceSpec(spec);
  const p = preprocess({ index: 0, name, image: img }, { size: m.evalSize, normalize: m.normalize }, { scale: 1, flip: false });
  return torch.tidy(() => torch.noGrad(() => {
    const x = torch.fromTypedArray(p.image, [1, 3, p.height, p.width], 'float32', m.G.device);
    const heads = predictHeads(m.G, x, [img.height, img.width]);                   // each [1, K, H, W]
    const disagreement = disagreementMap(heads.x1, heads.x2).toTypedArray<'float32'>();
    const plain = isPlainWhole(spec) ? heads.logits.argmax(1) : null;
    for (const t of [heads.x1, heads.x2, heads.logits]) t.dispose();             // before another spec's passes
    const labels = plain ?? inferLabels(m.G, img, spec!, { evalSize: m.evalSize, normalize: m.normalize, out: [img.height, img.width] });
    return { label: labels.to('uint8').toTypedArray<'uint8'>(), disagreement, width: img.width, height: img.height };
  }));
}
