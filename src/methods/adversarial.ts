// Output-space adversarial training (AdaptSegNet single-level style, the paper's "TAN"; docs/method.md §2, §4): G
// segments the source and fools D on the target; D tells source from target predictions. CLAN (clan.ts) is this
// iteration plus two ingredients, added through the two hooks below; AdvEnt (advent.ts) changes what D sees through
// a third, and its conventions (no damping, halved D losses) are hyper.adversarial.damping / hyper.adversarial.halveDLoss with its own
// defaults. One iteration, in the official order:
// freeze D; source forward + L_seg; target forward + M + adversarial loss (+ target losses: clan-cotrain); extra G
// losses; unfreeze D; D on the detached source (label 0) and target (label 1); step G, then D.
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import { disagreementMap, type Discriminator, type Segmentor } from '../models/segmentor.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { UDAMethod, type MethodParts, type SourceBatch, type TargetBatch, type StepLog } from './uda.js';
import type { MethodConfig } from './config.js';
import { adversarialBce } from './losses.js';
import { dampingAt, lrAt } from './schedule.js';

const SOURCE = 0; // domain labels (§2.5): D's logit is "probability of being target"
const TARGET = 1;

/** Per-pixel weights [N, 1, h, w] of G's adversarial loss and of D's target loss; null = plain mean. */
export interface AdversarialWeights { g: Tensor | null; d: Tensor | null }

export class Adversarial extends UDAMethod {
  readonly lossKeys: readonly string[] = ['seg', 'adv', 'd_s', 'd_t'];
  readonly D: Discriminator;
  readonly optD: torch.Adam;

  /** D defaults to the official FCDiscriminator; the method owns it (dispose() frees it). */
  constructor(G: Segmentor, cfg: MethodConfig, D?: Discriminator) {
    super(G, cfg);
    const a = cfg.adversarial;
    this.D = D ?? new FCDiscriminator(G.numClasses, a.ndf).to(G.device);
    this.optD = new torch.Adam([{ params: this.D.parameters(), lr: a.lrD, beta1: a.beta1D, beta2: a.beta2D, eps: 1e-8 }]);
  }

  /** The method's own conventions where hyper.adversarial.damping / .halveDLoss are null: CLAN's code (§3, §2.6). */
  protected readonly ownDefaults = { damping: true, halveDLoss: false };

  /** Per-pixel weights of the adversarial losses at iteration i from the disagreement map m (attached). Here: none. */
  protected adversarialWeights(_i: number, _m: Tensor): AdversarialWeights { return { g: null, d: null }; }

  /** G losses after the adversarial one, each back-propagated on its own; keys are log keys. Here: none. */
  protected extraLosses(_damping: number): Record<string, Tensor> { return {}; }

  /**
   * G losses on the target outputs x1, x2 [N, K, h, w] (attached), added to the adversarial term before its backward
   * (the target graph is freed by that backward); keys are log keys. Here: none (clan-cotrain: pseudo-labels).
   */
  protected targetLosses(_x1: Tensor, _x2: Tensor, _target: TargetBatch): Record<string, Tensor> { return {}; }

  /** What D sees of the prediction p = softmax(x1 + x2) [N, K, h, w] (§1.3; detached in D's steps). Here: p itself. */
  protected discriminatorInput(p: Tensor): Tensor { return p; }

  /** What D reads of the prediction: discriminatorInput(p), p = softmax(x1 + x2) [N, K, h, w] (§1.3); detached for D's steps. */
  private discriminatorInputOf(x1: Tensor, x2: Tensor, detach: boolean): Tensor {
    return torch.tidy(() => {
      const p = F.softmax(x1.add(x2), 1);
      return this.discriminatorInput(detach ? p.detach() : p);
    });
  }

  /**
   * d = up(D(input)) at `size` — the D output is resized to the loss size (§1.4); with hyper.adversarial.dFullSize false it
   * stays at D's own size [N, 1, h/32, w/32] (AdaptSegNet, ADVENT).
   */
  private discriminate(input: Tensor, size: [number, number]): Tensor {
    return torch.tidy(() => {
      const d = this.D.forward(input);
      return this.cfg.adversarial.dFullSize ? F.interpolate(d, size, { alignCorners: true }) : d;
    });
  }

