// Named presets; every value is commented with where it comes from. Configs and CLI flags compose on top.
import type { TrainConfigInput } from './schema.js';

type Preset = Partial<TrainConfigInput> & { description: string };

export const PRESETS: Record<string, Preset> = {
  // clan-reference.md §3: the official GTA5 → Cityscapes run
  'gta5-cityscapes': {
    description: 'official CLAN GTA5 → Cityscapes: ResNet-101, 1280×720 / 1024×512, λ_local 40, 100k iterations',
    backbone: 'resnet101',
    source: { data: 'gta5:data/GTA5', size: [1280, 720] },                       // INPUT_SIZE_SOURCE
    target: { data: 'cityscapes:data/Cityscapes:train', size: [1024, 512] },     // INPUT_SIZE_TARGET
    targetVal: { data: 'cityscapes:data/Cityscapes:val', size: [1024, 512], protocol: 19 }, // §5.3
    iters: 100000,                                                               // NUM_STEPS
    checkpointEvery: 2000,                                                       // SAVE_PRED_EVERY
    hyper: { warmup: 5000, preheat: 5000, lambdaLocal: 40, lrG: 2.5e-4, lrD: 1e-4, lambdaAdv: 0.001, lambdaWeight: 0.01, epsilon: 0.4 },
  },
  // §3 + §5.2: SYNTHIA settings (the official file needs SOURCE edited; here they are explicit)
  'synthia-cityscapes': {
    description: 'official CLAN SYNTHIA → Cityscapes: ResNet-101, 1280×760 / 1024×512, λ_local 10, 16/13-class protocol',
    backbone: 'resnet101',
    source: { data: 'synthia:data/SYNTHIA', size: [1280, 760] },
    target: { data: 'cityscapes:data/Cityscapes:train', size: [1024, 512] },
    targetVal: { data: 'cityscapes:data/Cityscapes:val', size: [1024, 512], protocol: 16 },
    iters: 100000,
    checkpointEvery: 2000,
    hyper: { warmup: 5000, preheat: 5000, lambdaLocal: 10 },
  },
  // §3: the official optimizer's duplicated backbone parameters (×3 block convs, ×4 downsample convs), on purpose
  'official-exact': {
    description: 'gta5-cityscapes plus the official optimizer quirk: backbone parameters listed several times (PyTorch 1.0 SGD semantics)',
    extends: 'gta5-cityscapes',
    hyper: { officialDuplicateParams: true },
  },
  // What trains on 2 CPU cores in minutes (README, "The cpu preset", says why each value differs from the official):
  cpu: {
    description: 'digitscapes on 2 CPU cores: tiny backbone, scenes upsampled to 128×128, 1500 iterations, larger lr and λ_adv',
    backbone: 'tiny',                                                   // 1 block per stage, width 8: ~40 ms/step on 2 cores
    source: { data: 'digitscapes:source', size: [128, 128] },           // 64×64 scenes ×2, so OS-8 features are 16×16
    target: { data: 'digitscapes:target', size: [128, 128] },
    targetVal: { data: 'digitscapes:val', size: [128, 128], protocol: 19 }, // protocol 19 = all 11 classes here
    iters: 1500,                                                        // ≈ 9 minutes for the three methods; warm-up and preheat at iters/20 = 75
    batchSize: 2,                                                       // 2 source + 2 target images per step
    checkpointEvery: 500,
    logEvery: 20,
    hyper: {
      lrG: 2.5e-3,        // ×10 the official 2.5e-4: no pretrained backbone, a few thousand steps instead of 100k
      lrD: 1e-4,          // official
      lambdaAdv: 0.01,    // ×10 the official 0.001: the adversarial signal must act within 2000 steps
      lambdaLocal: 10,    // the SYNTHIA value (GTA5 uses 40): ε + λ·M stays O(1) on 11 classes with large M early on
      ndf: 32,            // half-width D for 11 input classes
    },
  },
};
