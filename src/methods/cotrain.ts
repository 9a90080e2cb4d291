// Co-training self-training (docs/method.md §10): G learns the labelled source as every method does, and on the target
// each classifier learns the OTHER one's confident predictions — C1 from C2's pseudo-labels, C2 from C1's — the two
// views of co-training that the seed explains CLAN's two heads with; pixels below the class-balanced thresholds are
// ignored (255). With variant 'plain' both heads learn the same labels from p = softmax(x1 + x2). The pseudo-labels
// of a round are fixed and come with the target batch (train/pseudo.ts writes them, data/pseudo.ts reads them);
// `clan selftrain` runs the rounds.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { UDAMethod, type SourceBatch, type StepLog, type TargetBatch } from './uda.js';
import { ceLoss, focalLoss } from './losses.js';
import { ClanError } from '../util/errors.js';
import type { MethodConfig } from './config.js';

export class CoTrain extends UDAMethod {
  readonly lossKeys: readonly string[] = ['seg', 'pseudo'];
  override readonly targetLabels = true;

  trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog {
    requirePseudoLabels('cotrain', target);
    return torch.tidy(() => {
      this.optG.zeroGrad();
      const lrG = this.setLrG(i);
      this.G.train();
      const seg = this.sourceSegLoss(source);
      this.backward(seg);
      const pseudo = this.amp(() => {
        const [x1, x2] = this.forwardUp(target.image, target.size);  // [N, C, h, w] each
        return pseudoLabelLoss(this.cfg, x1, x2, target);
      });
      this.backward(pseudo);
      this.stepAll(this.optG);
      return { losses: { seg: seg.item(), pseudo: pseudo.item() }, lrG };
    });
  }
}

/**
 * λ_pseudo·(L(x1, labels for C1) + L(x2, labels for C2)): each head on its half of the stacked pseudo-labels
 * [N, 2h, w] that come with the target batch (x1, x2 [N, C, h, w] at the target size). cotrain and clan-cotrain.
 */
export function pseudoLabelLoss(cfg: MethodConfig, x1: Tensor, x2: Tensor, target: TargetBatch): Tensor {
  const h = target.size[0];
  const label = target.label!;
  return torch.tidy(() => headLoss(cfg, x1, label.slice(1, 0, h)).add(headLoss(cfg, x2, label.slice(1, h, 2 * h)))
    .mul(cfg.cotrain.lambdaPseudo));
}

/** Checked before a step starts: the batch carries pseudo-labels [N, 2h, w] (a pseudo:DIR target). */
export function requirePseudoLabels(method: string, target: TargetBatch): void {
  const [h, w] = target.size;
  const label = target.label;
  if (!label) throw new ClanError(`method ${method} trains on pseudo-labels: run it through clan selftrain (its target is pseudo:DIR)`);
  if (label.size(1) !== 2 * h || label.size(2) !== w) throw new ClanError(`${method}: pseudo-labels are ${label.size(1)}x${label.size(2)}; expected ${2 * h}x${w} (two maps at the target size)`);
}

/** The segmentation loss of one head on its labels; 0 (still a graph) where a batch has no confident pixel. */
function headLoss(cfg: MethodConfig, x: Tensor, label: Tensor): Tensor {
  return torch.tidy(() => {
    if (cfg.segLoss === 'focal') return focalLoss(x, label, cfg.gamma); // handles an all-ignored batch
    return label.ne(255).sum().item() === 0 ? x.sum().mul(0) : ceLoss(x, label);  // (mean over no pixel is NaN)
  });
}
