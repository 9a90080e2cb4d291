// Weight initialisers (torch.nn.init), in place and outside autograd.
import type { Tensor } from '../tensor.js';
import { noGrad } from '../runtime.js';

export function normal_(t: Tensor, mean = 0, std = 1): Tensor { return noGrad(() => t.normal_(mean, std)); }
export function uniform_(t: Tensor, lo = 0, hi = 1): Tensor { return noGrad(() => t.uniform_(lo, hi)); }
export function constant_(t: Tensor, v: number): Tensor { return noGrad(() => t.fill_(v)); }

/** fan_in of a conv weight [O, I, kh, kw] or linear weight [O, I]. */
export function fanIn(t: Tensor): number {
  const [, i = 1, ...k] = t.shape;
  return k.reduce((a, b) => a * b, i);
}

/** PyTorch's default Conv2d init: kaiming_uniform_(a=√5) → U(−1/√fan_in, 1/√fan_in); bias the same bound. */
export function defaultConvInit(weight: Tensor, bias: Tensor | null): void {
  const bound = 1 / Math.sqrt(fanIn(weight));
  uniform_(weight, -bound, bound);
  if (bias) uniform_(bias, -bound, bound);
}