  /** A per-pixel weight [N, 1, h, w] at the size of D's output d: area-averaged where D's output is smaller. */
  private static fit(w: Tensor | null, d: Tensor): Tensor | null {
    if (!w || (w.size(2) === d.size(2) && w.size(3) === d.size(3))) return w;
    return F.adaptiveAvgPool2d(w, [d.size(2), d.size(3)]);
  }

  trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog {
    const c = this.cfg; const ad = c.adversarial;
    return torch.tidy(() => {
      // 1. zero grads, schedules (§3)
      this.optG.zeroGrad();
      this.optD.zeroGrad();
      const lrG = this.setLrG(i);
      const lrD = lrAt(ad.lrD, i, this.schedule);
      this.optD.setLr(0, lrD);
      const damping = (ad.damping ?? this.ownDefaults.damping) ? dampingAt(i, c.maxIter) : 1;
      const dScale = (l: Tensor) => ((ad.halveDLoss ?? this.ownDefaults.halveDLoss) ? l.div(2) : l); // ADVENT: each D term / 2
      this.G.train();
      this.D.train();
      // 2. freeze D
      this.D.requiresGrad_(false);
      // 3. source: L_seg on both heads
      const srcSize: [number, number] = [source.label.size(1), source.label.size(2)];
      const [x1s, x2s, seg] = this.amp(() => {
        const [a, b] = this.forwardUp(source.image, srcSize);
        return [a, b, this.segLoss(a, b, source.label)] as const;
      });
      this.backward(seg);
      // 4. target: M (§2.3), adversarial loss against the SOURCE label
      const [dInT, M, w, adv, onTarget] = this.amp(() => {
        const [x1, x2] = this.forwardUp(target.image, target.size);
        const m = disagreementMap(x1, x2);                                         // [N, 1, h, w]
        const wt = this.adversarialWeights(i, m);
        const din = this.discriminatorInputOf(x1, x2, false);                      // kept: D's target step reads it detached
        const d = this.discriminate(din, target.size);
        return [din, m, wt, adversarialBce(d, SOURCE, Adversarial.fit(wt.g, d)), this.targetLosses(x1, x2, target)] as const;
      });
      this.backward(Object.values(onTarget).reduce((sum, l) => sum.add(l), adv.mul(ad.lambdaAdv * damping)));
      // 5. extra G losses (CLAN: the weight discrepancy, in float32: it reads the weights only)
      const extra = this.extraLosses(damping);
      for (const l of Object.values(extra)) this.backward(l);
      // G's gradients are final here (D's passes below read detached inputs): data-parallel, their all-reduce
      // travels while D's passes compute (train/ddp.ts)
      this.gradSync?.ready(this.optG.uniqueParams());
      // 6. unfreeze D; 7. D on detached source; 8. D on detached target
      this.D.requiresGrad_(true);
      const dS = this.amp(() => dScale(adversarialBce(this.discriminate(this.discriminatorInputOf(x1s, x2s, true), srcSize),
        SOURCE, null)));
      this.backward(dS);
      const dT = this.amp(() => {
        const d = this.discriminate(dInT.detach(), target.size); // the G pass's D input, not computed again (same values)
        return dScale(adversarialBce(d, TARGET, Adversarial.fit(w.d, d)));
      });
      this.backward(dT);
      // 9. step G, then D
      this.stepAll(this.optG, this.optD);
      // .item() only now: each one waits for the GPU, and a wait mid-iteration stalls the queue of kernels
      const losses: Record<string, number> = { seg: seg.item(), adv: adv.item() };
      for (const [k, l] of Object.entries({ ...onTarget, ...extra })) losses[k] = l.item();
      Object.assign(losses, { d_s: dS.item(), d_t: dT.item() });
      return { losses, lrG, lrD, damping, weighted: w.g !== null, m: M.mean().item() };
    });
  }

  override parts(): MethodParts { return { ...super.parts(), D: this.D, optD: this.optD }; }
  override dispose(): void { super.dispose(); this.optD.dispose(); this.D.dispose(); }
}
