// Mix Transformer (MiT-b0…b5, the SegFormer encoder: Xie et al., NeurIPS 2021) as mmseg's mix_transformer.py that
// DAFormer, HRDA and MIC use. Module names and state-dict order follow it (patch_embed1…4, then block1, norm1, …,
// block4, norm4; q, kv, proj, sr, norm inside an attention), so the official ImageNet and UDA checkpoints map 1:1.
// Four stages, each: an overlapping patch embedding (7×7/4, then 3×3/2 convs + LayerNorm), `depth` transformer
// blocks (efficient self-attention with sequence reduction, Mix-FFN), a LayerNorm; outputs at 1/4, 1/8, 1/16, 1/32.
import * as torch from '../torch/index.js';
import { Module, Conv2d, Linear, LayerNorm, ModuleList, DropPath, F, init, type Tensor } from '../torch/index.js';

type Four = [number, number, number, number];
/** One MiT size: the mit_b0…mit_b5 classes of mix_transformer.py. */
export interface MitConfig {
  embedDims: Four;      // channels per stage
  numHeads: Four;       // attention heads per stage (head dim = embed / heads)
  depths: Four;         // transformer blocks per stage
  srRatios: Four;       // sequence reduction: keys/values from an sr×sr/sr conv of the map (1: none)
  mlpRatio: number;     // Mix-FFN hidden width = mlpRatio·embed
  dropPathRate: number; // stochastic depth, rising linearly from 0 over all blocks to this (mmseg's default 0.1)
}

/** Tokens [B, H·W, C] → map [B, C, H, W]. */
function tokensToMap(x: Tensor, h: number, w: number): Tensor {
  const [b, , c] = x.shape as [number, number, number];
  return x.transpose(1, 2).contiguous().reshape(b, c, h, w);
}
/** Map [B, C, H, W] → tokens [B, H·W, C]. */
function mapToTokens(x: Tensor): Tensor { return x.flatten(2).transpose(1, 2).contiguous(); }

/** Overlapping patch embedding: conv k×k / stride s, padding k/2, then LayerNorm (eps 1e-5: nn.LayerNorm's default here). */
export class OverlapPatchEmbed extends Module {
  readonly proj: Conv2d;
  readonly norm: LayerNorm;
  constructor(inChannels: number, dim: number, kernel: number, stride: number) {
    super();
    this.proj = this.registerModule('proj', new Conv2d(inChannels, dim, kernel, { stride, padding: Math.floor(kernel / 2) }));
    this.norm = this.registerModule('norm', new LayerNorm(dim));
  }
  /** x [B, Cin, H, W] → tokens [B, h·w, dim] and the map size h = ⌈H/s⌉, w = ⌈W/s⌉ (odd k, padding k/2). */
  embed(x: Tensor): { tokens: Tensor; h: number; w: number } {
    return torch.tidy(() => {
      const y = this.proj.forward(x);
      const [, , h, w] = y.shape as Four;
      return { tokens: this.norm.forward(mapToTokens(y)), h, w };
    });
  }
}

/**
 * Efficient self-attention: queries from every token, keys and values from the map reduced by an sr×sr conv of
 * stride sr + LayerNorm (eps 1e-5), so the cost is N·N/sr² instead of N². softmax(q·kᵀ/√d)·v per head, then proj.
 */
export class Attention extends Module {
  readonly q: Linear; readonly kv: Linear; readonly proj: Linear;
  readonly sr: Conv2d | null; readonly norm: LayerNorm | null;
  readonly scale: number;
  constructor(readonly dim: number, readonly numHeads: number, srRatio: number) {
    super();
    if (dim % numHeads !== 0) throw new RangeError(`mit: ${dim} channels do not split into ${numHeads} heads`);
    this.scale = (dim / numHeads) ** -0.5;
    this.q = this.registerModule('q', new Linear(dim, dim));       // qkv_bias=True in every mit_b*
    this.kv = this.registerModule('kv', new Linear(dim, 2 * dim));
    this.proj = this.registerModule('proj', new Linear(dim, dim));
    this.sr = srRatio > 1 ? this.registerModule('sr', new Conv2d(dim, dim, srRatio, { stride: srRatio })) : null;
    this.norm = srRatio > 1 ? this.registerModule('norm', new LayerNorm(dim)) : null;
  }
  /** x [B, N = h·w, C] → [B, N, C] */
  forward(x: Tensor, h: number, w: number): Tensor {
    return torch.tidy(() => {
      const [b, n, c] = x.shape as [number, number, number];
      const heads = this.numHeads, hd = c / heads;
      const q = this.q.forward(x).reshape(b, n, heads, hd).permute(0, 2, 1, 3).contiguous();      // [B, h, N, d]
      const src = this.sr && this.norm
        ? this.norm.forward(mapToTokens(this.sr.forward(tokensToMap(x, h, w))))                     // [B, N/sr², C]
        : x;
      const kv = this.kv.forward(src).reshape(b, -1, 2, heads, hd).permute(2, 0, 3, 1, 4).contiguous(); // [2, B, h, M, d]
      const k = kv.slice(0, 0, 1).squeeze(0), v = kv.slice(0, 1, 2).squeeze(0);
      const attn = F.softmax(q.matmul(k.transpose(-2, -1).contiguous()).mul(this.scale), -1);     // [B, h, N, M]
      return this.proj.forward(attn.matmul(v).transpose(1, 2).contiguous().reshape(b, n, c));
    });
  }
}

