// DACS (Tranheden et al., WACV 2021; docs/method.md §11): domain adaptation via cross-domain mixed sampling, the
// self-training that DAFormer builds on. A mean teacher (an EMA of G) labels each target batch; ClassMix pastes half
// of the classes of each source image, with their labels, onto a target image; G learns the source and the mixed
// images — the pasted pixels with their true labels, the rest with the teacher's pseudo-labels weighted by the share
// of confident teacher pixels. Pseudo-labels are made on the fly (no rounds), so it trains like any method.
// One iteration:
//   1. teacher ← α·teacher + (1 − α)·G, α = min(1 − 1/(i+1), emaAlpha) (at i = 0 the teacher is G: --init included)
//   2. source: L_seg of both heads (§2.1)
//   3. teacher on the target batch (train-mode BN, no gradient): pseudo-labels argmax p, confidence max p, p of x1 + x2
//   4. ClassMix: per image, ⌈n/2⌉ of the n classes in the source label at random; mask M = their pixels
//   5. mixed image M·x_s + (1 − M)·x_t; label M·y_s + (1 − M)·ŷ_t; weight M + (1 − M)·(share of pixels with max p ≥ τ)
//   6. λ_mix · mean over pixels of weight · ℓ(x_k, label) for both heads (ℓ: the configured focal or CE, per pixel)
//   7. step G (before it, the extraTargetLosses hook: none here; MIC's masked image consistency, methods/mic.ts)
// Not ours to change: the official code updates the teacher after step i with α(i); here it is before step i + 1 with
// α(i + 1) (the same after the first 100 steps), so that --init weights reach the teacher at step 0 and a resumed
// run needs no flag. Left out: DACS's colour jitter and blur of the mixed images.
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import type { Segmentor } from '../models/segmentor.js';
import { UDAMethod, type MethodParts, type SourceBatch, type StepLog, type TargetBatch } from './uda.js';
import type { MethodConfig } from './config.js';
import { IGNORE, pixelLoss } from './losses.js';
import { ClanError } from '../util/errors.js';

export class Dacs extends UDAMethod {
  readonly lossKeys: readonly string[] = ['seg', 'mix'];
  /** The mean teacher: an exponential moving average of G's parameters (checkpointed as EMA.*). */
  readonly teacher: Segmentor;

  constructor(G: Segmentor, cfg: MethodConfig) {
    super(G, cfg);
    // Its random init is overwritten at step 0; the RNG is put back so that data order matches the other methods'.
    const rng = torch.getRngState();
    this.teacher = G.replica().to(G.device);
    torch.setRngState(rng);
    this.teacher.requiresGrad_(false);
  }

  trainStep(i: number, source: SourceBatch, target: TargetBatch): StepLog {
    const n = source.image.size(0);
    if (target.image.size(0) !== n) throw new ClanError(`dacs mixes source and target images in pairs: the batches must be equal, got ${n} source and ${target.image.size(0)} target images`);
    // Mixed at the source label's size; an image at another size (random scale) is resized to it first.
    const size: [number, number] = [source.label.size(1), source.label.size(2)];
    return torch.tidy(() => {
      this.updateTeacher(i);
      this.optG.zeroGrad();
      const lrG = this.setLrG(i);
      this.G.train();
      const seg = this.sourceSegLoss(source);
      this.backward(seg);
      const fit = (x: Tensor) => (x.size(2) === size[0] && x.size(3) === size[1] ? x : F.interpolate(x, size, { alignCorners: true }));
      const targetImage = fit(target.image);                                       // [N, 3, h, w]
      const labels = this.teacherLabels(targetImage);
      const { pseudo, confident } = labels;
      const mask = classMixMask(source.label, this.G.numClasses);                  // [N, h, w] bool
      const mixed = mixBatch({ image: fit(source.image), label: source.label }, targetImage, mask, pseudo, confident,
        this.cfg.dacs.pseudoWeight);
      const mix = this.amp(() => this.studentLoss(mixed.image, mixed.label, mixed.weight).mul(this.cfg.dacs.lambdaMix));
      this.backward(mix);
      const extra = this.extraTargetLosses({ image: targetImage, ...labels });
      this.stepAll(this.optG);
      return { losses: { seg: seg.item(), mix: mix.item(), ...extra }, lrG };
    });
  }

  /**
   * Step 6's loss of G on a self-training batch, before λ: mean over pixels of weight · ℓ(x_k, label) for both heads,
   * logits upsampled to the label. image [N, 3, H, W], label [N, H, W] int64, weight [N, H, W]. HRDA overrides it with
   * its multi-resolution loss, so MIC (methods/mic.ts) trains its masked images with each method's own loss.
   */
  protected studentLoss(image: Tensor, label: Tensor, weight: Tensor): Tensor {
    return torch.tidy(() => {
      const [x1, x2] = this.forwardUp(image, [label.size(1), label.size(2)]);
      const l = (x: Tensor) => pixelLoss(this.cfg.segLoss, x, label, this.cfg.gamma).mul(weight).mean();
      return l(x1).add(l(x2));
    });
  }

