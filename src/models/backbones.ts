// Backbones by name (timm style), as plain data: the config schema and the CLI read the names without loading the
// engine; models/registry.ts builds the network. A new backbone is one line here (docs/contributing.md).
import { Registry } from '../util/registry.js';

/** The shape of a DeepLab-v2 ResNet generator (docs/method.md §1.1). */
export interface GeneratorSpec {
  block: 'bottleneck' | 'basic';
  layers: [number, number, number, number]; // blocks per stage
  width: number;                            // stem/layer1 planes (64 official)
  stemPool?: boolean;                       // the stem's 3×3/2 max-pool (official: true); false → output stride 4
  asppDilations?: number[];                 // ASPP branch dilations (official [6, 12, 18, 24], sized for ~65×129 maps)
  numClasses: number;
}

export const GENERATORS = new Registry<Omit<GeneratorSpec, 'numClasses'>>('backbone');
GENERATORS.register('resnet101', { block: 'bottleneck', layers: [3, 4, 23, 3], width: 64 }); // official CLAN (§1.1)
GENERATORS.register('resnet50', { block: 'bottleneck', layers: [3, 4, 6, 3], width: 64 });
GENERATORS.register('resnet18', { block: 'basic', layers: [2, 2, 2, 2], width: 64 });      // 512 channels into the heads
GENERATORS.register('tiny', { block: 'bottleneck', layers: [1, 1, 1, 1], width: 8 });       // demo: same shape, 256 channels into the heads
// demo (cpu preset): tiny without the stem max-pool, so 64×64 scenes give 16×16 features (OS 4) at native size.
// ASPP dilations scaled to that map: with the official 18 and 24 every off-centre tap reads padding, and CLAN's
// weight-discrepancy loss was met by those dead weights growing anti-parallel (README, "The cpu preset").
GENERATORS.register('tiny-os4', { block: 'bottleneck', layers: [1, 1, 1, 1], width: 8, stemPool: false, asppDilations: [2, 4, 6, 8] });
GENERATORS.register('micro', { block: 'bottleneck', layers: [1, 1, 1, 1], width: 4 });      // parity fixtures: 128 channels
