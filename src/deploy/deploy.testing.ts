// Test helper for the deploy tests: a converted-weights file of a model whose logits are O(1…10) (infer/plausible.ts).
import type { HostTensor } from '../torch/dtype.js';
import { writeSafetensorsFile } from '../io/safetensors.js';
import { sealedMetadata } from '../io/checkpoint.js';
import { plausibleModel } from '../infer/plausible.js';

/** A converted-weights file (format clan-weights, sealed) of a plausible model: what `clan convert` writes. */
export function writePlausibleWeights(path: string, backbone: string, numClasses: number, seed: number): void {
  const G = plausibleModel(backbone, numClasses, seed, [1024, 512]).G;
  const sd = new Map<string, HostTensor>([...G.stateDict()].map(([k, v]) => [`G.${k}`, v.toHost()]));
  G.dispose();
  writeSafetensorsFile(path, sd, sealedMetadata(sd, { format: 'clan-weights', backbone, num_classes: String(numClasses) }));
}
