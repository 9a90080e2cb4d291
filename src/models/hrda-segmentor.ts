// HRDA's network as a Segmentor (Hoyer et al., ECCV 2022; lhoyer/HRDA mmseg/models/segmentors/hrda_encoder_decoder.py
// HRDAEncoderDecoder with configs/hrda/gtaHR2csHR_hrda.py): one Mix Transformer and one HrdaHead (models/hrda.ts) that
// decodes a low-resolution context input (the image at scale 0.5) and a high-resolution detail input (scale 1) and
// fuses them with a learned scale attention. Names as HRDAEncoderDecoder (`backbone.*`, `decode_head.head.*`,
// `decode_head.scale_attention.*`), so the official HRDA and MIC checkpoints map 1:1 (io/mmseg.ts).
//
// Two forwards:
//   forwardTrain(x, box)  training (forward_train): the detail input is one crop of the image at `box` (drawn by
//                         randomDetailBox); returns the fused, context and detail logits for HRDA's three losses.
//   forward(x)            test time and pseudo-labels (encode_decode with hr_slide_inference): the detail input is
//                         overlapping windows of the crop's size (stride half of it) over the whole image, decoded
//                         in one batch and averaged; returns [fused, zeros] like every single-head network, so
//                         evaluation, prediction and mmseg's slide mode (infer/inference.ts) run it unchanged.
// Sizes: x [N, 3, H, W] with H, W multiples of `divisible` (8); context [N, 3, H/2, W/2]; fused [N, K, H/4, W/4].
import * as torch from '../torch/index.js';
import { Module, F, type Tensor } from '../torch/index.js';
import type { Segmentor } from './segmentor.js';
import { MixVisionTransformer } from './mit.js';
import { HrdaHead, type CropBox, type HrdaOutput } from './hrda.js';
import type { HrdaSpec, MitSpec } from './backbones.js';

export class HrdaSegmentor extends Module implements Segmentor {
  readonly backbone: MixVisionTransformer;
  readonly decodeHead: HrdaHead;
  readonly numClasses: number;
  /** One classifier: x2 is zeros (as MitSegmentor). */
  readonly singleHead = true;
  /** mmseg resizes with align_corners=False. */
  readonly alignCorners = false;
  readonly stageChannels: readonly number[];
  readonly featureChannels: number;
  readonly hrda: HrdaSpec;
  constructor(readonly spec: MitSpec) {
    super();
    if (spec.decoder !== 'hrda' || spec.hrda === undefined) throw new RangeError('HrdaSegmentor: the spec must have decoder \'hrda\' and its hrda settings');
    if (spec.hrda.scales[1] !== 1) throw new RangeError(`HrdaSegmentor: the detail scale must be 1 (HRDA's), got ${spec.hrda.scales[1]}`);
    this.hrda = spec.hrda;
    this.numClasses = spec.numClasses;
    this.stageChannels = spec.mit.embedDims;
    this.featureChannels = spec.mit.embedDims[3];
    this.backbone = this.registerModule('backbone', new MixVisionTransformer(spec.mit));
    this.decodeHead = this.registerModule('decode_head', new HrdaHead(spec.mit.embedDims, spec.numClasses,
      { scales: spec.hrda.scales, ...(spec.decodeWidth
        ? { head: { embedDim: spec.decodeWidth, channels: spec.decodeWidth }, attentionEmbed: spec.decodeWidth } : {}) }));
  }

  /** The detail crop [h, w] of an H×W image: `detailCrop` of each side rounded to a multiple of `divisible` (at least one). */
  detailSize(H: number, W: number): [number, number] {
    const d = this.hrda.divisible;
    const side = (L: number): number => Math.min(L, Math.max(d, Math.round(L * this.hrda.detailCrop / d) * d));
    return [side(H), side(W)];
  }

  /**
   * A random detail crop of an H×W image, as get_crop_bbox(divisible): offsets k·d with k uniform in
   * [0, ⌊(margin + 1)/d⌋), drawn with torch's generator (rows first) so a checkpoint resumes them. HRDA draws with
   * numpy; where its range is empty (numpy would raise) the offset is 0, without a draw.
   */
  randomDetailBox(H: number, W: number): CropBox {
    const [h, w] = this.detailSize(H, W);
    if (h === H && w === W) return [0, H, 0, W];
    const d = this.hrda.divisible;
    const offset = (margin: number): number => {
      const n = Math.floor((margin + 1) / d);
      return n < 1 ? 0 : torch.tidy(() => torch.randint(0, n, [1]).item()) * d;
    };
    const y = offset(H - h), x = offset(W - w);
    return [y, y + h, x, x + w];
  }

