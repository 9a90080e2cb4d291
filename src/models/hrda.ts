// HRDA's multi-resolution fusion head (lhoyer/HRDA mmseg/models/decode_heads/hrda_head.py, default config
// gtaHR2csHR_hrda.py): one DAFormer head decodes both the low-resolution context features and the high-resolution
// detail features, and a second, lighter DAFormer head (`scale_attention`: 256-channel embedding, a 1×1 ConvModule
// fusion instead of the ASPP, one output per class) predicts from the context features a sigmoid attention a that
// mixes them: fused = a·hr + up((1 − a)·lr), where the detail crop covers only part of the image and a is 0 outside
// it. In training the detail input is one crop; at test time (and for HRDA's pseudo-labels) it is a set of sliding
// windows over the whole image whose logits are averaged where they overlap (decode_hr). Names as HRDAHead (`head`,
// `scale_attention`; its own conv_seg and dropout are deleted), so checkpoints map.
import * as torch from '../torch/index.js';
import { Module, F, type Tensor } from '../torch/index.js';
import { DAFormerHead, type DAFormerHeadOptions, type Features } from './heads.js';

/** The detail crop in pixels of the high-resolution image: rows y1…y2, columns x1…x2 (HRDA's hr_crop_box order). */
export type CropBox = [y1: number, y2: number, x1: number, x2: number];

export interface HrdaOutput { fused: Tensor; lr: Tensor; hr: Tensor }

/**
 * The detail features of sliding windows over the high-resolution image (HRDA's extract_slide_feat): every level
 * holds the windows one after another, window i's N images in rows i·N…(i+1)·N − 1; boxes[i] is window i in pixels.
 */
export interface SlideFeatures { features: Features; boxes: readonly CropBox[] }

function isSlide(x: Features | SlideFeatures): x is SlideFeatures { return 'boxes' in x; }

/** HRDA's scale_box: a box divided by `scale` (int() truncation). */
function scaleBox(box: CropBox, scale: number): CropBox {
  return box.map((v) => Math.trunc(v / scale)) as CropBox;
}

/**
 * `inner` [N, C, h, w] placed at rows y1…y2, columns x1…x2 of an [N, C, H, W] zero map, differentiably (HRDA writes
 * it into zeros_like by slice assignment; concatenating zero blocks gives the same values and gradients).
 */
function insert(inner: Tensor, box: CropBox, H: number, W: number): Tensor {
  return torch.tidy(() => {
    const [y1, y2, x1, x2] = box;
    const [n, c, h, w] = inner.shape as [number, number, number, number];
    if (y2 - y1 !== h || x2 - x1 !== w || y1 < 0 || x1 < 0 || y2 > H || x2 > W) {
      throw new RangeError(`hrda: a ${h}×${w} crop does not fit box [${box.join(', ')}] of a ${H}×${W} map`);
    }
    const z = (hh: number, ww: number): Tensor => torch.zeros([n, c, hh, ww], { dtype: inner.dtype, device: inner.device as torch.Device });
    const parts = (t: Tensor, dim: number, before: number, after: number, other: number): Tensor[] => [
      ...(before > 0 ? [dim === 2 ? z(before, other) : z(other, before)] : []), t,
      ...(after > 0 ? [dim === 2 ? z(after, other) : z(other, after)] : [])];
    const row = torch.cat(parts(inner, 3, x1, W - x2, h), 3);   // [N, C, h, W]
    return torch.cat(parts(row, 2, y1, H - y2, W), 2);          // [N, C, H, W]
  });
}

export interface HrdaHeadOptions {
  head?: DAFormerHeadOptions;   // the segmentation head (DAFormer's sep-ASPP head)
  attentionEmbed?: number;      // scale_attention's embedding and fused channels (256)
  classwise?: boolean;          // one attention per class (true) or one for all (false)
  scales?: [lr: number, hr: number]; // context and detail scales of the input (0.5, 1)
}

