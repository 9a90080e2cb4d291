// Test helpers for the deploy tests: an inference model whose logits are O(1…10) (models/plausible.ts).
import { createGenerator } from '../models/registry.js';
import { plausibleInit } from '../models/plausible.js';
import { defaultPalette, type InferenceModel } from '../infer/model.js';
import type { HostTensor } from '../torch/dtype.js';
import { writeSafetensorsFile } from '../io/safetensors.js';
import { sealedMetadata } from '../io/checkpoint.js';

export function plausibleModel(backbone: string, numClasses: number, seed: number, evalSize: [number, number],
  normalize: 'caffe' | 'imagenet' = 'caffe'): InferenceModel {
  const G = createGenerator(backbone, numClasses);
  plausibleInit(G, seed);
  G.eval();
  return { G, path: `/tmp/${backbone}.ckpt`, backbone, numClasses, classNames: Array.from({ length: numClasses }, (_, i) => `class${i}`),
    palette: defaultPalette(numClasses), normalize, evalSize, step: 7, config: null };
}

/** A converted-weights file (format clan-weights, sealed) of a plausible model: what `clan convert` writes. */
export function writePlausibleWeights(path: string, backbone: string, numClasses: number, seed: number): void {
  const G = plausibleModel(backbone, numClasses, seed, [1024, 512]).G;
  const sd = new Map<string, HostTensor>([...G.stateDict()].map(([k, v]) => [`G.${k}`, v.toHost()]));
  G.dispose();
  writeSafetensorsFile(path, sd, sealedMetadata(sd, { format: 'clan-weights', backbone, num_classes: String(numClasses) }));
}
