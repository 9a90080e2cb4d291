// Output-space adversarial baseline (AdaptSegNet single-level style, the paper's "TAN"): the same G, D, schedule
// and damping as CLAN, but no per-pixel weighting (plain BCE for G and D) and no weight-discrepancy loss.
import { Clan } from './clan.js';
import type { MethodKey } from './uda.js';

export class Adversarial extends Clan {
  override readonly key: MethodKey = 'adversarial';
  protected override readonly weighting = false;
  protected override readonly useWeightLoss = false;
}
