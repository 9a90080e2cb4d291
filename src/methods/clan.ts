// CLAN (docs/method.md §2, §4): category-level adversaries. The adversarial iteration (adversarial.ts) plus CLAN's
// two ingredients: the adversarial losses weighted per pixel by ε + λ_local·M after the preheat (§2.4–2.6), and
// the weight-discrepancy loss that keeps C1 and C2 different (§2.2).
import type { Tensor } from '../torch/index.js';
import { Adversarial, type AdversarialWeights } from './adversarial.js';
import { weightDiscrepancy } from './losses.js';

export class Clan extends Adversarial {
  override readonly lossKeys: readonly string[] = ['seg', 'adv', 'weight', 'd_s', 'd_t'];

  /**
   * After the preheat (strict '>', §2.5) both adversarial losses are weighted per pixel by ε + λ_local·M (§2.4): G's
   * with M attached, officially (§2.3: the "agree on target" gradient), D's with M detached.
   */
  protected override adversarialWeights(i: number, m: Tensor): AdversarialWeights {
    const c = this.cfg.clan;
    if (!(i > c.preheat)) return { g: null, d: null };
    const weight = (mm: Tensor) => mm.mul(c.lambdaLocal).add(c.epsilon);   // [N, 1, h, w]
    return { g: weight(c.detachM ? m.detach() : m), d: weight(m.detach()) };
  }

  protected override extraLosses(damping: number): Record<string, Tensor> {
    const [c1, c2] = this.G.classifierParameters();
    return { weight: weightDiscrepancy(c1, c2, this.cfg.clan.lambdaWeight, damping) };
  }
}