  /** The detail windows of forward(): the crop's size every half crop, mmseg's slide grid (pulled back at the border). */
  detailWindows(H: number, W: number): CropBox[] {
    const [h, w] = this.detailSize(H, W);
    const [sh, sw] = [Math.floor(h / 2), Math.floor(w / 2)];
    const rows = Math.floor(Math.max(H - h + sh - 1, 0) / sh) + 1, cols = Math.floor(Math.max(W - w + sw - 1, 0) / sw) + 1;
    const out: CropBox[] = [];
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const y2 = Math.min(r * sh + h, H), x2 = Math.min(c * sw + w, W);
        out.push([Math.max(y2 - h, 0), y2, Math.max(x2 - w, 0), x2]);
      }
    }
    return out;
  }

  /** Training: context maps of the whole image, detail maps of the crop at `box` → fused, context and detail logits. */
  forwardTrain(x: Tensor, box: CropBox): HrdaOutput {
    return torch.tidy(() => {
      this.checkSize(x);
      const lr = this.backbone.forward(this.context(x));
      const hr = this.backbone.forward(crop(x, box));
      return this.decodeHead.forward(lr, hr, box);
    });
  }

  /** Test time: x [N, 3, H, W] → [fused, zeros], each [N, K, H/4, W/4] (detail windows batched as extract_slide_feat). */
  forward(x: Tensor): [Tensor, Tensor] {
    return torch.tidy(() => {
      const [H, W] = this.checkSize(x);
      const lr = this.backbone.forward(this.context(x));
      const boxes = this.detailWindows(H, W);
      const hr = this.backbone.forward(boxes.length === 1 ? crop(x, boxes[0]!) : torch.cat(boxes.map((b) => crop(x, b)), 0));
      const { fused } = this.decodeHead.forward(lr, { features: hr, boxes });
      return [fused, torch.zerosLike(fused)];
    });
  }

  /** The image at the context scale (mmseg's resize: bilinear, align_corners False) [N, 3, H·s, W·s]. */
  private context(x: Tensor): Tensor {
    const s = this.hrda.scales[0];
    return F.interpolate(x, [x.size(2) * s, x.size(3) * s], { alignCorners: false });
  }

  private checkSize(x: Tensor): [number, number] {
    const [H, W] = [x.size(2), x.size(3)];
    const d = this.hrda.divisible;
    if (H % d !== 0 || W % d !== 0) throw new RangeError(`hrda: input ${W}×${H}: width and height must be multiples of ${d} (output stride 4 × the context scale's 2)`);
    return [H, W];
  }

  /** The backbone's four maps of x (feature-distance losses read them; HRDA computes those on the context input). */
  features(x: Tensor): [Tensor, Tensor, Tensor, Tensor] { return this.backbone.forward(x); }
  /** C1 = the segmentation head's classifier; C2 = none. */
  classifierParameters(): [Tensor[], Tensor[]] { return [this.decodeHead.head.classifierParameters(), []]; }
  backboneParameters(): Tensor[] { return this.backbone.parameters(true); }
  /** Both DAFormer heads (segmentation and scale attention): HRDA's paramwise_cfg trains every `head` key at 10× lr. */
  headParameters(): Tensor[] { return this.decodeHead.parameters(true); }
  officialBackboneParameterList(): Tensor[] { return this.backboneParameters(); }
  isHeadKey(key: string): boolean { return key.startsWith('decode_head.'); }
  /** As MitSegmentor.noWeightDecay: the backbone's norm and pos_block parameters take no weight decay. */
  noWeightDecay(key: string): boolean { return !this.isHeadKey(key) && /norm|pos_block/.test(key); }
  replica(): HrdaSegmentor { return new HrdaSegmentor(this.spec); }
}

/** x[:, :, y1:y2, x1:x2] (HRDA's crop). */
function crop(x: Tensor, b: CropBox): Tensor { return x.slice(2, b[0], b[1]).slice(3, b[2], b[3]); }
