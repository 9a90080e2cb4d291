// AdamW (Loshchilov & Hutter, decoupled weight decay), step for step as torch.optim.AdamW (PyTorch 1.13 and 2.x,
// foreach=False, amsgrad=False): the parameter shrinks by lr·wd BEFORE the Adam step, and the gradient carries no
// decay term:
//   p *= 1 − lr·wd;  m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  p -= lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
// DAFormer trains with it (lr 6e-5, betas 0.9/0.999, weight decay 0.01, per-group lr and decay multipliers).
// A subclass of Adam: same state (step, exp_avg, exp_avg_sq), so checkpoints and resume treat both alike.
import type { Tensor } from '../tensor.js';
import { Adam, type AdamOptions } from './adam.js';
import type { ParamState } from './optimizer.js';

export class AdamW extends Adam {
  /** PyTorch's defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01. */
  constructor(groups: { params: Tensor[]; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }[]) {
    super(groups.map((g) => ({ weightDecay: 0.01, ...g })));
  }

  protected override update(p: Tensor, grad: Tensor, st: ParamState, hp: AdamOptions): void {
    if (hp.weightDecay !== 0) p.mul_(1 - hp.lr * hp.weightDecay);
    super.update(p, grad, st, { ...hp, weightDecay: 0 });
  }
}
