// Every hyper-parameter of the methods, once: the zod schema below is the type (MethodConfig), the default, the
// validation, `clan train --help` and docs/config.md. Values are the official code's (docs/method.md §3) unless
// the description says otherwise. A config's `hyper:` section is this schema; `iters` and `amp` come from above it.
import { z } from 'zod';

export const methodSchema = z.object({
  maxIter: z.number().int().positive().optional()
    .describe('poly-lr and damping horizon; default: the run\'s iters (official 100000, §3)'),
  warmup: z.number().int().nonnegative().nullable().default(null)
    .describe('linear lr warm-up iterations; null = iters/20 (official 5000 of 100000, §3)'),
  preheat: z.number().int().nonnegative().nullable().default(null)
    .describe('CLAN\'s per-pixel weighting starts for i > preheat; null = iters/20 (official 5000, §2.5)'),
  power: z.number().positive().default(0.9).describe('poly decay exponent (official, §3)'),
  optimizerG: z.enum(['sgd', 'adam']).default('sgd')
    .describe('G\'s optimizer: the official SGD, or Adam (not official; short from-scratch runs, the cpu preset)'),
  lrG: z.number().positive().default(2.5e-4).describe('learning rate of the backbone (official, §3)'),
  headLrMult: z.number().positive().default(10).describe('C1/C2 train at this multiple of lrG (official, §3)'),
  momentum: z.number().min(0).max(1).default(0.9).describe('SGD momentum of G (official, §3)'),
  weightDecay: z.number().min(0).default(5e-4).describe('L2 weight decay of G (official, §3)'),
  beta1G: z.number().min(0).max(1).default(0.9).describe('Adam β1 of G when optimizerG is adam'),
  beta2G: z.number().min(0).max(1).default(0.99).describe('Adam β2 of G when optimizerG is adam (as D\'s)'),
  lrD: z.number().positive().default(1e-4).describe('Adam learning rate of D, same warm-up and poly schedule (official, §3)'),
  beta1D: z.number().min(0).max(1).default(0.9).describe('Adam β1 of D (official, §3)'),
  beta2D: z.number().min(0).max(1).default(0.99).describe('Adam β2 of D (official, §3)'),
  lambdaAdv: z.number().min(0).default(0.001).describe('λ_adv, weight of G\'s adversarial loss (official, §2.7)'),
  lambdaWeight: z.number().min(0).default(0.01).describe('λ_weight of the C1/C2 weight-discrepancy loss; ×2 in the loss (official, §2.2)'),
  lambdaEnt: z.number().min(0).default(0.001)
    .describe('λ_ent of MinEnt\'s target entropy loss (ADVENT config.py LAMBDA_ENT_MAIN 0.001; its aux head has no counterpart here, §9.1)'),
  lambdaPseudo: z.number().min(0).default(1)
    .describe('weight of cotrain\'s target loss on pseudo-labels, C1 on C2\'s and C2 on C1\'s (clan selftrain; CBST/CRST weigh source and target equally)'),
  lambdaMix: z.number().min(0).default(1)
    .describe('dacs: weight of the loss on the ClassMix images (DACS\'s unsupervised weight 1)'),
  emaAlpha: z.number().min(0).max(1).default(0.99)
    .describe('dacs: the mean teacher\'s EMA factor α (DACS alpha_teacher 0.99; min(1 − 1/(i+1), α) early on)'),
  pseudoThreshold: z.number().min(0).max(1).default(0.968)
    .describe('dacs: a teacher pixel is confident when its max p ≥ this (DACS 0.968)'),
  pseudoWeight: z.enum(['share', 'pixel']).default('share')
    .describe('dacs: weight of the mixed images\' target pixels — share: the batch\'s share of confident pixels (DACS); pixel: 1 where confident, 0 elsewhere'),
  damping: z.boolean().nullable().default(null)
    .describe('multiply G\'s adversarial, weight and entropy terms by 1 − i/maxIter; null = the method\'s own: on for clan and adversarial (CLAN\'s code, §3), off for minent and advent (ADVENT\'s code has none, §9.1)'),
  halveDLoss: z.boolean().nullable().default(null)
    .describe('divide each of D\'s two losses by 2; null = the method\'s own: off for clan and adversarial (CLAN\'s code, §2.6), on for advent (ADVENT and AdaptSegNet, §9.1)'),
  lambdaLocal: z.number().min(0).default(40).describe('λ_local in ε + λ_local·M (official GTA5 40, SYNTHIA 10, §2.4)'),
  epsilon: z.number().min(0).default(0.4).describe('ε in ε + λ_local·M (official, §2.4)'),
  detachM: z.boolean().default(false)
    .describe('true: M only weights G\'s adversarial loss, no gradient through it (the paper); official false (§2.3)'),
  segLoss: z.enum(['focal', 'ce']).default('focal').describe('segmentation loss: the official code\'s focal loss, or the paper\'s cross-entropy (§2.1)'),
  gamma: z.number().min(0).default(2).describe('focal-loss γ (official, §2.1)'),
  ndf: z.number().int().positive().default(64).describe('D\'s base width (official, §1.4)'),
  dFullSize: z.boolean().default(true)
    .describe('D\'s output upsampled to the label size before its losses (CLAN\'s code, §1.4); false: the losses at D\'s own size (1/32), as AdaptSegNet and ADVENT, with CLAN\'s weight map area-averaged to it (faster, not official)'),
  officialDuplicateParams: z.boolean().default(false)
    .describe('list backbone parameters several times in G\'s optimizer, as the official code does (§3; official-exact preset)'),
}).strict();

export type MethodHyper = z.output<typeof methodSchema>;
export type AmpMode = 'off' | 'bf16' | 'fp16';

/** The hyper-parameters a method runs with: the schema's output with the derived values resolved. */
export type MethodConfig = Omit<MethodHyper, 'maxIter' | 'warmup' | 'preheat'> & {
  maxIter: number;  // iterations; the poly-lr and damping horizon
  warmup: number;   // linear lr warm-up iterations
  preheat: number;  // weighting on for i > preheat
  amp: AmpMode;     // mixed precision: forwards and losses under autocast; fp16 adds loss scaling (not official)
};

/** Fills the derived defaults: maxIter = iters; warm-up and preheat = iters/20 (official 5000 of 100000). */
export function resolveMethodConfig(h: MethodHyper, iters: number, amp: AmpMode): MethodConfig {
  return { ...h, maxIter: h.maxIter ?? iters, amp, warmup: h.warmup ?? Math.floor(iters / 20), preheat: h.preheat ?? Math.floor(iters / 20) };
}

/** The official run: 100k iterations, fp32. */
export const DEFAULT_METHOD_CONFIG: MethodConfig = resolveMethodConfig(methodSchema.parse({}), 100000, 'off');
