// Every hyper-parameter of the methods, once, as DAFormer's `uda=dict(type=…, …)` does it: the common knobs every
// method reads (schedule, G's optimizer, the segmentation loss) at the top of `hyper:`, then one section per method
// that owns knobs of its own (`hyper.clan.lambdaLocal`, `hyper.dacs.emaAlpha`, …). Each section is registered with its
// method (methods/registry.ts: `section` it owns, `reads` the sections it uses), so setting a key the chosen method
// does not read is an error naming the key's owner (config/load.ts). The zod schemas below are the types, defaults,
// validation, `clan train --help` and docs/config.md. Values are the official code's (docs/method.md §3) unless the
// description says otherwise.
import { z } from 'zod';

/** Read by every method: the schedule, G's optimizer and the segmentation loss. */
export const commonHyper = {
  maxIter: z.number().int().positive().optional()
    .describe('poly-lr and damping horizon; default: the run\'s iters (official 100000, §3)'),
  warmup: z.number().int().nonnegative().nullable().default(null)
    .describe('linear lr warm-up iterations; null = iters/20 (official 5000 of 100000, §3)'),
  power: z.number().positive().default(0.9).describe('poly decay exponent (official, §3)'),
  optimizerG: z.enum(['sgd', 'adam', 'adamw']).default('sgd')
    .describe('G\'s optimizer: the official SGD, Adam (not official; short from-scratch runs, the cpu preset), or AdamW with weightDecay decoupled and no decay on a MiT backbone\'s norm and pos_block parameters (DAFormer\'s paramwise_cfg, §12)'),
  lrG: z.number().positive().default(2.5e-4).describe('learning rate of the backbone (official, §3)'),
  headLrMult: z.number().positive().default(10).describe('C1/C2 train at this multiple of lrG (official, §3)'),
  momentum: z.number().min(0).max(1).default(0.9).describe('SGD momentum of G (official, §3)'),
  weightDecay: z.number().min(0).default(5e-4).describe('L2 weight decay of G (official, §3)'),
  beta1G: z.number().min(0).max(1).default(0.9).describe('Adam β1 of G when optimizerG is adam or adamw'),
  beta2G: z.number().min(0).max(1).default(0.99).describe('Adam β2 of G when optimizerG is adam or adamw (as D\'s; DAFormer\'s AdamW 0.999)'),
  segLoss: z.enum(['focal', 'ce']).default('focal').describe('segmentation loss: the official code\'s focal loss, or the paper\'s cross-entropy (§2.1)'),
  gamma: z.number().min(0).default(2).describe('focal-loss γ (official, §2.1)'),
  officialDuplicateParams: z.boolean().default(false)
    .describe('list backbone parameters several times in G\'s optimizer, as the official code does (§3; official-exact preset)'),
};

/** The output-space discriminator D and G's adversarial term: adversarial's section, read by clan, advent, clan-cotrain. */
export const adversarialHyper = z.object({
  lrD: z.number().positive().default(1e-4).describe('Adam learning rate of D, same warm-up and poly schedule (official, §3)'),
  beta1D: z.number().min(0).max(1).default(0.9).describe('Adam β1 of D (official, §3)'),
  beta2D: z.number().min(0).max(1).default(0.99).describe('Adam β2 of D (official, §3)'),
  ndf: z.number().int().positive().default(64).describe('D\'s base width (official, §1.4)'),
  lambdaAdv: z.number().min(0).default(0.001).describe('λ_adv, weight of G\'s adversarial loss (official, §2.7)'),
  damping: z.boolean().nullable().default(null)
    .describe('multiply G\'s adversarial and weight terms by 1 − i/maxIter; null = the method\'s own: on for clan and adversarial (CLAN\'s code, §3), off for advent (ADVENT\'s code has none, §9.1)'),
  halveDLoss: z.boolean().nullable().default(null)
    .describe('divide each of D\'s two losses by 2; null = the method\'s own: off for clan and adversarial (CLAN\'s code, §2.6), on for advent (ADVENT and AdaptSegNet, §9.1)'),
  dFullSize: z.boolean().default(true)
    .describe('D\'s output upsampled to the label size before its losses (CLAN\'s code, §1.4); false: the losses at D\'s own size (1/32), as AdaptSegNet and ADVENT, with CLAN\'s weight map area-averaged to it (faster, not official)'),
}).strict();

