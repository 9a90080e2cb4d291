// A Mix Transformer with a decode head as a Segmentor: DAFormer's network (mit-b5 + the context-aware fusion head,
// lhoyer/DAFormer configs/_base_/models/daformer_sepaspp_mitb5.py) or SegFormer's (+ the all-MLP head). Names as
// mmseg's EncoderDecoder (`backbone.*`, `decode_head.*`), so DAFormer/HRDA/MIC and SegFormer state dicts map 1:1.
//
// One head, not CLAN's two: forward returns [logits, zeros]. x2 is a constant zero map of x1's shape (no gradient), so
// the shared inference path up(x1 + x2) is exactly up(x1) (upsampled with align_corners=False, as mmseg); a method's
// loss on x2 is a constant (cross-entropy: log K) that adds no gradient; `classifierParameters()` gives C2 = [] and
// `singleHead` is true, so methods built on two different classifiers (CLAN's weight discrepancy, its map M) can refuse
// such a network by that flag.
import * as torch from '../torch/index.js';
import { Module, type Tensor } from '../torch/index.js';
import type { Segmentor } from './segmentor.js';
import { MixVisionTransformer } from './mit.js';
import { DAFormerHead, SegFormerHead } from './heads.js';
import type { MitSpec } from './backbones.js';

export class MitSegmentor extends Module implements Segmentor {
  readonly backbone: MixVisionTransformer;
  readonly decodeHead: DAFormerHead | SegFormerHead;
  readonly numClasses: number;
  /** One classifier: x2 is zeros (see the file header). */
  readonly singleHead = true;
  /** mmseg resizes logits with align_corners=False (DAFormer asserts it); the DeepLab networks use True. */
  readonly alignCorners = false;
  /** Channels of the four maps into the decode head. */
  readonly stageChannels: readonly number[];
  /** Channels of the deepest map (what `clan convert` compares with a checkpoint's; the head reads all four). */
  readonly featureChannels: number;
  constructor(readonly spec: MitSpec) {
    super();
    this.numClasses = spec.numClasses;
    this.stageChannels = spec.mit.embedDims;
    this.featureChannels = spec.mit.embedDims[3];
    this.backbone = this.registerModule('backbone', new MixVisionTransformer(spec.mit));
    this.decodeHead = this.registerModule('decode_head', spec.decoder === 'segformer'
      ? new SegFormerHead(spec.mit.embedDims, spec.numClasses, { embedDim: spec.segformerEmbed ?? 768 })
      : new DAFormerHead(spec.mit.embedDims, spec.numClasses,
        spec.decodeWidth ? { embedDim: spec.decodeWidth, channels: spec.decodeWidth } : {}));
  }
  /** x [N, 3, H, W] → [x1, x2]: the logits [N, K, ⌈H/4⌉, ⌈W/4⌉] and a zero map of the same shape. */
  forward(x: Tensor): [Tensor, Tensor] {
    return torch.tidy(() => {
      const x1 = this.decodeHead.forward(this.backbone.forward(x));
      return [x1, torch.zerosLike(x1)];
    });
  }
  /** The four maps at strides 4, 8, 16, 32 (HRDA decodes them with its own head; feature-distance losses read them). */
  features(x: Tensor): [Tensor, Tensor, Tensor, Tensor] { return this.backbone.forward(x); }
  /** C1 = the classifier (conv_seg, or linear_pred for SegFormer's head); C2 = none. */
  classifierParameters(): [Tensor[], Tensor[]] { return [this.decodeHead.classifierParameters(), []]; }
  backboneParameters(): Tensor[] { return this.backbone.parameters(true); }
  /** The decode head (DAFormer trains it at 10× the backbone's lr: paramwise_cfg head lr_mult 10). */
  headParameters(): Tensor[] {
    const h = this.decodeHead;
    return (h instanceof SegFormerHead ? h.trainableParameters() : h.parameters()).filter((p) => p.requiresGrad);
  }
  /** No official list with duplicates for these networks: each parameter once. */
  officialBackboneParameterList(): Tensor[] { return this.backboneParameters(); }
  isHeadKey(key: string): boolean { return key.startsWith('decode_head.'); }
  /**
   * DAFormer's/HRDA's AdamW paramwise_cfg (custom_keys head: lr_mult 10; norm, pos_block: decay_mult 0): the backbone's
   * LayerNorm parameters take no weight decay; the decode head's (matched by 'head' first) keep it.
   */
  noWeightDecay(key: string): boolean { return !this.isHeadKey(key) && /norm|pos_block/.test(key); }
  replica(): MitSegmentor { return new MitSegmentor(this.spec); }
}
