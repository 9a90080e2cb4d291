// The adapter interface every method implements (mmseg/DAFormer's UDADecorator pattern): a method wraps a plain
// segmentor G (DeepLab-v2 with two heads) and owns its optimizers; the trainer only calls trainStep().
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import type { DeepLabGenerator } from '../models/deeplab.js';
import { focalLoss, ceLoss } from './losses.js';
import { lrAt, type Schedule } from './schedule.js';

/** Every hyper-parameter of a method, with the official value (clan-reference.md §3) as the comment. */
export interface MethodConfig {
  maxIter: number;        // iterations; the poly-lr and damping horizon (official 100000)
  warmup: number;         // linear lr warm-up iterations (official 5000; default maxIter/20)
  preheat: number;        // CLAN weighting on for i > preheat (official 5000; default maxIter/20)
  power: number;          // poly exponent (0.9)
  optimizerG: 'sgd' | 'adam'; // G's optimizer: the official SGD, or Adam (β1G, β2G) for short from-scratch runs (cpu preset)
  lrG: number;            // lr of the backbone (2.5e-4)
  headLrMult: number;     // heads C1/C2 train at this multiple of lrG (10)
  momentum: number;       // SGD momentum (0.9)
  weightDecay: number;    // L2 weight decay of G (5e-4)
  beta1G: number;         // Adam β1 of G when optimizerG = 'adam' (0.9)
  beta2G: number;         // Adam β2 of G when optimizerG = 'adam' (0.99, as D's)
  lrD: number;            // Adam lr of D (1e-4)
  beta1D: number;         // Adam β1 (0.9)
  beta2D: number;         // Adam β2 (0.99)
  lambdaAdv: number;      // adversarial weight λ_adv (0.001)
  lambdaWeight: number;   // weight-discrepancy weight λ_weight (0.01; ×2 in the loss)
  lambdaLocal: number;    // λ_local in ε + λ_local·M (40 GTA5, 10 SYNTHIA)
  epsilon: number;        // ε in ε + λ_local·M (0.4)
  detachM: boolean;       // official false: the G step back-propagates through M too (§2.3); true: M is a pure weight
  segLoss: 'focal' | 'ce'; // the official code trains with focal loss (§2.1); 'ce' is the paper's form
  gamma: number;          // focal γ (2)
  ndf: number;            // D base width (64)
  officialDuplicateParams: boolean; // official optimizer lists backbone params several times (§3); official-exact only
  amp: 'off' | 'bf16' | 'fp16'; // mixed precision: forwards and losses under autocast; fp16 adds loss scaling (not official)
}

export const DEFAULT_METHOD_CONFIG: MethodConfig = {
  maxIter: 100000, warmup: 5000, preheat: 5000, power: 0.9, optimizerG: 'sgd', lrG: 2.5e-4, headLrMult: 10, momentum: 0.9, weightDecay: 5e-4,
  beta1G: 0.9, beta2G: 0.99,
  lrD: 1e-4, beta1D: 0.9, beta2D: 0.99, lambdaAdv: 0.001, lambdaWeight: 0.01, lambdaLocal: 40, epsilon: 0.4, detachM: false,
  segLoss: 'focal', gamma: 2, ndf: 64, officialDuplicateParams: false, amp: 'off',
};

const AMP_DTYPE = { off: null, bf16: 'bfloat16', fp16: 'float16' } as const;

export interface SourceBatch { image: Tensor; label: Tensor }           // [N, 3, H, W] f32, [N, h, w] int64 (255 ignore)
export interface TargetBatch { image: Tensor; size: [number, number] }  // [N, 3, H', W'], nominal [h, w] for upsampling

/** The five logged losses (§4.10) plus the schedule values; absent terms are omitted. */
export interface StepLog {
  seg: number; adv?: number; weight?: number; d_s?: number; d_t?: number;
  lrG: number; lrD?: number; damping?: number; weighted?: boolean;
  m?: number;      // mean of the disagreement map M over the target batch (§2.3): the scale λ_local multiplies

}

export type MethodKey = 'source_only' | 'adversarial' | 'clan';

/** Modules, optimizers and the fp16 loss scaler to checkpoint, by role. */
export interface MethodParts {
  G: DeepLabGenerator; D: torch.Module | null; optG: torch.SGD | torch.Adam; optD: torch.Adam | null; scaler: torch.GradScaler | null;
}

