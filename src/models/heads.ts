// Decode heads on the four MiT maps, as mmseg 0.16 / DAFormer build them (module names and state-dict order too, so
// official checkpoints map 1:1): DAFormer's context-aware fusion head (lhoyer/DAFormer daformer_head.py with the
// daformer_sepaspp config) and SegFormer's all-MLP head (segformer_head.py). Both end in BaseDecodeHead's cls_seg:
// Dropout2d(0.1), then a 1×1 classifier. Input maps [B, Cᵢ, Hᵢ, Wᵢ] at strides 4, 8, 16, 32; logits at stride 4.
import * as torch from '../torch/index.js';
import { Module, Conv2d, BatchNorm2d, Linear, Dropout2d, ModuleList, F, init, type Tensor } from '../torch/index.js';

export type Features = readonly Tensor[];

/**
 * mmcv's ConvModule with BN and ReLU: conv (no bias: the BN follows) → bn → relu, named `conv` and `bn`. Its
 * init_weights: kaiming-normal (fan_out = out·k·k, ReLU gain) conv weights; BN weight 1, bias 0.
 */
export class ConvModule extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  constructor(inC: number, outC: number, kernel: number, o: { padding?: number; dilation?: number; groups?: number } = {}) {
    super();
    this.conv = this.registerModule('conv', new Conv2d(inC, outC, kernel, { ...o, bias: false }));
    init.normal_(this.conv.weight, 0, Math.sqrt(2 / (outC * kernel * kernel)));
    this.bn = this.registerModule('bn', new BatchNorm2d(outC));
  }
  /** ReLU in place, as ConvModule's (BN's backward reads its input, not its output). */
  forward(x: Tensor): Tensor { return torch.tidy(() => this.bn.forward(this.conv.forward(x)).relu_()); }
}

/** mmcv's DepthwiseSeparableConvModule: a depthwise k×k ConvModule (groups = in) then a pointwise 1×1 ConvModule. */
export class SepConvModule extends Module {
  readonly depthwise: ConvModule;
  readonly pointwise: ConvModule;
  constructor(inC: number, outC: number, kernel: number, dilation: number) {
    super();
    this.depthwise = this.registerModule('depthwise_conv', new ConvModule(inC, inC, kernel, { padding: dilation, dilation, groups: inC }));
    this.pointwise = this.registerModule('pointwise_conv', new ConvModule(inC, outC, 1));
  }
  forward(x: Tensor): Tensor { return torch.tidy(() => this.pointwise.forward(this.depthwise.forward(x))); }
}

/** SegFormer's "MLP" embedding (a Linear named `proj` on the flattened map): [B, C, H, W] → [B, E, H, W]. */
export class MlpEmbed extends Module {
  readonly proj: Linear;
  constructor(inC: number, embed: number) {
    super();
    this.proj = this.registerModule('proj', new Linear(inC, embed));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const [n, , h, w] = x.shape as [number, number, number, number];
      const t = this.proj.forward(x.flatten(2).transpose(1, 2).contiguous()); // [B, H·W, E]
      return t.permute(0, 2, 1).contiguous().reshape(n, -1, h, w);
    });
  }
}

/**
 * DAFormer's fusion (ASPPWrapper, daformer_sepaspp: sep=True, dilations (1, 6, 12, 18), pool=False): a 1×1
 * ConvModule and three depthwise-separable 3×3 ConvModules at dilations 6, 12, 18 side by side, concatenated, then
 * a 3×3 ConvModule bottleneck. No image-pooling branch in DAFormer's config.
 */