/** CLAN's own: the per-pixel weighting ε + λ_local·M and the weight discrepancy (§2). Read by clan, clan-cotrain. */
export const clanHyper = z.object({
  preheat: z.number().int().nonnegative().nullable().default(null)
    .describe('the per-pixel weighting starts for i > preheat; null = iters/20 (official 5000, §2.5)'),
  lambdaLocal: z.number().min(0).default(40).describe('λ_local in ε + λ_local·M (official GTA5 40, SYNTHIA 10, §2.4)'),
  epsilon: z.number().min(0).default(0.4).describe('ε in ε + λ_local·M (official, §2.4)'),
  detachM: z.boolean().default(false)
    .describe('true: M only weights G\'s adversarial loss, no gradient through it (the paper); official false (§2.3)'),
  lambdaWeight: z.number().min(0).default(0.01).describe('λ_weight of the C1/C2 weight-discrepancy loss; ×2 in the loss (official, §2.2)'),
}).strict();

/** MinEnt's (ADVENT): the target entropy term. */
export const minentHyper = z.object({
  lambdaEnt: z.number().min(0).default(0.001)
    .describe('λ_ent of the target entropy loss (ADVENT config.py LAMBDA_ENT_MAIN 0.001; its aux head has no counterpart here, §9.1)'),
  damping: z.boolean().default(false).describe('multiply the entropy term by 1 − i/maxIter (ADVENT: none, §9.1)'),
}).strict();

/** DACS's: ClassMix and the mean teacher (§11). */
export const dacsHyper = z.object({
  lambdaMix: z.number().min(0).default(1).describe('weight of the loss on the ClassMix images (DACS\'s unsupervised weight 1)'),
  emaAlpha: z.number().min(0).max(1).default(0.99)
    .describe('the mean teacher\'s EMA factor α (DACS alpha_teacher 0.99; min(1 − 1/(i+1), α) early on)'),
  pseudoThreshold: z.number().min(0).max(1).default(0.968).describe('a teacher pixel is confident when its max p ≥ this (DACS 0.968)'),
  pseudoWeight: z.enum(['share', 'pixel']).default('share')
    .describe('weight of the mixed images\' target pixels — share: the batch\'s share of confident pixels (DACS); pixel: 1 where confident, 0 elsewhere'),
}).strict();

/** Co-training's (clan selftrain, §10): the pseudo-label term. Read by cotrain, clan-cotrain. */
export const cotrainHyper = z.object({
  lambdaPseudo: z.number().min(0).default(1)
    .describe('weight of the target loss on pseudo-labels, C1 on C2\'s and C2 on C1\'s (CBST/CRST weigh source and target equally)'),
}).strict();

/** HRDA's (§13): the weights of its three segmentation losses; the fused loss takes 1 − detail − context. */
export const hrdaHyper = z.object({
  detailLossWeight: z.number().min(0).max(1).default(0.1)
    .describe('λ_d, weight of the detail crop\'s own loss (HRDA hr_loss_weight 0.1)'),
  contextLossWeight: z.number().min(0).max(1).default(0)
    .describe('weight of the context input\'s own loss (HRDA lr_loss_weight: 0 in the official config); detail + context ≤ 1'),
}).strict();

/**
 * The strong augmentation's keys (augment.ts): DAFormer's section has them for its mixed images, MIC's for its masked
 * batch, with the same defaults as both official configs (`who` names whose key the description cites).
 */
function strongAugKeys(who: 'DAFormer' | 'MIC', prefix: string, images: string, sigmas: string) {
  return {
    colorJitterP: z.number().min(0).max(1).default(0.2)
      .describe(`${prefix}colour jitter runs when a uniform draw exceeds this: on 80% of iterations (${who} color_jitter_probability 0.2, dacs_transforms.color_jitter's \`> p\`)`),
    colorJitterS: z.number().min(0).max(0.5).default(0.2)
      .describe(`${prefix}colour jitter strength s: brightness, contrast, saturation factors in [1 − s, 1 + s], hue shift in [−s, s] turns (${who} color_jitter_strength 0.2)`),
    blur: z.boolean().default(true)
      .describe(`${prefix}Gaussian blur of ${images} on half of the iterations, σ uniform in [0.15, 1.15] (${sigmas}), kernel ≈ 0.1 of each side (${who} blur True)`),
  };
}

