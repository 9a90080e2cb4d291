// Source-only baseline: G trained on labelled source images alone (the lower bound of every UDA table).
import * as torch from '../torch/index.js';
import { UDAMethod, type SourceBatch, type StepLog } from './uda.js';

export class SourceOnly extends UDAMethod {
  readonly lossKeys = ['seg'] as const;

  trainStep(i: number, source: SourceBatch): StepLog {
    return torch.tidy(() => {
      this.optG.zeroGrad();
      const lrG = this.setLrG(i);
      this.G.train();
      const seg = this.sourceSegLoss(source);
      this.backward(seg);
      this.stepAll(this.optG);
      return { losses: { seg: seg.item() }, lrG };
    });
  }
}
