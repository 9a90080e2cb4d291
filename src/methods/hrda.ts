// HRDA (Hoyer, Dai, Van Gool, ECCV 2022; docs/method.md §13): context-aware high-resolution domain adaptation. The DACS
// self-training (methods/dacs.ts, §11) on HRDA's network (models/hrda-segmentor.ts): G sees each image twice, as a
// low-resolution context input (scale 0.5) and as a high-resolution detail crop inside it, and a learned scale
// attention fuses the two predictions; the mean teacher labels the target at high resolution (context + detail
// windows sliding over the whole image). Order of lhoyer/HRDA mmseg/models/uda/dacs.py forward_train with
// HRDAEncoderDecoder.forward_train and HRDAHead.losses:
//   1. teacher ← α·teacher + (1 − α)·G (§11 step 1)
//   2. source: a random detail crop (models/hrda-segmentor.ts randomDetailBox); L_src = hrdaLoss(G.forwardTrain, y)
//   3. pseudo-labels: the teacher's test-time forward on the target (BN in training mode, dropout and drop path off,
//      as DAFormer's code sets them), p = softmax(up(fused)); ŷ = argmax p, confident where max p ≥ τ
//   4. ClassMix mask, mixed image, label and weight (§11 steps 4–5)
//   5. mixed: a new detail crop; L_mix = λ_mix · hrdaLoss(G.forwardTrain, mixed label, mixed weight)
//   6. step G (before it, Dacs's extraTargetLosses hook: MIC's masked images, methods/mic.ts)
// hrdaLoss = (1 − λ_d − λ_c)·ℓ(up(fused), y) + λ_d·ℓ(up(detail), crop(y)) + λ_c·ℓ(up((1 − a)·context), y), each ℓ the
// configured per-pixel loss times the weight map, averaged over ALL pixels (mmseg's CrossEntropyLoss: ignored pixels
// count as 0), logits upsampled to the label (bilinear, align_corners=False). Left out (DAFormer's, not HRDA's own):
// colour jitter and blur, rare-class sampling, the ImageNet feature distance, AdamW; and the data loader's
// pseudo-label margins (crop_pseudo_margins). Images are used at the source label's size (multiples of 8).
import * as torch from '../torch/index.js';
import { F, Dropout2d, DropPath, type Tensor } from '../torch/index.js';
import type { Segmentor } from '../models/segmentor.js';
import { HrdaSegmentor } from '../models/hrda-segmentor.js';
import type { CropBox } from '../models/hrda.js';
import type { SourceBatch, StepLog, TargetBatch } from './uda.js';
import type { MethodConfig } from './config.js';
import { Dacs, classMixMask, labelsOf, mixBatch, type TeacherLabels } from './dacs.js';
import { pixelLoss } from './losses.js';
import { ClanError } from '../util/errors.js';

/** HRDA's losses of one batch: the total (what is backpropagated) and its detail term, both already weighted. */
export interface HrdaLoss { total: Tensor; detail: Tensor }

export class Hrda extends Dacs {
  override readonly lossKeys: readonly string[] = ['seg', 'seg_detail', 'mix', 'mix_detail'];
  declare readonly G: HrdaSegmentor;
  /** The detail crops of the last step (source, mixed, MIC's masked), in image pixels: for debugging views and the parity test. */
  readonly lastCropBoxes: { source: CropBox | null; mix: CropBox | null; masked: CropBox | null } =
    { source: null, mix: null, masked: null };
  private readonly hrdaTeacher: HrdaSegmentor;

  constructor(G: Segmentor, cfg: MethodConfig) {
    if (!(G instanceof HrdaSegmentor)) {
      throw new ClanError('hrda trains HRDA\'s multi-resolution network: pass --backbone hrda-mit-b5 (official; hrda-mit-b0…b4 are smaller)');
    }
    const { detailLossWeight: d, contextLossWeight: c } = cfg.hrda;
    if (d + c > 1) throw new ClanError(`hyper.hrda: detailLossWeight + contextLossWeight = ${d + c}; they must sum to at most 1 (the fused loss takes 1 − both)`);
    super(G, cfg);
    this.hrdaTeacher = this.teacher as HrdaSegmentor;
  }