/** MIC's (§14): masked image consistency on top of a mean-teacher method (mic on dacs, mic-hrda on hrda). */
export const micHyper = z.object({
  ratio: z.number().min(0).max(1).default(0.7)
    .describe('share of the target image\'s blocks masked out: a block is kept where a uniform draw > ratio (MIC mask_ratio 0.7)'),
  blockSize: z.number().int().positive().nullable().default(null)
    .describe('side of a mask block in pixels; null = MIC\'s 64 px (mask_block_size, at its 512×512 crops) × the crop\'s shorter side / 512, rounded (a 64×64 crop: 8 px, an 8×8 grid); the official HRDA config keeps 64 at 1024×1024 crops: set 64 there'),
  lambda: z.number().min(0).default(1).describe('λ_mask, weight of the loss on the masked target images (MIC mask_lambda 1)'),
  mode: z.enum(['separatetrgaug', 'separatetrg']).default('separatetrgaug')
    .describe('separatetrgaug: the target batch is colour-jittered and blurred with draws of its own before masking; separatetrg: masked as it is (MIC mask_mode, the configs\' separatetrgaug)'),
  ...strongAugKeys('MIC', 'separatetrgaug: ', 'the batch', 'one per batch'),
  pseudoThreshold: z.number().min(0).max(1).nullable().default(null)
    .describe('the masked loss\'s confidence threshold on the teacher\'s max p (its weight as hyper.dacs.pseudoWeight says); null = the base method\'s τ (MIC mask_pseudo_threshold \'same\'; a number: as its own threshold with mask_alpha \'same\')'),
  pseudoWeight: z.enum(['share', 'pixel']).nullable().default(null)
    .describe('the masked loss\'s weight — share: the batch\'s share of its confident pixels on every pixel (the official code); pixel: 1 where confident, 0 elsewhere; null = as hyper.dacs.pseudoWeight (the mixed images\')'),
  draws: z.enum(['shared', 'own']).default('shared')
    .describe('shared: the mask and the masked batch\'s augmentation are drawn from torch\'s generator after the base method\'s draws (the official code), so every later draw of the run differs from the base method\'s; own: from a CPU stream of their own, seeded each iteration from the generator\'s state and put back after, so the base method\'s torch draws (ClassMix\'s classes, its augmentation; the data order is drawn apart anyway) are those of a run of it alone with the same seed — a paired comparison (§14)'),
  bnStats: z.enum(['update', 'keep']).default('update')
    .describe('update: the masked batch\'s forward updates BatchNorm\'s running statistics like any (the official code); keep: they are put back after it, so a BN network evaluates with statistics of unmasked images (§14)'),
}).strict();

/** DAFormer's (§12): the strong augmentation of the mixed images, the warm-up, the thing-class feature distance. */
export const daformerHyper = z.object({
  ...strongAugKeys('DAFormer', '', 'the mixed images', 'one per image'),
  warmupRatio: z.number().min(0).max(1).default(1e-6)
    .describe('mmcv linear warm-up: the lr starts at this fraction of the poly value (DAFormer poly10warm warmup_ratio 1e-6; warmup 1500 and power 1 come from the common keys, the daformer preset)'),
  fdLambda: z.number().min(0).default(0.005)
    .describe('λ_fd of the feature distance to the frozen initial (ImageNet) encoder; 0 turns it off; needs --init (DAFormer imnet_feature_dist_lambda 0.005)'),
  fdClasses: z.array(z.number().int().nonnegative()).nullable().default([6, 7, 11, 12, 13, 14, 15, 16, 17, 18])
    .describe('class ids whose pixels the feature distance covers; null = every pixel (DAFormer imnet_feature_dist_classes: Cityscapes\' things, train ids 6, 7, 11–18)'),
  fdScaleMinRatio: z.number().min(0).max(1).default(0.75)
    .describe('a feature pixel takes its block\'s majority label when that class covers at least this share of the block, else ignore (DAFormer imnet_feature_dist_scale_min_ratio 0.75)'),
  rcsTemperature: z.number().positive().nullable().default(0.01)
    .describe('rare-class sampling of the source images: class c drawn with softmax((1 − its pixel share)/T); null = the usual shuffled epochs (DAFormer rare_class_sampling class_temp 0.01)'),
  rcsMinPixels: z.number().min(0).default(3000)
    .describe('an image joins class c\'s pool with more than this many pixels of c, at GTA5\'s 1914×1052 (scaled with each label\'s size) (DAFormer min_pixels 3000)'),
}).strict();

