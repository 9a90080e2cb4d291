// CLAN (clan-reference.md §2, §4): category-level adversaries. One iteration, in the official order:
// freeze D; source forward + L_seg; target forward + M + weighted adversarial loss; weight discrepancy;
// unfreeze D; D on detached source (label 0) and target (label 1, weighted after the preheat); step G, then D.
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import type { DeepLabGenerator } from '../models/deeplab.js';
import { FCDiscriminator } from '../models/deeplab.js';
import { UDAMethod, type MethodParts, type MethodConfig, type SourceBatch, type TargetBatch, type StepLog, type MethodKey } from './uda.js';
import { adversarialBce, disagreementMap, weightDiscrepancy } from './losses.js';
import { dampingAt, lrAt } from './schedule.js';

const SOURCE = 0; // domain labels (§2.5): D's logit is "probability of being target"
const TARGET = 1;

export class Clan extends UDAMethod {
  readonly key: MethodKey = 'clan';
  readonly D: FCDiscriminator;
  readonly optD: torch.Adam;
  /** CLAN's two ingredients; the `adversarial` baseline turns both off. */
  protected readonly weighting: boolean = true;     // ε + λ_local·M weights on the adversarial losses (§2.4–2.6)
  protected readonly useWeightLoss: boolean = true; // the C1/C2 weight-discrepancy loss (§2.2)

  constructor(G: DeepLabGenerator, cfg: MethodConfig, D?: FCDiscriminator) {
    super(G, cfg);
    this.D = D ?? new FCDiscriminator(G.spec.numClasses, cfg.ndf).to(G.device);
    this.optD = new torch.Adam([{ params: this.D.parameters(), lr: cfg.lrD, beta1: cfg.beta1D, beta2: cfg.beta2D, eps: 1e-8 }]);
  }

  /** d = up(D(softmax(x1 + x2))) at `size` — the D output is resized to the loss size (§1.4). */
  private discriminate(x1: Tensor, x2: Tensor, size: [number, number], detach: boolean): Tensor {
    return torch.tidy(() => {
      const p = F.softmax(x1.add(x2), 1);
      return F.interpolate(this.D.forward(detach ? p.detach() : p), size, { alignCorners: true });
    });
  }

  trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog {
    const c = this.cfg;
    return torch.tidy(() => {
      // 1. zero grads, schedules (§3)
      this.optG.zeroGrad();
      this.optD.zeroGrad();
      const lrG = this.setLrG(i);
      const lrD = lrAt(c.lrD, i, this.schedule);
      this.optD.setLr(0, lrD);
      const damping = dampingAt(i, c.maxIter);
      const weighted = this.weighting && i > c.preheat; // strict '>' (§2.5)
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
      // 4. target: M with graph (§2.3), adversarial loss against the SOURCE label
      const [x1t, x2t, M, adv] = this.amp(() => {
        const [a, b] = this.forwardUp(target.image, target.size);
        const m = disagreementMap(a, b);                                           // [N, 1, h, w]
        const wG = c.detachM ? m.detach() : m; // official: attached, an extra "C1 and C2 agree on target" pull (§2.3)
        return [a, b, m, adversarialBce(this.discriminate(a, b, target.size, false), SOURCE, weighted ? wG : null, c.epsilon, c.lambdaLocal)] as const;
      });
      this.backward(adv.mul(c.lambdaAdv * damping));
      // 5. weight discrepancy between C1 and C2 (§2.2), in float32 (no autocast: it reads the weights only)
      let lw: Tensor | null = null;
      if (this.useWeightLoss) {
        lw = weightDiscrepancy(this.G.layer5.parameters(), this.G.layer6.parameters(), c.lambdaWeight, damping);
        this.backward(lw);
      }
      // 6. unfreeze D; 7. D on detached source; 8. D on detached target, weighted by the detached M
      this.D.requiresGrad_(true);
      const dS = this.amp(() => adversarialBce(this.discriminate(x1s, x2s, srcSize, true), SOURCE, null, c.epsilon, c.lambdaLocal));
      this.backward(dS);
      const dT = this.amp(() => adversarialBce(this.discriminate(x1t, x2t, target.size, true), TARGET, weighted ? M.detach() : null, c.epsilon, c.lambdaLocal));
      this.backward(dT);
      // 9. step G, then D
      this.stepAll(this.optG, this.optD);
      // .item() only now: each one waits for the GPU, and a wait mid-iteration stalls the queue of kernels
      return { seg: seg.item(), adv: adv.item(), weight: lw?.item(), d_s: dS.item(), d_t: dT.item(), lrG, lrD, damping, weighted, m: M.mean().item() };
    });
  }

  override parts(): MethodParts { return { ...super.parts(), D: this.D, optD: this.optD }; }
  override dispose(): void { super.dispose(); this.optD.dispose(); }
}
