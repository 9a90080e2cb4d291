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
      const seg = this.amp(() => {
        const [x1, x2] = this.forwardUp(source.image, [source.label.size(1), source.label.size(2)]);
        return this.segLoss(x1, x2, source.label);
      });
      this.backward(seg);
      this.stepAll(this.optG);
      return { losses: { seg: seg.item() }, lrG };
    });
  }
}
