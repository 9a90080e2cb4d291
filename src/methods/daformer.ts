// DAFormer (Hoyer, Dai, Van Gool, CVPR 2022; docs/method.md §12): DACS's self-training (§11) on a Mix Transformer with
// DAFormer's head, plus three training strategies of its own — the mixed images' strong augmentation (colour jitter
// and Gaussian blur, methods/augment.ts), AdamW with a warm-up (uda.ts adamwGroups, schedule.ts mmcvPolyWarmAt), and a
// thing-class feature distance to the frozen initial (ImageNet) encoder. Order of lhoyer/DAFormer
// mmseg/models/uda/dacs.py forward_train:
//   1. teacher ← α·teacher + (1 − α)·G (§11 step 1; DAFormer's α 0.999); at i = 0 the frozen copy E₀ ← G's encoder
//   2. source: features f = E(x_s), L_src = ℓ(up(head(f)), y_s) (mmseg mean over all pixels) and
//      L_fd = λ_fd · mean over thing pixels of ‖f₄ − E₀(x_s)₄‖₂ (stride-32 maps, labels scaled down by majority ≥ 0.75)
//   3. pseudo-labels: the teacher on the target (BN in training mode, dropout and drop path off), p = softmax(up(logits))
//   4. ClassMix mask, mixed image, label and confidence-share weight (§11 steps 4–5)
//   5. strong augmentation of the mixed images (augment.ts); L_mix = λ_mix · ℓ(up(G(x_mix)), y_mix, weight)
//   6. step G (AdamW in the daformer preset; before it, Dacs's extraTargetLosses hook: MIC's masked images, mic.ts)
// Not as the official code: L_src + L_fd are backpropagated together (DAFormer: two backward calls through the kept
// graph; the same gradient up to rounding); L_fd is 0 on a batch without thing pixels (DAFormer: the mean of nothing,
// NaN); the augmentation draws come from torch's generator at mixing time (DAFormer: Python's random at the top of
// the iteration, numpy for σ, kornia's own draws); ClassMix is §11's (per image, 255 excluded). Rare-class sampling is
// the source loader's (data/rcs.ts, train/run-data.ts). Left out: the pseudo-label margins (crop_pseudo_margins).
import * as torch from '../torch/index.js';
import { F, Dropout2d, DropPath, type Tensor } from '../torch/index.js';
import type { Segmentor } from '../models/segmentor.js';
import { MitSegmentor } from '../models/segformer.js';
import type { SourceBatch, StepLog, TargetBatch } from './uda.js';
import type { MethodConfig } from './config.js';
import { Dacs, classMixMask, labelsOf, mixBatch, type TeacherLabels } from './dacs.js';
import { segLossMean } from './hrda.js';
import { strongAugment, strongAugOptions, type StrongAugDraws } from './augment.js';
import { mmcvPolyWarmAt } from './schedule.js';
import { IGNORE } from './losses.js';
import { ClanError } from '../util/errors.js';

export class Daformer extends Dacs {
  override readonly lossKeys: readonly string[];
  declare readonly G: MitSegmentor;
  /** E₀: the initial network, frozen (its encoder is the feature distance's anchor; checkpointed as IMNET.*). */
  readonly imnet: MitSegmentor | null;
  /** The augmentation draws of the last step (the parity test). */
  lastDraws: StrongAugDraws | null = null;

  constructor(G: Segmentor, cfg: MethodConfig) {
    if (!(G instanceof MitSegmentor)) throw new ClanError('daformer trains DAFormer\'s network: pass --backbone mit-b5 (official; mit-b0…b4 are smaller)');
    if (cfg.daformer.fdLambda > 0 && cfg.initWeights !== true) {
      throw new ClanError('daformer: the feature distance (hyper.daformer.fdLambda) pulls toward the initial encoder, random without weights: pass --init mit_b5.safetensors (clan convert --from mmseg) or --set hyper.daformer.fdLambda=0');
    }
    super(G, cfg);
    this.lossKeys = cfg.daformer.fdLambda > 0 ? ['seg', 'fd', 'mix'] : ['seg', 'mix'];
    if (cfg.daformer.fdLambda > 0) {
      const rng = torch.getRngState();                   // as the teacher: a replica's init must not move the data order
      this.imnet = G.replica().to(G.device);
      torch.setRngState(rng);
      this.imnet.requiresGrad_(false);
    } else this.imnet = null;
  }

  /** mmcv's poly with linear warm-up (DAFormer's poly10warm), every group at its multiple. */
  protected override setLrG(i: number): number {
    const lr = mmcvPolyWarmAt(this.cfg.lrG, i, { ...this.schedule, warmupRatio: this.cfg.daformer.warmupRatio });
    this.setGroupLrs(lr);
    return lr;
  }

