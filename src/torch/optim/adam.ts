// Adam with bias correction, step for step as torch.optim.Adam (PyTorch 1.13, foreach=False, amsgrad=False):
//   m = β1·m + (1 − β1)·g;  v = β2·v + (1 − β2)·g²;  p -= lr/(1 − β1^t) · m / (√v / √(1 − β2^t) + eps)
import type { Tensor } from '../tensor.js';
import { zeros } from '../tensor.js';
import { Optimizer, type ParamState } from './optimizer.js';

export interface AdamOptions {
  lr: number;
  beta1: number;        // first-moment decay
  beta2: number;        // second-moment decay
  eps: number;          // added to the denominator
  weightDecay: number;  // L2 added to the gradient (not AdamW)
}
const DEFAULTS: Omit<AdamOptions, 'lr'> = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 };

export class Adam extends Optimizer<AdamOptions> {
  constructor(groups: { params: Tensor[]; lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }[]) {
    super(groups.map(({ params, ...hp }) => ({ params, hp: { ...DEFAULTS, ...hp } })));
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, hp: AdamOptions): void {
    if (st.step === undefined) {
      st.step = 0;
      st.exp_avg = this.keepState(zeros(p.shape, { dtype: p.dtype, device: p.device as 'cpu' }));
      st.exp_avg_sq = this.keepState(zeros(p.shape, { dtype: p.dtype, device: p.device as 'cpu' }));
    }
    const step = (st.step as number) + 1;
    st.step = step;
    const m = st.exp_avg as Tensor;
    const v = st.exp_avg_sq as Tensor;
    const g = hp.weightDecay !== 0 ? grad.add(p, hp.weightDecay) : grad;
    m.mul_(hp.beta1).add_(g, 1 - hp.beta1);
    v.mul_(hp.beta2).addcmul_(g, g, 1 - hp.beta2);
    const bc1 = 1 - hp.beta1 ** step;
    const bc2 = 1 - hp.beta2 ** step;
    const sq = v.sqrt();
    const denom = sq.div_(Math.sqrt(bc2)).add_(hp.eps);
    p.addcdiv_(m, denom, -hp.lr / bc1);
    denom.dispose();
    if (g !== grad) g.dispose();
  }
}