export abstract class UDAMethod {
  abstract readonly key: MethodKey;
  readonly optG: torch.SGD | torch.Adam;
  /** fp16 loss scaling (amp 'fp16' only); its state is checkpointed. */
  readonly scaler: torch.GradScaler | null;

  constructor(readonly G: DeepLabGenerator, readonly cfg: MethodConfig) {
    this.scaler = cfg.amp === 'fp16' ? new torch.GradScaler() : null;
    const backbone = cfg.officialDuplicateParams ? G.officialBackboneParameterList() : G.backboneParameters();
    const groups = [{ params: backbone, lr: cfg.lrG }, { params: G.headParameters(), lr: cfg.lrG * cfg.headLrMult }];
    if (cfg.optimizerG === 'adam') {
      // Not in the official code (§3 uses SGD): from scratch, in a few hundred steps, SGD does not train the demo net.
      const hp = { beta1: cfg.beta1G, beta2: cfg.beta2G, eps: 1e-8, weightDecay: cfg.weightDecay };
      this.optG = new torch.Adam(groups.map((g) => ({ ...g, ...hp })));
    } else {
      const hp = { momentum: cfg.momentum, weightDecay: cfg.weightDecay, legacy: cfg.officialDuplicateParams };
      this.optG = new torch.SGD(groups.map((g) => ({ ...g, ...hp })));
    }
  }

  get schedule(): Schedule { return { maxIter: this.cfg.maxIter, warmup: this.cfg.warmup, power: this.cfg.power }; }

  /** One training iteration at 0-based index i. */
  abstract trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog;

  /** Sets the G learning rates for iteration i (warm-up then poly; heads keep their multiple). */
  protected setLrG(i: number): number {
    const lr = lrAt(this.cfg.lrG, i, this.schedule);
    this.optG.setLr(0, lr);
    this.optG.setLr(1, lr * this.cfg.headLrMult);
    return lr;
  }

  /** The device G lives on; the method's other modules and every batch follow it. */
  get device(): torch.Device { return this.G.device; }

  /** Runs a forward + loss block under autocast when amp is on (backward stays outside, as PyTorch advises). */
  protected amp<T>(fn: () => T): T { return torch.autocast(this.device, AMP_DTYPE[this.cfg.amp], fn); }

  /** loss.backward(), through the fp16 loss scaler when there is one. */
  protected backward(loss: Tensor): void {
    if (!this.scaler) { loss.backward(); return; }
    const scaled = this.scaler.scaleLoss(loss);
    scaled.backward();
    scaled.dispose();
  }

  /** Steps the optimizers in order; with the fp16 scaler each unscales first and skips on inf/NaN gradients. */
  protected stepAll(...opts: (torch.SGD | torch.Adam)[]): void {
    if (!this.scaler) { for (const o of opts) o.step(); return; }
    for (const o of opts) this.scaler.step(o);
    this.scaler.update();
  }

  /** L_seg = loss(x1) + loss(x2), each head on its own (§2.1). */
  protected segLoss(x1: Tensor, x2: Tensor, label: Tensor): Tensor {
    return torch.tidy(() => this.cfg.segLoss === 'focal'
      ? focalLoss(x1, label, this.cfg.gamma).add(focalLoss(x2, label, this.cfg.gamma))
      : ceLoss(x1, label).add(ceLoss(x2, label)));
  }

  /** G forward with both heads upsampled (bilinear, align_corners=True, §1.5) to `size`. */
  protected forwardUp(x: Tensor, size: [number, number]): [Tensor, Tensor] {
    return torch.tidy(() => {
      const [a, b] = this.G.forward(x);
      return [F.interpolate(a, size, { alignCorners: true }), F.interpolate(b, size, { alignCorners: true })];
    });
  }

  /** Modules and optimizers to checkpoint, by role. */
  parts(): MethodParts { return { G: this.G, D: null, optG: this.optG, optD: null, scaler: this.scaler }; }

  dispose(): void { this.optG.dispose(); }
}

/** Inference: argmax of the summed logits p1 + p2 upsampled to `size` (§1.3, §5.3). x [N,3,H,W] → [N, h, w] int64. */
export function predictLogits(G: DeepLabGenerator, x: Tensor, size: [number, number]): { logits: Tensor; x1: Tensor; x2: Tensor } {
  return torch.tidy(() => torch.noGrad(() => {
    const [a, b] = G.forward(x);
    const x1 = F.interpolate(a, size, { alignCorners: true });
    const x2 = F.interpolate(b, size, { alignCorners: true });
    return { logits: x1.add(x2), x1, x2 };
  }));
}