/** The sections by name (a method's registry entry names the one it owns and those it reads). */
export const HYPER_SECTIONS = { adversarial: adversarialHyper, clan: clanHyper, minent: minentHyper, dacs: dacsHyper, cotrain: cotrainHyper,
  hrda: hrdaHyper, daformer: daformerHyper, mic: micHyper };
export type HyperSection = keyof typeof HYPER_SECTIONS;

/** `hyper:` of a config: the common keys, then every section (each defaulted). */
export const methodSchema = z.object({
  ...commonHyper,
  adversarial: adversarialHyper.default({}).describe('adversarial\'s section'),
  clan: clanHyper.default({}).describe('clan\'s section'),
  minent: minentHyper.default({}).describe('minent\'s section'),
  dacs: dacsHyper.default({}).describe('dacs\'s section'),
  cotrain: cotrainHyper.default({}).describe('cotrain\'s section'),
  hrda: hrdaHyper.default({}).describe('hrda\'s section'),
  daformer: daformerHyper.default({}).describe('daformer\'s section'),
  mic: micHyper.default({}).describe('mic\'s section'),
}).strict();

export type MethodHyper = z.output<typeof methodSchema>;
export type AmpMode = 'off' | 'bf16' | 'fp16';

/** The hyper-parameters a method runs with: the schema's output with the derived values resolved. */
export type MethodConfig = Omit<MethodHyper, 'maxIter' | 'warmup' | 'clan'> & {
  maxIter: number;  // iterations; the poly-lr and damping horizon
  warmup: number;   // linear lr warm-up iterations
  clan: Omit<MethodHyper['clan'], 'preheat'> & { preheat: number };  // weighting on for i > preheat
  amp: AmpMode;     // mixed precision: forwards and losses under autocast; fp16 adds loss scaling (not official)
  normalize?: 'caffe' | 'imagenet';  // how the loaders normalised the images (DAFormer's colour jitter works on pixels); absent: caffe
  initWeights?: boolean;             // --init weights reach G before step 0 (DAFormer's feature distance needs them)
};

/** Fills the derived defaults: maxIter = iters; warm-up and preheat = iters/20 (official 5000 of 100000). */
export function resolveMethodConfig(h: MethodHyper, iters: number, amp: AmpMode, run: Pick<MethodConfig, 'normalize' | 'initWeights'> = {}): MethodConfig {
  return { ...h, ...run, maxIter: h.maxIter ?? iters, amp, warmup: h.warmup ?? Math.floor(iters / 20),
    clan: { ...h.clan, preheat: h.clan.preheat ?? Math.floor(iters / 20) } };
}

/** The official run: 100k iterations, fp32. */
export const DEFAULT_METHOD_CONFIG: MethodConfig = resolveMethodConfig(methodSchema.parse({}), 100000, 'off');

/** Changes to a MethodConfig; a section's keys are changed one by one ({ clan: { lambdaLocal: 10 } } keeps the rest). */
export type MethodConfigPatch = Partial<Omit<MethodConfig, HyperSection>> & { [S in HyperSection]?: Partial<MethodConfig[S]> };

/** `base` with `patch` applied (tests, benchmarks and rounds build method configs this way). */
export function withHyper(base: MethodConfig, patch: MethodConfigPatch): MethodConfig {
  const out = { ...base, ...patch } as MethodConfig;
  for (const s of Object.keys(HYPER_SECTIONS) as HyperSection[]) {
    if (patch[s]) (out as Record<HyperSection, unknown>)[s] = { ...base[s], ...patch[s] };
  }
  return out;
}

/** Where each key of the old flat `hyper:` (before the sections) lives now; common keys kept their place. */
export const LEGACY_HYPER_KEYS: Record<string, HyperSection> = {
  lrD: 'adversarial', beta1D: 'adversarial', beta2D: 'adversarial', ndf: 'adversarial', lambdaAdv: 'adversarial',
  damping: 'adversarial', halveDLoss: 'adversarial', dFullSize: 'adversarial',
  preheat: 'clan', lambdaLocal: 'clan', epsilon: 'clan', detachM: 'clan', lambdaWeight: 'clan',
  lambdaEnt: 'minent', lambdaMix: 'dacs', emaAlpha: 'dacs', pseudoThreshold: 'dacs', pseudoWeight: 'dacs', lambdaPseudo: 'cotrain',
};