  /**
   * After the mixed loss's backward and before G steps: further target losses, each backpropagated here, returned by
   * name for the log (their keys appended to lossKeys). None in DACS; MIC's masked image consistency (methods/mic.ts).
   */
  protected extraTargetLosses(_target: PseudoLabelled): Record<string, number> { return {}; }

  /** Step 1: teacher ← α·teacher + (1 − α)·G over the parameters (DACS's update_ema_variables; BN buffers are the teacher's own). */
  protected updateTeacher(i: number): void {
    const alpha = Math.min(1 - 1 / (i + 1), this.cfg.dacs.emaAlpha);
    const student = this.G.parameters();
    torch.noGrad(() => this.teacher.parameters().forEach((t, k) => { t.mul_(alpha).add_(student[k]!.detach(), 1 - alpha); }));
  }

  /** Step 3: the teacher's labels [N, h, w] (int64) at the image's size, their max p, and which reach the threshold τ (bool). */
  private teacherLabels(image: Tensor): TeacherLabels {
    return torch.tidy(() => torch.noGrad(() => {
      this.teacher.train();
      const [a, b] = this.teacher.forward(image);
      const p = F.softmax(F.interpolate(a.add(b), [image.size(2), image.size(3)], { alignCorners: true }), 1); // [N, K, h, w]
      return labelsOf(p, this.cfg.dacs.pseudoThreshold);
    }));
  }

  override parts(): MethodParts { return { ...super.parts(), modules: { EMA: this.teacher } }; }
  override dispose(): void { super.dispose(); this.teacher.dispose(); }
}

/** The teacher's labels of a target batch (step 3). */
export interface TeacherLabels {
  pseudo: Tensor;     // [N, H, W] int64 the teacher's argmax
  confidence: Tensor; // [N, H, W] float32 its max p
  confident: Tensor;  // [N, H, W] bool max p ≥ τ
}

/** The teacher's labels from its probabilities p [N, K, H, W]: argmax, max p, and max p ≥ `threshold` (τ). */
export function labelsOf(p: Tensor, threshold: number): TeacherLabels {
  const [confidence, pseudo] = p.maxDim(1);
  return { pseudo, confidence, confident: confidence.ge(threshold) };
}

/** The target batch at the training size with the teacher's labels of it (step 3), for the hooks after step 6. */
export interface PseudoLabelled extends TeacherLabels {
  image: Tensor;      // [N, 3, H, W] the target images, unmixed
}

/**
 * The pseudo-labels' weight [N, H, W] on an all-target image, as step 5 weighs the target pixels of a mixed one:
 * `share` (DACS) the batch's share of confident pixels everywhere, `pixel` 1 where confident and 0 elsewhere.
 */
export function pseudoWeight(confident: Tensor, weighting: 'share' | 'pixel'): Tensor {
  return torch.tidy(() => {
    const c = confident.to('float32');
    return weighting === 'share' ? torch.onesLike(c).mul(c.mean()) : c;
  });
}

/**
 * ClassMix's mask (step 4): for each image, ⌈n/2⌉ of the n classes present in its label (255 excluded), chosen with
 * torch's RNG (so a checkpoint resumes it), and the mask of their pixels. labels [N, H, W] int64 → [N, H, W] bool.
 */
export function classMixMask(labels: Tensor, numClasses: number): Tensor {
  return torch.tidy(() => {
    const [n] = labels.shape as [number];
    const masks: Tensor[] = [];
    for (let j = 0; j < n; j++) {
      const lab = labels.slice(0, j, j + 1);                                       // [1, H, W]
      const counts = torch.noGrad(() => F.bincount(lab.maskedFill(lab.eq(IGNORE), numClasses).flatten(), numClasses + 1)).toTypedArray();
      const present = Array.from({ length: numClasses }, (_, c) => c).filter((c) => Number(counts[c]) > 0);
      const order = torch.randperm(present.length).toArray();
      const chosen = order.slice(0, Math.ceil(present.length / 2)).map((k) => present[k]!);
      masks.push(chosen.reduce((m, c) => m.logicalOr(lab.eq(c)), torch.zerosLike(lab).to('bool')));
    }
    return torch.cat(masks, 0);
  });
}

/**
 * Step 5: the mixed batch — image [N, 3, H, W] = source where `mask` else target; label [N, H, W] = source label where
 * `mask` else the pseudo-label; weight [N, H, W] = 1 where `mask`, elsewhere (`share`, DACS) the share of confident
 * pseudo-labels in the batch, or (`pixel`) 1 on a confident pixel and 0 on the others.
 */
export function mixBatch(source: SourceBatch, targetImage: Tensor, mask: Tensor, pseudo: Tensor, confident: Tensor,
  weighting: 'share' | 'pixel' = 'share'): { image: Tensor; label: Tensor; weight: Tensor } {
  return torch.tidy(() => {
    const c = confident.to('float32');
    const share = weighting === 'share' ? c.mean() : c;
    const m = mask.to('float32');
    return {
      image: torch.where(mask.unsqueeze(1), source.image, targetImage),
      label: torch.where(mask, source.label, pseudo),
      weight: m.add(m.rsub(1).mul(share)),
    };
  });
}
