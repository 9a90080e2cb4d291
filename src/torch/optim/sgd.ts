// SGD with momentum and weight decay, step for step as torch.optim.SGD (PyTorch 1.13, foreach=False):
//   d = g + wd·p;  buf = d (first step) | momentum·buf + (1 − dampening)·d;  p -= lr·buf
import type { Tensor } from '../tensor.js';
import { Optimizer, type ParamState } from './optimizer.js';

export interface SGDOptions {
  lr: number;           // step size
  momentum: number;     // 0 disables the buffer
  weightDecay: number;  // L2 added to the gradient
  dampening: number;    // momentum dampening (PyTorch default 0)
  nesterov: boolean;
  // PyTorch ≤ 1.4 semantics, which the official CLAN code ran on: weight decay is added INTO p.grad in place.
  // Identical results unless a parameter is listed twice (the official-exact preset, docs/method.md §3).
  legacy: boolean;
}
const DEFAULTS: Omit<SGDOptions, 'lr'> = { momentum: 0, weightDecay: 0, dampening: 0, nesterov: false, legacy: false };

export class SGD extends Optimizer<SGDOptions> {
  constructor(groups: {
    params: Tensor[]; lr: number; momentum?: number; weightDecay?: number; dampening?: number; nesterov?: boolean; legacy?: boolean;
  }[]) {
    super(groups.map(({ params, ...hp }) => ({ params, hp: { ...DEFAULTS, ...hp } })));
  }

  protected update(p: Tensor, grad: Tensor, st: ParamState, hp: SGDOptions): void {
    let d = grad;
    if (hp.weightDecay !== 0) d = hp.legacy ? grad.add_(p, hp.weightDecay) : grad.add(p, hp.weightDecay);
    if (hp.momentum !== 0) {
      let buf = st.momentum_buffer as Tensor | undefined;
      if (buf === undefined) {
        buf = this.keepState(d.detach().clone());
        st.momentum_buffer = buf;
      } else {
        buf.mul_(hp.momentum).add_(d, 1 - hp.dampening);
      }
      if (hp.nesterov) {
        const n = d.add(buf, hp.momentum);
        if (d !== grad) d.dispose();
        d = n;
      } else {
        if (d !== grad) d.dispose();
        d = buf;
      }
    }
    p.add_(d, -hp.lr);
    if (d !== grad && d !== st.momentum_buffer) d.dispose();
  }
}
