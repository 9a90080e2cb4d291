// An inference model with O(1…10) logits (models/plausible.ts) and no checkpoint behind it: for benchmarks
// (bench infer) and for parity tests of whole networks across engines.
import { createSegmentor } from '../models/registry.js';
import { plausibleInit } from '../models/plausible.js';
import { defaultPalette, type InferenceModel } from './model.js';

export function plausibleModel(backbone: string, numClasses: number, seed: number, evalSize: [number, number],
  normalize: 'caffe' | 'imagenet' = 'caffe'): InferenceModel {
  const G = createSegmentor(backbone, numClasses);
  plausibleInit(G, seed);
  G.eval();
  return { G, path: `/tmp/${backbone}.ckpt`, backbone, numClasses, classNames: Array.from({ length: numClasses }, (_, i) => `class${i}`),
    palette: defaultPalette(numClasses), normalize, evalSize, step: 7, config: null };
}