  override trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog {
    const n = source.image.size(0);
    if (target.image.size(0) !== n) throw new ClanError(`hrda mixes source and target images in pairs: the batches must be equal, got ${n} source and ${target.image.size(0)} target images`);
    const size: [number, number] = [source.label.size(1), source.label.size(2)];
    const d = this.G.hrda.divisible;
    if (size[0] % d !== 0 || size[1] % d !== 0) throw new ClanError(`hrda: the training crop ${size[1]}×${size[0]} must have sides that are multiples of ${d} (set crop to e.g. ${Math.ceil(size[1] / d) * d}x${Math.ceil(size[0] / d) * d})`);
    return torch.tidy(() => {
      this.updateTeacher(i);
      this.optG.zeroGrad();
      const lrG = this.setLrG(i);
      this.G.train();
      const fit = (x: Tensor) => (x.size(2) === size[0] && x.size(3) === size[1] ? x : F.interpolate(x, size, { alignCorners: false }));
      const sourceImage = fit(source.image);
      const seg = this.amp(() => this.hrdaLoss(sourceImage, source.label, null, 'source'));
      this.backward(seg.total);
      const targetImage = fit(target.image);                                       // [N, 3, H, W]
      const labels = this.pseudoLabels(targetImage);
      const { pseudo, confident } = labels;
      const mask = classMixMask(source.label, this.G.numClasses);                  // [N, H, W] bool
      const mixed = mixBatch({ image: sourceImage, label: source.label }, targetImage, mask, pseudo, confident, this.cfg.dacs.pseudoWeight);
      const mix = this.amp(() => {
        const l = this.hrdaLoss(mixed.image, mixed.label, mixed.weight, 'mix');
        return { total: l.total.mul(this.cfg.dacs.lambdaMix), detail: l.detail.mul(this.cfg.dacs.lambdaMix) };
      });
      this.backward(mix.total);
      const extra = this.extraTargetLosses({ image: targetImage, ...labels });
      this.stepAll(this.optG);
      const losses = { seg: seg.total.item(), seg_detail: seg.detail.item(), mix: mix.total.item(), mix_detail: mix.detail.item() };
      return { losses: { ...losses, ...extra }, lrG };
    });
  }

  /** HRDA's loss on a self-training batch (a fresh detail crop, HRDAHead.losses), for the hooks (MIC's masked images). */
  protected override studentLoss(image: Tensor, label: Tensor, weight: Tensor): Tensor {
    return this.hrdaLoss(image, label, weight, 'masked').total;
  }

  /** Steps 2 and 5: a fresh detail crop, G's three outputs, HRDAHead.losses (see the file header). */
  private hrdaLoss(image: Tensor, label: Tensor, weight: Tensor | null, what: 'source' | 'mix' | 'masked'): HrdaLoss {
    return torch.tidy(() => {
      const [H, W] = [label.size(1), label.size(2)];
      const box = this.G.randomDetailBox(H, W);
      this.lastCropBoxes[what] = box;
      const out = this.G.forwardTrain(image, box);
      const { detailLossWeight: wd, contextLossWeight: wc } = this.cfg.hrda;
      const fused = segLossMean(this.cfg, out.fused, label, weight).mul(1 - wd - wc);
      const detail = wd > 0
        ? segLossMean(this.cfg, out.hr, cropLabel(label, box), weight && cropLabel(weight, box)).mul(wd)
        : torch.zeros([], { device: this.device });
      const total = wc > 0 ? fused.add(detail).add(segLossMean(this.cfg, out.lr, label, weight).mul(wc)) : fused.add(detail);
      return { total, detail };
    });
  }

  /**
   * Step 3: the teacher's labels [N, H, W] (int64) and which reach τ (bool), from its test-time forward (context and
   * sliding detail windows) upsampled to the image. DAFormer's code keeps the teacher in training mode (BN batch
   * statistics) but switches its dropout and drop path off.
   */
  private pseudoLabels(image: Tensor): TeacherLabels {
    return torch.tidy(() => torch.noGrad(() => {
      this.hrdaTeacher.train();
      for (const [, m] of this.hrdaTeacher.namedModules()) if (m instanceof Dropout2d || m instanceof DropPath) m.training = false;
      const [fused] = this.hrdaTeacher.forward(image);
      const p = F.softmax(F.interpolate(fused, [image.size(2), image.size(3)], { alignCorners: false }), 1); // [N, K, H, W]
      return labelsOf(p, this.cfg.dacs.pseudoThreshold);
    }));
  }
}

/**
 * mmseg's decode-head loss: logits [N, K, h, w] upsampled to the label's [H, W] (bilinear, align_corners=False), the
 * configured per-pixel loss (0 where ignored) times `weight` [N, H, W] if any, averaged over all N·H·W pixels.
 */
export function segLossMean(cfg: Pick<MethodConfig, 'segLoss' | 'gamma'>, logits: Tensor, label: Tensor, weight: Tensor | null): Tensor {
  return torch.tidy(() => {
    const up = F.interpolate(logits, [label.size(1), label.size(2)], { alignCorners: false });
    const l = pixelLoss(cfg.segLoss, up, label, cfg.gamma);
    return (weight ? l.mul(weight) : l).mean();
  });
}

/** label[:, y1:y2, x1:x2] of an [N, H, W] map (HRDA crops the label and the weight map with the detail box). */
function cropLabel(t: Tensor, b: CropBox): Tensor { return t.slice(1, b[0], b[1]).slice(2, b[2], b[3]); }
