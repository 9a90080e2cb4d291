// Weights that give O(1…10) logits on 0…255 images, for benchmarks and parity tests of whole networks: the official
// init (N(0, 0.01) convs) gives logits near 0, which would make any two engines "agree" and any argmax a tie.
import * as torch from '../torch/index.js';
import { init, BatchNorm2d, Conv2d, LayerNorm, Linear, type Module } from '../torch/index.js';

/**
 * Kaiming-normal convs (the first conv divided by 128 for the input range), biases N(0, 0.1), random BN running
 * statistics, and each residual branch's last BN scaled to 0.1…0.3 so 23 blocks of resnet101 do not blow up;
 * Linear and LayerNorm layers as plausibleTransformerLayer (the ResNets and VGG have none: their draws are unchanged).
 */
export function plausibleInit(G: Module, seed: number): void {
  torch.manualSeed(seed);
  const names = new Set(G.namedModules().map(([n]) => n));
  torch.noGrad(() => {
    for (const [name, m] of G.namedModules()) {
      if (m instanceof Conv2d) {
        const [, i, kh, kw] = m.weight.shape as [number, number, number, number];
        init.normal_(m.weight, 0, Math.sqrt(2 / (i * kh * kw)) / (i === 3 ? 128 : 1));
        if (m.bias) init.normal_(m.bias, 0, 0.1);
      } else if (m instanceof BatchNorm2d) {
        init.normal_(m.runningMean, 0, 0.1);
        init.uniform_(m.runningVar, 0.5, 2);
        const last = /\.bn3$/.test(name) || (/layer\d\.\d+\.bn2$/.test(name) && !names.has(name.replace(/bn2$/, 'bn3')));
        if (m.weight) init.uniform_(m.weight, last ? 0.1 : 0.5, last ? 0.3 : 1.5);
        if (m.bias) init.normal_(m.bias, 0, 0.1);
      } else if (m instanceof Linear || m instanceof LayerNorm) {
        plausibleTransformerLayer(m);
      }
    }
  });
}

/** Transformer layers (the MiT segmentors): Linear N(0, 1/in) so attention is far from uniform, LayerNorm scales 0.5…1.5. */
function plausibleTransformerLayer(m: Linear | LayerNorm): void {
  if (m instanceof Linear) init.normal_(m.weight, 0, Math.sqrt(1 / m.inFeatures));
  else init.uniform_(m.weight, 0.5, 1.5);
  if (m.bias) init.normal_(m.bias, 0, 0.1);
}
