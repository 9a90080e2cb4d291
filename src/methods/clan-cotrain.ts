// CLAN + co-training (docs/method.md §10): a self-training round (`clan selftrain --method clan-cotrain`) that keeps
// CLAN's losses on top of the pseudo-label loss — the CLAN iteration (clan.ts), whose target forward also gives
// C1 C2's confident pseudo-labels and C2 C1's (cotrain.ts). The pseudo-label term joins the adversarial one in a
// single backward through the target graph (adversarial.ts, targetLosses). D starts fresh each round, as the
// optimizers do.
import type { Tensor } from '../torch/index.js';
import { Clan } from './clan.js';
import { pseudoLabelLoss, requirePseudoLabels } from './cotrain.js';
import type { SourceBatch, StepLog, TargetBatch } from './uda.js';

export class ClanCoTrain extends Clan {
  override readonly lossKeys: readonly string[] = ['seg', 'adv', 'pseudo', 'weight', 'd_s', 'd_t'];
  override readonly targetLabels = true;

  override trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog {
    requirePseudoLabels('clan-cotrain', target);
    return super.trainStep(i, source, target);
  }

  protected override targetLosses(x1: Tensor, x2: Tensor, target: TargetBatch): Record<string, Tensor> {
    return { pseudo: pseudoLabelLoss(this.cfg, x1, x2, target) };
  }
}