/** The depthwise 3×3 conv inside Mix-FFN, named `dwconv.dwconv` as mmseg's DWConv. */
export class DWConv extends Module {
  readonly dwconv: Conv2d;
  constructor(dim: number) {
    super();
    this.dwconv = this.registerModule('dwconv', new Conv2d(dim, dim, 3, { padding: 1, groups: dim }));
  }
  /** tokens [B, h·w, C] → [B, h·w, C] */
  forward(x: Tensor, h: number, w: number): Tensor {
    return torch.tidy(() => mapToTokens(this.dwconv.forward(tokensToMap(x, h, w))));
  }
}

/** Mix-FFN: fc1 → 3×3 depthwise conv (the positional information, no position embedding) → GELU → fc2. */
export class MixFFN extends Module {
  readonly fc1: Linear; readonly dwconv: DWConv; readonly fc2: Linear;
  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(dim, hidden));
    this.dwconv = this.registerModule('dwconv', new DWConv(hidden));
    this.fc2 = this.registerModule('fc2', new Linear(hidden, dim));
  }
  forward(x: Tensor, h: number, w: number): Tensor {
    return torch.tidy(() => this.fc2.forward(F.gelu(this.dwconv.forward(this.fc1.forward(x), h, w))));
  }
}

/** Pre-norm block: x + dp(attn(norm1(x))), then + dp(mlp(norm2(·))); the block norms use eps 1e-6 (mit_b*'s norm_layer). */
export class MitBlock extends Module {
  readonly norm1: LayerNorm; readonly attn: Attention; readonly dropPath: DropPath;
  readonly norm2: LayerNorm; readonly mlp: MixFFN;
  constructor(dim: number, heads: number, mlpRatio: number, srRatio: number, dropPath: number) {
    super();
    this.norm1 = this.registerModule('norm1', new LayerNorm(dim, 1e-6));
    this.attn = this.registerModule('attn', new Attention(dim, heads, srRatio));
    this.dropPath = this.registerModule('drop_path', new DropPath(dropPath));
    this.norm2 = this.registerModule('norm2', new LayerNorm(dim, 1e-6));
    this.mlp = this.registerModule('mlp', new MixFFN(dim, Math.trunc(dim * mlpRatio)));
  }
  forward(x: Tensor, h: number, w: number): Tensor {
    return torch.tidy(() => {
      const y = x.add(this.dropPath.forward(this.attn.forward(this.norm1.forward(x), h, w)));
      return y.add(this.dropPath.forward(this.mlp.forward(this.norm2.forward(y), h, w)));
    });
  }
}

/** torch.linspace(0, rate, n) in float32 (mix_transformer.py's `dpr`): block i of n drops its branches with rate·i/(n−1). */
export function dropPathRates(rate: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : Math.fround(rate * i / (n - 1))));
}

/** The encoder: x [B, 3, H, W] → four maps [B, Cᵢ, ⌈H/sᵢ⌉, ⌈W/sᵢ⌉] for s = 4, 8, 16, 32. */
export class MixVisionTransformer extends Module {
  readonly patchEmbeds: OverlapPatchEmbed[] = [];
  readonly blocks: ModuleList<MitBlock>[] = [];
  readonly norms: LayerNorm[] = [];
  constructor(readonly config: MitConfig) {
    super();
    const d = config.embedDims;
    for (let s = 0; s < 4; s++) {
      const pe = new OverlapPatchEmbed(s === 0 ? 3 : d[s - 1]!, d[s]!, s === 0 ? 7 : 3, s === 0 ? 4 : 2);
      this.patchEmbeds.push(this.registerModule(`patch_embed${s + 1}`, pe));
    }
    const dpr = dropPathRates(config.dropPathRate, config.depths.reduce((a, b) => a + b, 0));
    let cur = 0;
    for (let s = 0; s < 4; s++) {
      const blocks = Array.from({ length: config.depths[s]! }, (_, i) =>
        new MitBlock(d[s]!, config.numHeads[s]!, config.mlpRatio, config.srRatios[s]!, dpr[cur + i]!));
      this.blocks.push(this.registerModule(`block${s + 1}`, new ModuleList(blocks)));
      this.norms.push(this.registerModule(`norm${s + 1}`, new LayerNorm(d[s]!, 1e-6)));
      cur += config.depths[s]!;
    }
    initMit(this);
  }
  forward(x: Tensor): [Tensor, Tensor, Tensor, Tensor] {
    return torch.tidy(() => {
      const outs: Tensor[] = [];
      let y = x;
      for (let s = 0; s < 4; s++) {
        const { tokens, h, w } = this.patchEmbeds[s]!.embed(y);
        let t = tokens;
        for (const blk of this.blocks[s]!.items) t = blk.forward(t, h, w);
        y = tokensToMap(this.norms[s]!.forward(t), h, w);
        outs.push(y);
      }
      return outs as [Tensor, Tensor, Tensor, Tensor];
    });
  }
}

/**
 * MixVisionTransformer._init_weights (training from scratch; normally the ImageNet weights are loaded over it):
 * Linear weights truncated-normal std 0.02 (timm's bounds ±2 are 100σ away: a plain normal), biases 0; LayerNorm 1, 0;
 * convs N(0, 2/fan_out) with fan_out = k·k·out/groups, biases 0.
 */
function initMit(m: Module): void {
  torch.noGrad(() => {
    for (const [, sub] of m.namedModules()) {
      if (sub instanceof Linear) {
        init.normal_(sub.weight, 0, 0.02);
        if (sub.bias) init.constant_(sub.bias, 0);
      } else if (sub instanceof LayerNorm) {
        init.constant_(sub.weight, 1);
        init.constant_(sub.bias, 0);
      } else if (sub instanceof Conv2d) {
        const [o, , kh, kw] = sub.weight.shape as Four;
        init.normal_(sub.weight, 0, Math.sqrt(2 / ((kh * kw * o) / (sub.opts.groups ?? 1))));
        if (sub.bias) init.constant_(sub.bias, 0);
      }
    }
  });
}
