// Named presets; every value is commented with where it comes from. Configs and CLI flags compose on top.
import type { TrainConfigInput } from './schema.js';

type Preset = Partial<TrainConfigInput> & { description: string };

export const PRESETS: Record<string, Preset> = {
  // docs/method.md §3: the official GTA5 → Cityscapes run
  'gta5-cityscapes': {
    description: 'official CLAN GTA5 → Cityscapes: ResNet-101, 1280×720 / 1024×512, λ_local 40, 100k iterations',
    backbone: 'resnet101',
    source: { data: 'gta5:data/GTA5', size: [1280, 720] },                       // INPUT_SIZE_SOURCE
    target: { data: 'cityscapes:data/Cityscapes:train', size: [1024, 512] },     // INPUT_SIZE_TARGET
    targetVal: { data: 'cityscapes:data/Cityscapes:val', size: [1024, 512], protocol: 19 }, // §5.3
    iters: 100000,                                                               // NUM_STEPS
    checkpointEvery: 2000,                                                       // SAVE_PRED_EVERY
    hyper: { warmup: 5000, lrG: 2.5e-4, adversarial: { lrD: 1e-4, lambdaAdv: 0.001 },
      clan: { preheat: 5000, lambdaLocal: 40, lambdaWeight: 0.01, epsilon: 0.4 } },
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
    hyper: { warmup: 5000, clan: { preheat: 5000, lambdaLocal: 10 } },
  },
  // §3: the official optimizer's duplicated backbone parameters (×3 block convs, ×4 downsample convs), on purpose
  'official-exact': {
    description: 'gta5-cityscapes plus the official optimizer quirk: backbone parameters listed several times (PyTorch 1.0 SGD semantics)',
    extends: 'gta5-cityscapes',
    hyper: { officialDuplicateParams: true },
  },
  // docs/method.md §9.1: ADVENT's AdvEnt GTA5 → Cityscapes run (valeoai/ADVENT advent/domain_adaptation/config.py and
  // train_UDA.py) on our adapter; `--method minent` on top gives its MinEnt run. Not ADVENT's: our two layer4 heads (no
  // layer3 aux head, aux λs unused) and D's output upsampled to the loss size (§1.4).
  advent: {
    description: 'ADVENT (AdvEnt; --method minent: MinEnt) GTA5 → Cityscapes: official code values, poly over 250k iterations stopped at 120k, no warm-up, no augmentation',
    extends: 'gta5-cityscapes',
    method: 'advent',
    source: { data: 'gta5:data/GTA5', size: [1280, 720], randomScale: false, flip: false },  // INPUT_SIZE_SOURCE; ADVENT's loaders do not augment
    target: { data: 'cityscapes:data/Cityscapes:train', size: [1024, 512], randomScale: false, flip: false }, // INPUT_SIZE_TARGET
    iters: 120000,                                    // EARLY_STOP: train_advent/train_minent run range(EARLY_STOP)
    checkpointEvery: 2000,                            // SAVE_PRED_EVERY
    hyper: {
      maxIter: 250000,                                // MAX_ITERS: the poly horizon
      warmup: 0,                                      // none: lr_poly from i = 0
      lrG: 2.5e-4, momentum: 0.9, weightDecay: 5e-4,  // LEARNING_RATE, MOMENTUM, WEIGHT_DECAY (heads at 10×, as ours)
      segLoss: 'ce',                                  // cross_entropy_2d, LAMBDA_SEG_MAIN 1.0 (on each of our two heads)
      adversarial: {
        lrD: 1e-4, beta1D: 0.9, beta2D: 0.99,         // LEARNING_RATE_D, Adam betas
        lambdaAdv: 0.001,                             // LAMBDA_ADV_MAIN (LAMBDA_ADV_AUX 0.0002: no aux head here)
        damping: false,                               // ADVENT stops early instead
        halveDLoss: true,                             // loss_d_main / 2 for source and target
      },
      minent: { lambdaEnt: 0.001, damping: false },   // LAMBDA_ENT_MAIN (LAMBDA_ENT_AUX 0.0002: no aux head here)
    },
  },
  // docs/method.md §12: DAFormer's GTA5 → Cityscapes run (lhoyer/DAFormer configs/daformer/
  // gta2cs_uda_warm_fdthings_rcs_croppl_a999_daformer_mitb5_s0.py and its _base_ files) on our loaders: whole resized
  // images (no 512×512 random crop here), no rare-class sampling. The feature distance needs --init (an ImageNet mit_b5).
  daformer: {
    description: 'DAFormer GTA5 → Cityscapes: mit-b5 + DAFormer head, AdamW 6e-5 (head ×10, wd 0.01), 1500 warm-up then poly 1, EMA 0.999, 40k iterations, batch 2; pass --init',
    method: 'daformer',
    backbone: 'mit-b5',                                                          // mit_b5 + daformer_sepaspp head
    source: { data: 'gta5:data/GTA5', size: [1280, 720], randomScale: false },   // Resize (1280, 720), RandomFlip 0.5
    target: { data: 'cityscapes:data/Cityscapes:train', size: [1024, 512], randomScale: false }, // Resize (1024, 512)
    targetVal: { data: 'cityscapes:data/Cityscapes:val', size: [1024, 512], protocol: 19 },
    normalize: 'imagenet',                                                       // img_norm_cfg: ImageNet mean/std, RGB
    iters: 40000,                                                                // runner max_iters
    batchSize: 2,                                                                // samples_per_gpu 2
    checkpointEvery: 4000,                                                       // checkpoint_config interval, evaluation interval
    hyper: {
      optimizerG: 'adamw', lrG: 6e-5, headLrMult: 10, weightDecay: 0.01, beta1G: 0.9, beta2G: 0.999, // optimizer + paramwise_cfg
      warmup: 1500, power: 1,                                                    // poly10warm (warmup_ratio: hyper.daformer)
      segLoss: 'ce',                                                             // mmseg CrossEntropyLoss
      dacs: { emaAlpha: 0.999, pseudoThreshold: 0.968, lambdaMix: 1, pseudoWeight: 'share' }, // uda alpha, pseudo_threshold
    },
  },
  // What trains on 2 CPU cores in minutes (README, "The cpu preset", says why each value differs from the official):
  cpu: {
    description: 'digitscapes on 2 CPU cores: tiny-os4 backbone at 64×64, batch 8, Adam, 1500 iterations',
    backbone: 'tiny-os4',                                               // 1 bottleneck per stage, width 8, no stem pool: 16×16 features
    source: { data: 'digitscapes:source', size: [64, 64], randomScale: false }, // native scene size
    target: { data: 'digitscapes:target', size: [64, 64], randomScale: false },
    targetVal: { data: 'digitscapes:val', size: [64, 64] },               // protocol: all 11 classes
    iters: 1500,                                                        // warm-up and preheat at iters/20 = 75
    // 8 source + 8 target images: BN statistics of 2 images did not carry to eval
    batchSize: 8,
    checkpointEvery: 500,
    logEvery: 20,
    hyper: {
      optimizerG: 'adam', // SGD (lr 2.5e-3 … 1e-2) did not train the from-scratch net in 1500 steps
      lrG: 1e-3,          // Adam's usual step
      headLrMult: 1,      // Adam normalises per parameter; the 10× head multiple is an SGD-ism
      weightDecay: 0,     // as the sweep that chose these values
      adversarial: {
        lrD: 1e-4,        // official
        lambdaAdv: 0.05,  // ×50 the official 0.001: the adversarial signal must act within 1500 steps (clan, adversarial, advent)
        ndf: 32,          // half-width D for 11 input classes
      },
      minent: {
        lambdaEnt: 0.05,  // ×50 ADVENT's 0.001, the same rule. Measured (docs/method.md §9.1): it lowers the target entropy by
                          // a third by step 1500 where 0.001 barely moves it; 0.5 collapses it to ~0 and mIoU with it (11.5)
      },
      clan: {
        lambdaLocal: 10,  // the SYNTHIA value (GTA5 uses 40)
        epsilon: 1,       // official 0.4: at 0.4 confident-but-wrong target pixels (photo texture as '8') got too little adversarial push
      },
      dacs: {
        pseudoWeight: 'pixel', // DACS's batch-share weighting trained the photo backgrounds' digits as background here
                          // (seed 0, 1500 its: 13.91 vs 26.69 per pixel; docs/method.md §11)
      },
      mic: {              // docs/method.md §14, measured on seed 0 (val) of digitscapes, 1500 its
        bnStats: 'keep',  // the masked batch (70 % gray blocks) pulled the BN running statistics away from real images:
                          // 23.54 kept vs 21.43 updated
        pseudoThreshold: 0.8, // MIC's mask_pseudo_threshold: at DACS's 0.968 the masked loss saw background alone;
                          // 0.8 gave 26.10, 0.5 21.79
      },
    },
  },
};