export class HrdaHead extends Module {
  readonly head: DAFormerHead;
  readonly scaleAttention: DAFormerHead;
  readonly scales: [number, number];
  /** The decoder's output stride (DAFormer: 4). */
  readonly os = 4;
  constructor(inChannels: readonly number[], readonly numClasses: number, o: HrdaHeadOptions = {}) {
    super();
    this.scales = o.scales ?? [0.5, 1];
    const e = o.attentionEmbed ?? 256;
    this.head = this.registerModule('head', new DAFormerHead(inChannels, numClasses, o.head));
    this.scaleAttention = this.registerModule('scale_attention', new DAFormerHead(inChannels, o.classwise === false ? 1 : numClasses,
      { ...o.head, embedDim: e, channels: e, fusion: 'conv' }));
  }

  /**
   * lrFeatures: the backbone's maps of the context image (scale scales[0]); hrFeatures: of the detail crop (scale
   * scales[1]), or of sliding windows covering the whole image; cropBox: where the crop lies in the high-resolution
   * image (absent: the detail input covers the whole image). → fused [N, K, H/4, W/4] at the high resolution, and the
   * context and detail logits for their losses. The heads run in HRDAHead.forward's order (context, detail,
   * attention), which fixes the order of BN's running-statistic updates and of the dropout draws in training mode.
   */
  forward(lrFeatures: Features, hrFeatures: Features | SlideFeatures, cropBox?: CropBox): HrdaOutput {
    return torch.tidy(() => {
      const [lrScale, hrScale] = this.scales;
      const ratio = hrScale / lrScale;
      const lrSeg0 = this.head.forward(lrFeatures);                              // [N, K, h, w]
      const hr = isSlide(hrFeatures) ? this.decodeSlide(hrFeatures, lrSeg0.size(0)) : this.head.forward(hrFeatures); // [N, K, h', w']
      let att = F.sigmoid(this.scaleAttention.forward(lrFeatures));             // [N, K or 1, h, w]
      const [h, w] = [lrSeg0.size(2), lrSeg0.size(3)];
      const [H, W] = [h * ratio, w * ratio];
      if (!Number.isInteger(H) || !Number.isInteger(W)) throw new RangeError(`hrda: scales ${lrScale}/${hrScale} do not map ${h}×${w} onto whole pixels`);
      if (cropBox) {
        // attention only where the detail crop is: a mask at the context resolution (box / (os / lrScale))
        const b = scaleBox(cropBox, this.os / lrScale);
        const mask = insert(torch.ones([att.size(0), 1, b[1] - b[0], b[3] - b[2]], { device: att.device as torch.Device }), b, h, w);
        att = att.mul(mask);
      }
      const lr = att.rsub(1).mul(lrSeg0);                                        // (1 − a)·lr
      const upLr = F.interpolate(lr, [H, W], { alignCorners: false });
      const upAtt = F.interpolate(att, [H, W], { alignCorners: false });
      const hrInserted = cropBox ? insert(hr, scaleBox(cropBox, this.os), H, W) : hr;
      return { fused: upAtt.mul(hrInserted).add(upLr), lr, hr };
    });
  }

  /**
   * HRDAHead.decode_hr: the head on every window at once, each window's logits [N, K, h, w] placed at its box / os,
   * summed, divided by how many windows cover each position → [N, K, H/4, W/4] (every position must be covered).
   */
  private decodeSlide(x: SlideFeatures, n: number): Tensor {
    return torch.tidy(() => {
      const logits = this.head.forward(x.features);                              // [windows·N, K, h, w]
      const boxes = x.boxes.map((b) => scaleBox(b, this.os));
      const H = Math.max(...boxes.map((b) => b[1])), W = Math.max(...boxes.map((b) => b[3]));
      if (logits.size(0) !== boxes.length * n) throw new RangeError(`hrda: ${logits.size(0)} detail windows·images for ${boxes.length} boxes of ${n} images`);
      const count = new Float32Array(H * W);
      let sum: Tensor | null = null;
      for (const [i, b] of boxes.entries()) {
        for (let y = b[0]; y < b[1]; y++) for (let k = y * W + b[2]; k < y * W + b[3]; k++) count[k] = count[k]! + 1;
        const placed = insert(logits.slice(0, i * n, (i + 1) * n), b, H, W);
        sum = sum === null ? placed : sum.add(placed);
      }
      if (count.some((c) => c === 0)) throw new RangeError(`hrda: the detail windows leave part of the ${H}×${W} map uncovered`);
      return (sum as Tensor).div(torch.fromTypedArray(count, [1, 1, H, W], 'float32', logits.device as torch.Device));
    });
  }
}
