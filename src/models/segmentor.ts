// What methods, evaluation and prediction may assume about a network (docs/architecture.md): a Segmentor is a
// feature extractor E with two classifier heads C1, C2 (docs/method.md §1.3), a Discriminator maps class
// probabilities to per-patch domain logits (§1.4). Methods and the trainer see only these interfaces.
import * as torch from '../torch/index.js';
import { F, type Module, type Tensor } from '../torch/index.js';

export interface Segmentor extends Module {
  readonly numClasses: number;
  /** x [N, 3, H, W] → [x1, x2], each [N, K, h, w]: raw logits of C1 and C2 at the output stride. */
  forward(x: Tensor): [Tensor, Tensor];
  /** C1's and C2's parameters, each in parameters() order (the weight-discrepancy loss, §2.2). */
  classifierParameters(): [Tensor[], Tensor[]];
  /** The trainable backbone parameters: the 1× learning-rate group (§3). */
  backboneParameters(): Tensor[];
  /** C1 then C2 parameters: the head learning-rate group (§3). */
  headParameters(): Tensor[];
  /** The official optimizer's backbone list with its duplicates (§3; the `official-exact` preset only). */
  officialBackboneParameterList(): Tensor[];
  /** True for a state-dict key of a classifier head (`--init` with scope 'backbone' leaves those at their init). */
  isHeadKey(key: string): boolean;
  /** A new network of the same architecture, freshly initialised, on the CPU (a mean teacher's body: methods/dacs.ts). */
  replica(): Segmentor;
  /**
   * True for a network with one classifier (MitSegmentor): x2 is then a zero map, C2 has no parameters, and methods
   * built on two different classifiers (CLAN's weight discrepancy and disagreement map) do not apply. Absent: two heads.
   */
  readonly singleHead?: boolean;
  /** align_corners of the final upsampling of the logits (mmseg-style networks: false). Absent: true (§1.5, §5.3). */
  readonly alignCorners?: boolean;
}

export interface Discriminator extends Module {
  /** x [N, K, H, W] class probabilities → [N, 1, h, w] logits of "this patch is from the target domain" (§2.5). */
  forward(x: Tensor): Tensor;
}

/**
 * Inference as the official evaluation (§1.3, §5.3): logits = up(x1 + x2), the heads summed at the output stride and
 * upsampled once (bilinear, align_corners unless G says otherwise) to `size`; argmax is the caller's. One
 * full-resolution tensor, not three.
 */
export function predictLogits(G: Segmentor, x: Tensor, size: [number, number]): Tensor {
  return torch.tidy(() => torch.noGrad(() => {
    const [a, b] = G.forward(x);
    return F.interpolate(a.add(b), size, { alignCorners: G.alignCorners ?? true });
  }));
}

/** Both heads upsampled to `size` (for the disagreement map M) and the official logits up(x1 + x2). */
export function predictHeads(G: Segmentor, x: Tensor, size: [number, number]): { logits: Tensor; x1: Tensor; x2: Tensor } {
  return torch.tidy(() => torch.noGrad(() => {
    const [a, b] = G.forward(x);
    const up = (t: Tensor) => F.interpolate(t, size, { alignCorners: G.alignCorners ?? true });
    return { logits: up(a.add(b)), x1: up(a), x2: up(b) };
  }));
}

/**
 * The local alignment map M = 1 − cos(p1, p2) over the class dim, per pixel and per image (§2.3), with no ε and
 * no normalisation, differentiable (CLAN's G step keeps it attached). x1, x2 [N, K, H, W] → M [N, 1, H, W] ∈ [0, 1].
 */
export function disagreementMap(x1: Tensor, x2: Tensor): Tensor {
  return torch.tidy(() => {
    const p1 = F.softmax(x1, 1);
    const p2 = F.softmax(x2, 1);
    return p1.mul(p2).sum(1).div(p1.norm(2, 1).mul(p2.norm(2, 1))).rsub(1).unsqueeze(1);
  });
}