export class SepASPP extends Module {
  readonly branches: ModuleList<ConvModule | SepConvModule>;
  readonly bottleneck: ConvModule;
  constructor(inC: number, channels: number, dilations: readonly number[]) {
    super();
    this.branches = this.registerModule('aspp_modules', new ModuleList<ConvModule | SepConvModule>(
      dilations.map((d) => (d === 1 ? new ConvModule(inC, channels, 1) : new SepConvModule(inC, channels, 3, d)))));
    this.bottleneck = this.registerModule('bottleneck', new ConvModule(dilations.length * channels, channels, 3, { padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.bottleneck.forward(torch.cat(this.branches.items.map((b) => b.forward(x)), 1)));
  }
}

/** BaseDecodeHead's classifier conv_seg: 1×1 with bias, init N(0, 0.01) and bias 0 (its init_cfg). */
function convSeg(channels: number, numClasses: number): Conv2d {
  const c = new Conv2d(channels, numClasses, 1);
  init.normal_(c.weight, 0, 0.01);
  init.constant_(c.bias!, 0);
  return c;
}

/** Each map embedded to E channels, upsampled to the first map's size (bilinear, align_corners=False), concatenated. */
function embedAndConcat(embeds: ModuleList<MlpEmbed>, xs: Features): Tensor {
  return torch.tidy(() => {
    if (xs.length !== embeds.length) throw new RangeError(`decode head: expected ${embeds.length} feature maps, got ${xs.length}`);
    const size = [xs[0]!.size(2), xs[0]!.size(3)] as [number, number];
    return torch.cat(xs.map((x, i) => {
      const e = embeds.at(i).forward(x);
      return e.size(2) === size[0] && e.size(3) === size[1] ? e : F.interpolate(e, size, { alignCorners: false });
    }), 1);
  });
}

export interface DAFormerHeadOptions {
  embedDim?: number;          // E per level (256)
  channels?: number;          // fused channels into the classifier (256)
  fusion?: 'aspp' | 'conv';   // 'aspp': daformer_sepaspp (DAFormer); 'conv': a 1×1 ConvModule (daformer_conv1, HRDA's attention)
  dilations?: number[];       // the ASPP's (1, 6, 12, 18)
  dropout?: number;           // Dropout2d before conv_seg (0.1)
}

/** DAFormer's decoder: per level a 1×1 embedding, upsample to 1/4, concat, fuse, Dropout2d, conv_seg. */
export class DAFormerHead extends Module {
  readonly convSeg: Conv2d;
  readonly dropout: Dropout2d;
  readonly embeds: ModuleList<MlpEmbed>;
  readonly fuse: SepASPP | ConvModule;
  constructor(inChannels: readonly number[], readonly numClasses: number, o: DAFormerHeadOptions = {}) {
    super();
    const embed = o.embedDim ?? 256, channels = o.channels ?? 256;
    // BaseDecodeHead registers conv_seg and dropout before the subclass's layers: the official state-dict order
    this.convSeg = this.registerModule('conv_seg', convSeg(channels, numClasses));
    this.dropout = this.registerModule('dropout', new Dropout2d(o.dropout ?? 0.1));
    this.embeds = this.registerModule('embed_layers', new ModuleList(inChannels.map((c) => new MlpEmbed(c, embed))));
    const cat = embed * inChannels.length;
    this.fuse = this.registerModule('fuse_layer', (o.fusion ?? 'aspp') === 'aspp'
      ? new SepASPP(cat, channels, o.dilations ?? [1, 6, 12, 18])
      : new ConvModule(cat, channels, 1));
  }
  /** Maps at strides 4…32 → logits [B, K, H₀, W₀] at the first map's size. */
  forward(xs: Features): Tensor {
    return torch.tidy(() => this.convSeg.forward(this.dropout.forward(this.fuse.forward(embedAndConcat(this.embeds, xs)))));
  }
  /** The classifier (conv_seg): CLAN-style C1 parameters. */
  classifierParameters(): Tensor[] { return this.convSeg.parameters(); }
}

/**
 * SegFormer's all-MLP decoder (segformer_head.py): linear_c embeddings to E (768 for b2–b5, 256 for b0/b1), upsample,
 * concat, a 1×1 ConvModule `linear_fuse`, Dropout2d, the 1×1 classifier `linear_pred`. BaseDecodeHead's conv_seg
 * (channels → K, here channels 128 as the configs) exists in the official checkpoints but is never used: it is
 * registered so those load strictly, and left out of the trainable groups (it would get no gradient).
 */
export class SegFormerHead extends Module {
  readonly unusedConvSeg: Conv2d;
  readonly dropout: Dropout2d;
  readonly embeds: ModuleList<MlpEmbed>;
  readonly fuse: ConvModule;
  readonly pred: Conv2d;
  constructor(inChannels: readonly number[], readonly numClasses: number,
    o: { embedDim?: number; channels?: number; dropout?: number } = {}) {
    super();
    const embed = o.embedDim ?? 768;
    this.unusedConvSeg = this.registerModule('conv_seg', convSeg(o.channels ?? 128, numClasses));
    this.dropout = this.registerModule('dropout', new Dropout2d(o.dropout ?? 0.1));
    this.embeds = this.registerModule('linear_c', new ModuleList(inChannels.map((c) => new MlpEmbed(c, embed))));
    this.fuse = this.registerModule('linear_fuse', new ConvModule(embed * inChannels.length, embed, 1));
    this.pred = this.registerModule('linear_pred', new Conv2d(embed, numClasses, 1)); // PyTorch's default init (not conv_seg's)
  }
  forward(xs: Features): Tensor {
    return torch.tidy(() => this.pred.forward(this.dropout.forward(this.fuse.forward(embedAndConcat(this.embeds, xs)))));
  }
  classifierParameters(): Tensor[] { return this.pred.parameters(); }
  /** Every parameter that takes part in forward (all but conv_seg). */
  trainableParameters(): Tensor[] {
    return this.namedParameters().filter(([n]) => !n.startsWith('conv_seg.')).map(([, p]) => p);
  }
}
