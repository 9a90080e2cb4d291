// AdvEnt (Vu et al., ADVENT, CVPR 2019; docs/method.md §9.1): the output-space adversarial iteration (adversarial.ts,
// §4) with D fed the weighted self-information maps I = −p·log2 p / log2 K (ADVENT prob_2_entropy, K channels)
// instead of the softmax p, as in ADVENT's `train_advent` (advent/domain_adaptation/train_UDA.py): the G step fools
// D on the target's map with λ_adv (LAMBDA_ADV_MAIN 0.001), D learns on the detached source and target maps, and
// each D term is divided by 2; no damping, no per-pixel weighting. Our two layer4 heads together are ADVENT's *main*
// head (p = softmax(x1 + x2), §1.3); there is no layer3 aux head, so ADVENT's second D and its aux λs are not used.
import type { Tensor } from '../torch/index.js';
import { Adversarial } from './adversarial.js';
import { selfInformation } from './losses.js';

export class AdvEnt extends Adversarial {
  /** ADVENT's conventions where hyper.adversarial.damping / hyper.adversarial.halveDLoss are null. */
  protected override readonly ownDefaults = { damping: false, halveDLoss: true };

  protected override discriminatorInput(p: Tensor): Tensor { return selfInformation(p); }   // [N, K, h, w]
}
