// Prediction for one RGB image: run at the model's eval size, upsample C1/C2 logits to the input size, argmax of
// p1 + p2 (§1.3), and the C1/C2 disagreement map M (§2.3) — what CLAN adapts with, shown per pixel.
import * as torch from '../torch/index.js';
import { preprocess } from '../data/transforms.js';
import type { RgbImage } from '../data/image.js';
import { disagreementMap } from '../methods/losses.js';
import type { InferenceModel } from '../train/inference-model.js';

export interface Prediction { label: Uint8Array; disagreement: Float32Array; width: number; height: number }

export function predictImage(m: InferenceModel, img: RgbImage, name = 'image'): Prediction {
  const p = preprocess({ index: 0, name, image: img }, { size: m.evalSize, normalize: m.normalize }, { scale: 1, flip: false });
  return torch.tidy(() => torch.noGrad(() => {
    const x = torch.fromTypedArray(p.image, [1, 3, p.height, p.width], 'float32', m.G.device);
    const [a, b] = m.G.forward(x);
    const size: [number, number] = [img.height, img.width];
    const x1 = torch.F.interpolate(a, size, { alignCorners: true });
    const x2 = torch.F.interpolate(b, size, { alignCorners: true });
    const label = x1.add(x2).argmax(1).to('uint8').toTypedArray<'uint8'>();
    const disagreement = disagreementMap(x1, x2).toTypedArray<'float32'>();
    return { label, disagreement, width: img.width, height: img.height };
  }));
}
