// Test helpers for the deploy tests: an inference model with weights that give O(1…10) logits (random init's
// N(0, 0.01) convs give logits near 0, which would make any engine "match"), and the inputs the tests run on.
import * as torch from '../torch/index.js';
import { init, BatchNorm2d, Conv2d } from '../torch/index.js';
import { createGenerator } from '../models/registry.js';
import { defaultPalette, type InferenceModel } from '../infer/model.js';

/**
 * Kaiming-normal convs (the first conv divided by 128 for the 0…255 input range), random BN running statistics,
 * and each residual branch's last BN scaled by 0.2 so 23 blocks of resnet101 do not blow up.
 */
export function plausibleModel(backbone: string, numClasses: number, seed: number, evalSize: [number, number],
  normalize: 'caffe' | 'imagenet' = 'caffe'): InferenceModel {
  torch.manualSeed(seed);
  const G = createGenerator(backbone, numClasses);
  torch.noGrad(() => {
    for (const [name, m] of G.namedModules()) {
      if (m instanceof Conv2d) {
        const [, i, kh, kw] = m.weight.shape as [number, number, number, number];
        init.normal_(m.weight, 0, Math.sqrt(2 / (i * kh * kw)) / (i === 3 ? 128 : 1));
        if (m.bias) init.normal_(m.bias, 0, 0.1);
      } else if (m instanceof BatchNorm2d) {
        init.normal_(m.runningMean, 0, 0.1);
        init.uniform_(m.runningVar, 0.5, 2);
        const last = /\.bn3$/.test(name) || (/layer\d\.\d+\.bn2$/.test(name) && !G.namedModules().some(([n]) => n === name.replace('bn2', 'bn3')));
        if (m.weight) init.uniform_(m.weight, last ? 0.1 : 0.5, last ? 0.3 : 1.5);
        if (m.bias) init.normal_(m.bias, 0, 0.1);
      }
    }
  });
  G.eval();
  return { G, path: `/tmp/${backbone}.ckpt`, backbone, numClasses, classNames: Array.from({ length: numClasses }, (_, i) => `class${i}`),
    palette: defaultPalette(numClasses), normalize, evalSize, step: 7 };
}