  override trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog {
    const n = source.image.size(0);
    if (target.image.size(0) !== n) throw new ClanError(`daformer mixes source and target images in pairs: the batches must be equal, got ${n} source and ${target.image.size(0)} target images`);
    const size: [number, number] = [source.label.size(1), source.label.size(2)];
    return torch.tidy(() => {
      this.updateTeacher(i);
      if (i === 0 && this.imnet) this.copyInitial();
      this.optG.zeroGrad();
      const lrG = this.setLrG(i);
      this.G.train();
      const fit = (x: Tensor) => (x.size(2) === size[0] && x.size(3) === size[1] ? x : F.interpolate(x, size, { alignCorners: false }));
      const sourceImage = fit(source.image);                                    // [N, 3, H, W]
      const src = this.amp(() => this.sourceLosses(sourceImage, source.label));
      this.backward(src.fd ? src.seg.add(src.fd) : src.seg);
      const targetImage = fit(target.image);
      const labels = this.pseudoLabels(targetImage);
      const { pseudo, confident } = labels;
      const mask = classMixMask(source.label, this.G.numClasses);              // [N, H, W] bool
      const mixed = mixBatch({ image: sourceImage, label: source.label }, targetImage, mask, pseudo, confident, this.cfg.dacs.pseudoWeight);
      const aug = strongAugment(mixed.image, strongAugOptions(this.cfg.daformer, this.cfg.normalize));
      this.lastDraws = aug.draws;
      const mix = this.amp(() => this.studentLoss(aug.image, mixed.label, mixed.weight).mul(this.cfg.dacs.lambdaMix));
      this.backward(mix);
      const extra = this.extraTargetLosses({ image: targetImage, ...labels }); // MIC's masked images (mic.ts)
      this.stepAll(this.optG);
      const losses: Record<string, number> = { seg: src.seg.item(), ...(src.fd ? { fd: src.fd.item() } : {}), mix: mix.item(), ...extra };
      return { losses, lrG };
    });
  }

  /** DAFormer's segmentation loss of a self-training batch: mmseg's mean over all pixels of ℓ · weight (hrda.ts). */
  protected override studentLoss(image: Tensor, label: Tensor, weight: Tensor): Tensor {
    return segLossMean(this.cfg, this.G.forward(image)[0], label, weight);
  }

  /** Step 2: the source loss and, with λ_fd > 0, the feature distance on the same forward's encoder maps. */
  private sourceLosses(image: Tensor, label: Tensor): { seg: Tensor; fd: Tensor | null } {
    return torch.tidy(() => {
      const feats = this.G.features(image);                                    // 4 maps, strides 4…32
      const seg = segLossMean(this.cfg, this.G.decodeHead.forward(feats), label, null);
      if (!this.imnet) return { seg, fd: null };
      const anchor = torch.noGrad(() => { this.imnet!.eval(); return this.imnet!.features(image)[3]; });
      const d = this.cfg.daformer;
      const fd = thingFeatureDistance(feats[3], anchor, label,
        { classes: d.fdClasses, minRatio: d.fdScaleMinRatio, numClasses: this.G.numClasses });
      return { seg, fd: fd.mul(d.fdLambda) };
    });
  }

  /** Step 3, as hrda.ts: the teacher's labels [N, H, W] and which reach τ, BN in training mode, dropout and drop path off. */
  private pseudoLabels(image: Tensor): TeacherLabels {
    return torch.tidy(() => torch.noGrad(() => {
      this.teacher.train();
      for (const [, m] of this.teacher.namedModules()) if (m instanceof Dropout2d || m instanceof DropPath) m.training = false;
      const [logits] = this.teacher.forward(image);
      const p = F.softmax(F.interpolate(logits, [image.size(2), image.size(3)], { alignCorners: false }), 1); // [N, K, H, W]
      return labelsOf(p, this.cfg.dacs.pseudoThreshold);
    }));
  }

  /** E₀ ← G at step 0 (after --init reached G, as the teacher); a resumed run restores it from IMNET.*. */
  private copyInitial(): void {
    const src = this.G.parameters();
    const bufs = this.G.namedBuffers().map(([, b]) => b);
    torch.noGrad(() => {
      this.imnet!.parameters().forEach((t, k) => { t.copy_(src[k]!.detach()); });
      this.imnet!.namedBuffers().forEach(([, b], k) => { b.copy_(bufs[k]!); });
    });
  }

  override parts(): ReturnType<Dacs['parts']> {
    const p = super.parts();
    return this.imnet ? { ...p, modules: { ...p.modules, IMNET: this.imnet } } : p;
  }
  override dispose(): void { super.dispose(); this.imnet?.dispose(); }
}

/**
 * DAFormer's downscale_label_ratio: labels [N, H, W] → [N, H/f, W/f] at the feature map's size (f = W // w): each
 * f×f block takes its most frequent class (255 counted as a class of its own) if it covers ≥ minRatio of the block,
 * else 255.
 */
export function downscaleLabel(label: Tensor, f: number, minRatio: number, numClasses: number): Tensor {
  return torch.tidy(() => {
    const lab = label.maskedFill(label.eq(IGNORE), numClasses);               // ignore → class K
    const onehot = F.oneHot(lab, numClasses + 1).permute(0, 3, 1, 2).to('float32'); // [N, K+1, H, W]
    const share = F.avgPool2d(onehot, f);                                     // [N, K+1, H/f, W/f]
    const [ratio, cls] = share.maxDim(1);
    return cls.maskedFill(cls.eq(numClasses).logicalOr(ratio.lt(minRatio)), IGNORE);
  });
}

/**
 * DAFormer's masked_feat_dist on the deepest maps: mean over the feature pixels whose scaled-down label is one of
 * `classes` (all pixels when null) of the L2 distance over channels between f and f₀ [N, C, h, w]; 0 when none is.
 */
export function thingFeatureDistance(f: Tensor, f0: Tensor, label: Tensor,
  o: { classes: number[] | null; minRatio: number; numClasses: number }): Tensor {
  return torch.tidy(() => {
    const dist = f.sub(f0).norm(2, 1);                                        // [N, h, w]
    if (o.classes === null) return dist.mean();
    const scaled = downscaleLabel(label, Math.floor(label.size(2) / f.size(3)), o.minRatio, o.numClasses);
    const mask = o.classes.reduce((m, c) => m.logicalOr(scaled.eq(c)), torch.zerosLike(scaled).to('bool'));
    const count = mask.sum().item();
    return count === 0 ? dist.sum().mul(0) : dist.maskedSelect(mask).mean();
  });
}
