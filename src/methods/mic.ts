// MIC (Hoyer, Dai, Wang, Van Gool, CVPR 2023; docs/method.md §14): masked image consistency. On top of a mean-teacher
// self-training method (DACS's, HRDA's), G also learns the target image with most of it masked out — random blocks
// removed — against the teacher's pseudo-labels of the whole, unmasked image, so it must infer the masked regions
// from their context. As lhoyer/MIC's MaskingConsistencyModule with mask_mode 'separatetrg(aug)',
// mask_pseudo_threshold and mask_alpha 'same' (the method's own pseudo-labels and quality weight, no second teacher):
//   1.–6. the base method's iteration (§11; §13 for HRDA), its losses backpropagated as it does
//   7. masked image: with mode 'separatetrgaug' (the official configs') the target batch colour-jittered and blurred
//      with draws of its own (DAFormer's strong augmentation, augment.ts, one order and σ per batch), then × the block
//      mask of methods/masking.ts (blocks of blockSize px, each kept with probability 1 − ratio); all drawn from
//      torch's generator after ClassMix's draws, the augmentation's first; 'separatetrg' masks the plain target batch.
//      With hyper.mic.draws 'own' (ours) these draws, and any of steps 7–8's forward (HRDA's detail crop), come from a
//      CPU stream of their own (torch.forkRng), so the base method's draws stay those of a run of it alone: DACS and
//      MIC of one seed see the same mixed batches
//   8. L_masked = λ_mask · the base method's loss of G on (masked image, pseudo-labels ŷ, their weight) — the weight
//      of the target pixels of step 5 (the share of confident pixels, or per pixel; hyper.mic.pseudoWeight may choose
//      its own) — backpropagated; with bnStats 'keep' (ours, not official) G's BatchNorm running statistics are put
//      back after it
//   9. step G
import * as torch from '../torch/index.js';
import { Dacs, pseudoWeight, type PseudoLabelled } from './dacs.js';
import { Hrda } from './hrda.js';
import { Daformer } from './daformer.js';
import { maskImages, resolveBlockSize } from './masking.js';
import { strongAugment, strongAugOptions } from './augment.js';

/** The mean-teacher methods MIC goes on: Dacs and its subclasses (Hrda, and whatever else extends Dacs). */
export type MeanTeacherClass = typeof Dacs;

/**
 * `Base` with MIC's masked image consistency added: one more loss, 'masked', after the base method's own, through
 * Dacs's extraTargetLosses hook and the base's studentLoss (so on HRDA it is HRDA's multi-resolution loss).
 */
export function withMic(Base: MeanTeacherClass): MeanTeacherClass {
  return class Mic extends Base {
    // the base's keys (its field is set when this initialiser runs, right after super()), then MIC's
    override readonly lossKeys: readonly string[] = [...(this as Dacs).lossKeys, 'masked'];

    protected override extraTargetLosses(target: PseudoLabelled): Record<string, number> {
      const before = super.extraTargetLosses(target);
      // 'own': every draw of the masked batch (augmentation, mask, HRDA's detail crop, drop path on the CPU) from MIC's stream
      const own = this.cfg.mic.draws === 'own';
      const masked = own ? torch.forkRng(ownStreamSeed(), () => this.maskedLoss(target, 'cpu')) : this.maskedLoss(target);
      return { ...before, masked };
    }

    /** Steps 7–8: the masked target batch's loss against the pseudo-labels, backpropagated; its value. */
    private maskedLoss(target: PseudoLabelled, drawOn?: torch.Device): number {
      return torch.tidy(() => {
        const [h, w] = [target.image.size(2), target.image.size(3)];
        const { blockSize, ratio, lambda, mode, pseudoThreshold: tau } = this.cfg.mic; // tau null: the base's τ ('same')
        const seen = mode === 'separatetrgaug'                                                 // [N, 3, H, W]
          ? strongAugment(target.image, strongAugOptions(this.cfg.mic, this.cfg.normalize, true)).image
          : target.image;
        const image = maskImages(seen, resolveBlockSize(blockSize, h, w), ratio, drawOn);     // [N, 3, H, W]
        const confident = tau === null ? target.confident : target.confidence.ge(tau);      // [N, H, W] bool
        const weight = pseudoWeight(confident, this.cfg.mic.pseudoWeight ?? this.cfg.dacs.pseudoWeight); // [N, H, W]
        return this.maskedBnScope(() => {
          const loss = this.amp(() => this.studentLoss(image, target.pseudo, weight).mul(lambda));
          this.backward(loss);
          return loss.item();
        });
      });
    }

    /**
     * Runs the masked batch's forward and backward. With hyper.mic.bnStats 'keep', G's buffers (BatchNorm's running
     * statistics) are put back afterwards: the masked images still normalise with their own batch statistics, but
     * what G evaluates with stays an average over the source and mixed batches, not a third of it gray blocks (§14).
     * Put back after the backward, since BatchNorm's backward holds the running buffers it saw.
     */
    private maskedBnScope<T>(f: () => T): T {
      if (this.cfg.mic.bnStats === 'update') return f();
      const buffers = this.G.namedBuffers().map(([, b]) => b);
      const saved = torch.noGrad(() => buffers.map((b) => b.clone()));
      const out = f();
      torch.noGrad(() => buffers.forEach((b, k) => { b.copy_(saved[k]!); }));
      return out;
    }
  };
}

/**
 * The seed of hyper.mic.draws 'own''s stream this iteration: FNV-1a (32 bits) of the CPU generator's state, which
 * differs from iteration to iteration (the base method draws ClassMix's classes from it every step) and is restored
 * by resume, so a resumed run draws the same masks.
 */
function ownStreamSeed(): number {
  let h = 0x811c9dc5;
  for (const byte of torch.getRngState()) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** MIC on DACS's self-training (`--method mic`): any DeepLab or MiT network. */
export const Mic = withMic(Dacs);
/** MIC on HRDA's (`--method mic-hrda --backbone hrda-mit-b5`), the paper's best set-up. */
export const MicHrda = withMic(Hrda);
/** MIC on DAFormer's (`--preset daformer --method mic-daformer`). */
export const MicDaformer = withMic(Daformer);
