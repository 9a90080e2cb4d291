// The adapter every method implements (mmseg/DAFormer's UDADecorator): a method wraps a plain Segmentor G (two
// heads), owns its other modules (a discriminator) and its optimizers, declares the losses it logs, and runs one
// iteration in trainStep(). The trainer knows nothing more of a method than this class.
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import type { Segmentor } from '../models/segmentor.js';
import type { MethodConfig } from './config.js';
import { focalLoss, ceLoss } from './losses.js';
import { lrAt, type Schedule } from './schedule.js';

const AMP_DTYPE = { off: null, bf16: 'bfloat16', fp16: 'float16' } as const;

export interface SourceBatch { image: Tensor; label: Tensor }           // [N, 3, H, W] f32, [N, h, w] int64 (255 ignore)
export interface TargetBatch {
  image: Tensor;          // [N, 3, H', W']
  size: [number, number]; // nominal [h, w] for upsampling
  // [N, 2h, w] int64: pseudo-labels for C1 (rows 0..h−1) and C2 (h..2h−1), data/pseudo.ts; only for methods with targetLabels
  label?: Tensor;
}

/** What one iteration reports: the method's losses (keys = its lossKeys) plus the schedule values. */
export interface StepLog {
  losses: Record<string, number>;
  lrG: number; lrD?: number; damping?: number; weighted?: boolean;
  m?: number;      // mean of the disagreement map M over the target batch (§2.3): the scale λ_local multiplies
}

/** Modules, optimizers and the fp16 loss scaler to checkpoint, by role (D and optD null without a discriminator). */
export interface MethodParts {
  G: Segmentor; D: torch.Module | null; optG: torch.SGD | torch.Adam; optD: torch.Adam | null; scaler: torch.GradScaler | null;
  modules?: Record<string, torch.Module>; // further state to checkpoint, by tensor-key prefix (DACS: { EMA: teacher })
}

/** Gradient averaging across processes, as a method drives it (train/ddp.ts implements it). */
export interface GradSync {
  /** These gradients are final for this step: their all-reduce may start now, while later passes run. */
  ready(params: Tensor[]): void;
  /** Before the optimizer steps: every gradient of `params` averaged (those ready() did not start, start now). */
  finish(params: Tensor[]): void;
}

export abstract class UDAMethod {
  /** The losses trainStep() reports, in log order (metrics.jsonl columns, NaN checks, progress). */
  abstract readonly lossKeys: readonly string[];
  /** True for methods that train on target labels (self-training on pseudo-labels): the trainer loads them. */
  readonly targetLabels: boolean = false;
  readonly optG: torch.SGD | torch.Adam;
  /** fp16 loss scaling (amp 'fp16' only); its state is checkpointed. */
  readonly scaler: torch.GradScaler | null;
  /** Data-parallel training sets this: averages gradients across processes (train/ddp.ts). */
  gradSync: GradSync | null = null;

  /** G's parameter groups' lr as multiples of lrG (setLrG): [backbone, head], or AdamW's [decay, no decay, head]. */
  protected readonly lrMults: number[];

  constructor(readonly G: Segmentor, readonly cfg: MethodConfig) {
    this.scaler = cfg.amp === 'fp16' ? new torch.GradScaler() : null;
    if (cfg.optimizerG === 'adamw') {
      const groups = adamwGroups(G, cfg);
      this.lrMults = groups.map((g) => g.lrMult);
      this.optG = new torch.AdamW(groups.map((g) => ({ params: g.params, lr: cfg.lrG * g.lrMult, weightDecay: g.weightDecay,
        beta1: cfg.beta1G, beta2: cfg.beta2G, eps: 1e-8 })));
      return;
    }
    this.lrMults = [1, cfg.headLrMult];
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
    this.setGroupLrs(lr);
    return lr;
  }

  /** Every group of G's optimizer at its multiple of the backbone's lr (heads ×headLrMult). */
  protected setGroupLrs(lr: number): void {
    this.lrMults.forEach((m, g) => this.optG.setLr(g, lr * m));
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

  /**
   * Steps the optimizers in order; with the fp16 scaler each unscales first and skips on inf/NaN gradients.
   * Data-parallel: all their gradients are averaged across processes first (one call, so it can bucket them).
   */
  protected stepAll(...opts: (torch.SGD | torch.Adam)[]): void {
    this.gradSync?.finish(opts.flatMap((o) => o.uniqueParams()));
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

  /** L_seg of both heads on a source batch at its label size (§2.1), under autocast when amp is on. */
  protected sourceSegLoss(source: SourceBatch): Tensor {
    return this.amp(() => {
      const [x1, x2] = this.forwardUp(source.image, [source.label.size(1), source.label.size(2)]);
      return this.segLoss(x1, x2, source.label);
    });
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

  /** Frees what the method created (optimizers, a discriminator); G belongs to whoever passed it in. */
  dispose(): void { this.optG.dispose(); }
}

/**
 * AdamW's groups as DAFormer's paramwise_cfg (custom_keys head: lr_mult 10; norm, pos_block: decay_mult 0, §12): the
 * backbone with weight decay, the backbone's parameters that G.noWeightDecay names (a MiT's LayerNorms and positional
 * convolutions) without, the heads at headLrMult with decay. A network without noWeightDecay decays everything.
 */
export function adamwGroups(G: Segmentor, cfg: Pick<MethodConfig, 'weightDecay' | 'headLrMult'>): { params: Tensor[]; lrMult: number; weightDecay: number }[] {
  const named = G as Segmentor & { noWeightDecay?: (key: string) => boolean };
  const keyOf = new Map(G.namedParameters().map(([k, p]) => [p, k] as const));
  const noDecay = (p: Tensor) => named.noWeightDecay?.(keyOf.get(p) ?? '') ?? false;
  const backbone = G.backboneParameters();
  return [
    { params: backbone.filter((p) => !noDecay(p)), lrMult: 1, weightDecay: cfg.weightDecay },
    { params: backbone.filter(noDecay), lrMult: 1, weightDecay: 0 },
    { params: G.headParameters(), lrMult: cfg.headLrMult, weightDecay: cfg.weightDecay },
  ];
}
