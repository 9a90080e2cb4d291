// Loss scaling for float16 mixed precision, as torch.amp.GradScaler: losses are multiplied by `scale` before
// backward so small float16 gradients do not flush to zero; before each optimizer step the gradients are
// divided by it again and checked; a step with an inf/NaN gradient is skipped and the scale halved; after
// `growthInterval` clean iterations the scale doubles. bfloat16 has float32's range and needs none of this.
import type { Tensor } from './tensor.js';
import { stack } from './tensor.js';
import { tidy } from './scope.js';
import { noGrad } from './runtime.js';
import type { Optimizer } from './optim/optimizer.js';

export interface GradScalerOptions {
  initScale: number;       // first scale (PyTorch 2^16)
  growthFactor: number;    // ×scale after growthInterval clean iterations (2)
  backoffFactor: number;   // ×scale after an iteration with inf/NaN gradients (0.5)
  growthInterval: number;  // clean iterations before growing (2000)
}
export const GRAD_SCALER_DEFAULTS: GradScalerOptions = { initScale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 };

/** What exact resume needs of a scaler. */
export interface GradScalerState { scale: number; growthTracker: number }

export class GradScaler {
  scale: number;
  growthTracker = 0;                       // clean iterations since the last change of scale
  private foundInf = false;                // any optimizer of this iteration saw a non-finite gradient
  readonly opts: GradScalerOptions;

  constructor(opts: Partial<GradScalerOptions> = {}) {
    this.opts = { ...GRAD_SCALER_DEFAULTS, ...opts };
    this.scale = this.opts.initScale;
  }

  /** loss × scale, to call backward() on. */
  scaleLoss(loss: Tensor): Tensor { return loss.mul(this.scale); }

  /** Unscales opt's gradients in place; steps unless one is inf/NaN (then the step is skipped). */
  step(opt: Optimizer<{ lr: number }>): boolean {
    const grads = opt.uniqueParams().map((p) => p.grad).filter((g): g is Tensor => g !== null);
    const inv = 1 / this.scale;
    const bad = grads.length > 0 && tidy(() => noGrad(() => {
      for (const g of grads) g.mul_(inv);
      return stack(grads.map((g) => g.isfinite().all().logicalNot())).any().item() !== 0;
    }));
    if (bad) { this.foundInf = true; return false; }
    opt.step();
    return true;
  }

  /** Once per iteration, after every step(): back off after an inf/NaN, grow after growthInterval clean ones. */
  update(): void {
    if (this.foundInf) {
      this.scale *= this.opts.backoffFactor;
      this.growthTracker = 0;
    } else if (++this.growthTracker === this.opts.growthInterval) {
      this.scale *= this.opts.growthFactor;
      this.growthTracker = 0;
    }
    this.foundInf = false;
  }

  stateDict(): GradScalerState { return { scale: this.scale, growthTracker: this.growthTracker }; }
  loadStateDict(s: GradScalerState): void { this.scale = s.scale; this.growthTracker = s.growthTracker; }
}
