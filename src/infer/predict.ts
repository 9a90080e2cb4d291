// Prediction for one RGB image: run at the model's eval size, upsample C1/C2 logits to the input size, argmax of
// p1 + p2 (§1.3), and the C1/C2 disagreement map M (§2.3) — what CLAN adapts with, shown per pixel.
import * as torch from '../torch/index.js';
import { preprocess } from '../data/transforms.js';
import type { RgbImage } from '../data/image.js';
import { disagreementMap, predictHeads } from '../models/segmentor.js';
import type { InferenceModel } from './model.js';

export interface Prediction { label: Uint8Array; disagreement: Float32Array; width: number; height: number }

export function predictImage(m: InferenceModel, img: RgbImage, name = 'image'): Prediction {
  const p = preprocess({ index: 0, name, image: img }, { size: m.evalSize, normalize: m.normalize }, { scale: 1, flip: false });
  return torch.tidy(() => torch.noGrad(() => {
    const x = torch.fromTypedArray(p.image, [1, 3, p.height, p.width], 'float32', m.G.device);
    const { logits, x1, x2 } = predictHeads(m.G, x, [img.height, img.width]);
    const label = logits.argmax(1).to('uint8').toTypedArray<'uint8'>();
    const disagreement = disagreementMap(x1, x2).toTypedArray<'float32'>();
    return { label, disagreement, width: img.width, height: img.height };
  }));
}
