// MinEnt (Vu et al., ADVENT, CVPR 2019; docs/method.md §9.1): the source segmentation loss plus λ_ent × the entropy of
// the target prediction, which pushes G towards confident target pixels. The iteration is ADVENT's `train_minent`
// (advent/domain_adaptation/train_UDA.py): zero grad, lr; source forward + L_seg; target forward + λ_ent·L_ent; step.
// Our G has no layer3 auxiliary head: its two heads C1, C2 both read layer4 and together are ADVENT's *main* head,
// so the entropy is taken of p = softmax(x1 + x2) (§1.3) with LAMBDA_ENT_MAIN, and ADVENT's aux λ has no use here.
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { disagreementMap } from '../models/segmentor.js';
import { UDAMethod, type SourceBatch, type TargetBatch, type StepLog } from './uda.js';
import { entropyLoss } from './losses.js';
import { dampingAt } from './schedule.js';

export class MinEnt extends UDAMethod {
  readonly lossKeys: readonly string[] = ['seg', 'ent'];

  trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog {
    const c = this.cfg;
    return torch.tidy(() => {
      this.optG.zeroGrad();
      const lrG = this.setLrG(i);
      const damping = c.minent.damping ? dampingAt(i, c.maxIter) : 1;   // ADVENT: none
      this.G.train();
      const seg = this.sourceSegLoss(source);
      this.backward(seg);
      // L_ent = mean over pixels of Σ_c −p_c·log2 p_c / log2 K (ADVENT entropy_loss), p = softmax(x1 + x2) [N, K, h, w]
      const [ent, M] = this.amp(() => {
        const [x1, x2] = this.forwardUp(target.image, target.size);
        return [entropyLoss(F.softmax(x1.add(x2), 1)), disagreementMap(x1.detach(), x2.detach())] as const; // M: logged only
      });
      this.backward(ent.mul(c.minent.lambdaEnt * damping));
      this.stepAll(this.optG);
      return { losses: { seg: seg.item(), ent: ent.item() }, lrG, damping, m: M.mean().item() };
    });
  }
}
