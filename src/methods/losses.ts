// CLAN's losses as pure tensor functions (docs/method.md §2), and ADVENT's entropy terms (§9.1); the disagreement map M
// is models/segmentor.ts. Shapes: logits [N, K, H, W], labels int64 [N, H, W] with 255 = ignore, D logits
// [N, 1, H, W], weight maps [N, 1, H, W], probabilities [N, K, H, W].
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';

export const IGNORE = 255;

/**
 * Focal loss as the official CrossEntropy2d computes it (§2.1): P = softmax clamped to [1e-9, 1 − 1e-9],
 * p_t = P at the label, mean over valid pixels (label ≥ 0, ≠ 255) of −(1 − p_t)^γ · log p_t.
 * The mean runs over the valid pixels of the whole batch (the official code only handles batch 1).
 */
export function focalLoss(logits: Tensor, labels: Tensor, gamma = 2): Tensor {
  return torch.tidy(() => {
    const { loss, valid } = focalMap(logits, labels, gamma);
    const picked = loss.maskedSelect(valid);                                   // [V]
    if (picked.numel === 0) return logits.sum().mul(0);                        // no valid pixel: 0, still a graph
    return picked.mean();
  });
}

/** −(1 − p_t)^γ · log p_t per pixel [N, H, W] (any value where `valid` is false) and the valid-pixel mask. */
function focalMap(logits: Tensor, labels: Tensor, gamma: number): { loss: Tensor; valid: Tensor } {
  return torch.tidy(() => {
    const valid = labels.ge(0).logicalAnd(labels.ne(IGNORE));                  // [N, H, W] bool
    const P = F.softmax(logits, 1).clamp(1e-9, 1 - 1e-9);
    const index = labels.clamp(0).maskedFill(valid.logicalNot(), 0);           // any class where ignored
    const pt = P.gather(1, index.unsqueeze(1)).squeeze(1);                     // [N, H, W]
    return { loss: pt.rsub(1).pow(gamma).neg().mul(pt.log()), valid };
  });
}

/**
 * The segmentation loss per pixel, [N, H, W], 0 where the label is ignored: focal (as focalLoss, before its mean) or
 * cross-entropy. DACS weighs it per pixel and averages over every pixel (methods/dacs.ts).
 */
export function pixelLoss(kind: 'focal' | 'ce', logits: Tensor, labels: Tensor, gamma = 2): Tensor {
  return torch.tidy(() => {
    if (kind === 'ce') return F.crossEntropy(logits, labels, { ignoreIndex: IGNORE, reduction: 'none' });
    const { loss, valid } = focalMap(logits, labels, gamma);
    return loss.maskedFill(valid.logicalNot(), 0);
  });
}

/** Plain cross-entropy over valid pixels (AdaptSegNet/ADVENT, and the paper's form). */
export function ceLoss(logits: Tensor, labels: Tensor): Tensor {
  return F.crossEntropy(logits, labels, { ignoreIndex: IGNORE });
}

/**
 * Weight discrepancy (§2.2): (cos(W5, W6) + 1) · λ_weight · damping · 2, where W5/W6 are all of C1's/C2's
 * parameters (weights AND biases) flattened and concatenated in parameters() order. Gradients reach only the heads.
 */
export function weightDiscrepancy(c1: Tensor[], c2: Tensor[], lambdaWeight: number, damping: number): Tensor {
  return torch.tidy(() => {
    const w5 = torch.cat(c1.map((p) => p.flatten()));
    const w6 = torch.cat(c2.map((p) => p.flatten()));
    const cos = w5.dot(w6).div(w5.norm().mul(w6.norm()));
    return cos.add(1).mul(lambdaWeight).mul(damping).mul(2);
  });
}

/**
 * The adversarial BCE (§2.4): per pixel ℓ = BCE-with-logits(d, target), then the mean of ℓ · weight when a per-pixel
 * weight map is given (CLAN's ε + λ_local·M: Clan.adversarialWeights), else the mean of ℓ. target is the domain
 * label (source 0, target 1, §2.5).
 */
export function adversarialBce(d: Tensor, target: 0 | 1, weight: Tensor | null): Tensor {
  return torch.tidy(() => {
    const l = F.binaryCrossEntropyWithLogits(d, torch.fullLike(d, target), { reduction: 'none' });
    return weight ? l.mul(weight).mean() : l.mean();
  });
}

// ADVENT (advent/utils/func.py) adds 1e-30 inside the log so that p = 0 gives 0·log(1e-30) = 0, not 0·(−∞) = NaN.
const ADVENT_EPS = 1e-30;

/**
 * ADVENT's weighted self-information map (`prob_2_entropy`, §9.1): I_c = −p_c·log2(p_c + 1e-30) / log2(K) per class,
 * [N, K, H, W] from probabilities p [N, K, H, W]; Σ_c I_c is the pixel's entropy normalised to [0, 1]. Written with
 * the natural log: log2 x / log2 K = ln x / ln K, so the value is the same (the engine has no log2).
 */
export function selfInformation(p: Tensor): Tensor {
  return torch.tidy(() => p.mul(p.add(ADVENT_EPS).log()).neg().div(Math.log(p.size(1))));
}

/**
 * ADVENT's `entropy_loss` (§9.1): the mean over the N·H·W pixels of Σ_c −p_c·log2(p_c + 1e-30) / log2(K), a scalar,
 * in the official order (one sum over everything, then the division); natural log as in selfInformation.
 */
export function entropyLoss(p: Tensor): Tensor {
  return torch.tidy(() => {
    const [n, k, h, w] = p.shape as [number, number, number, number];
    return p.mul(p.add(ADVENT_EPS).log()).sum().neg().div(n * h * w * Math.log(k));
  });
}
