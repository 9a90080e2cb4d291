// The Mix Transformer segmentors (models/segformer.ts) as ONNX nodes, in the order of their forward (models/mit.ts,
// models/heads.ts). Tokens are kept as [B, H, W, C] (channels last) rather than [B, H·W, C]: a Linear is then a MatMul on
// the last axis, LayerNorm normalises the last axis, and every reshape takes its sizes from a tensor's Shape, so the
// graph runs at any input size. Convs (patch embeddings, sequence reduction, depthwise) run channels first.
import type { BatchNorm2d, Conv2d, LayerNorm, Linear, Module, Tensor } from '../torch/index.js';
import { Attention, MitBlock, type MixFFN, type MixVisionTransformer, type OverlapPatchEmbed } from '../models/mit.js';
import { ConvModule, DAFormerHead, SepConvModule, type MlpEmbed, type SegFormerHead, type SepASPP } from '../models/heads.js';
import type { MitSegmentor } from '../models/segformer.js';
import type { GraphBuilder } from './onnx.js';

/** export.ts's conv (BN folded into the conv before it). */
export type ConvFn = (c: Conv2d, x: string, name: string, bn?: BatchNorm2d | null) => string;

const host = (t: Tensor): Float32Array => t.to('cpu').toTypedArray<'float32'>();
const NCHW_TO_NHWC = [0, 2, 3, 1], NHWC_TO_NCHW = [0, 3, 1, 2];

export class MitGraph {
  constructor(private readonly g: GraphBuilder, private readonly opset: number, private readonly conv: ConvFn,
    private readonly unknown: (m: Module, where: string) => Error) {}

  private t(x: string, perm: number[]): string { return this.g.node('Transpose', [x], { perm }); }
  private scalar(name: string, v: number): string { return this.g.init(name, Float32Array.of(v), []); }

  /** y = x·Wᵀ + b on the last axis: MatMul with the transposed weight [in, out] as an initializer. */
  linear(l: Linear, x: string, name: string): string {
    const [o, i] = l.weight.shape as [number, number];
    const w = host(l.weight), wt = new Float32Array(w.length);
    for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) wt[c * o + r] = w[r * i + c]!;
    const y = this.g.node('MatMul', [x, this.g.init(`${name}.weight_t`, wt, [i, o])], {}, name);
    return l.bias ? this.g.node('Add', [y, this.g.init(`${name}.bias`, host(l.bias), [o])]) : y;
  }

  /** LayerNormalization (opset ≥ 17) or its definition: (x − mean) / √(var + ε) · γ + β over the last axis. */
  layerNorm(ln: LayerNorm, x: string, name: string): string {
    const w = this.g.init(`${name}.weight`, host(ln.weight), [ln.dim]), b = this.g.init(`${name}.bias`, host(ln.bias), [ln.dim]);
    if (this.opset >= 17) return this.g.node('LayerNormalization', [x, w, b], { axis: -1, epsilon: { floats: [ln.eps] } }, name);
    const mean = this.g.node('ReduceMean', [x], { axes: [-1], keepdims: 1 });
    const d = this.g.node('Sub', [x, mean]);
    const vr = this.g.node('ReduceMean', [this.g.node('Mul', [d, d])], { axes: [-1], keepdims: 1 });
    const inv = this.g.node('Sqrt', [this.g.node('Add', [vr, this.scalar(`${name}.eps`, ln.eps)])]);
    return this.g.node('Add', [this.g.node('Mul', [this.g.node('Div', [d, inv]), w]), b], {}, name);
  }

  /** GELU with the exact erf (Gelu is an operator from opset 20): x · (1 + erf(x/√2)) / 2. */
  gelu(x: string): string {
    if (this.opset >= 20) return this.g.node('Gelu', [x]);
    const e = this.g.node('Erf', [this.g.node('Mul', [x, this.scalar('inv_sqrt2', Math.SQRT1_2)])]);
    return this.g.node('Mul', [this.g.node('Mul', [x, this.g.node('Add', [e, this.scalar('one', 1)])]), this.scalar('half', 0.5)]);
  }

  /** A conv on channels-last tokens: to NCHW, conv, back. */
  private convNhwc(c: Conv2d, x: string, name: string): string {
    return this.t(this.conv(c, this.t(x, NHWC_TO_NCHW), name), NCHW_TO_NHWC);
  }

  patchEmbed(p: OverlapPatchEmbed, x: string, name: string): string {
    return this.layerNorm(p.norm, this.t(this.conv(p.proj, x, `${name}.proj`), NCHW_TO_NHWC), `${name}.norm`);
  }

  /** Efficient self-attention on x [B, H, W, C] (models/mit.ts Attention.forward). */
  attention(a: Attention, x: string, name: string): string {
    const heads = a.numHeads, hd = a.dim / heads;
    const split = this.g.ints(`${name}.split`, [0, -1, heads, hd]);
    const q = this.t(this.g.node('Reshape', [this.linear(a.q, x, `${name}.q`), split]), [0, 2, 1, 3]);          // [B, h, N, d]
    const src = a.sr && a.norm ? this.layerNorm(a.norm, this.convNhwc(a.sr, x, `${name}.sr`), `${name}.norm`) : x;
    const kvShape = this.g.ints(`${name}.kv_split`, [0, -1, 2, heads, hd]);
    const kv = this.t(this.g.node('Reshape', [this.linear(a.kv, src, `${name}.kv`), kvShape]), [2, 0, 3, 1, 4]); // [2, B, h, M, d]
    const pick = (i: number): string => this.g.node('Gather', [kv, this.g.init(`${name}.kv${i}`, BigInt64Array.of(BigInt(i)), [])], { axis: 0 });
    const k = pick(0), v = pick(1);                                                                               // [B, h, M, d]
    const logits = this.g.node('Mul', [this.g.node('MatMul', [q, this.t(k, [0, 1, 3, 2])]), this.scalar(`${name}.scale`, a.scale)]);
    const out = this.g.node('MatMul', [this.g.node('Softmax', [logits], { axis: -1 }), v]);                     // [B, h, N, d]
    const merged = this.g.node('Reshape', [this.t(out, [0, 2, 1, 3]), this.g.node('Shape', [x])]);               // [B, H, W, C]
    return this.linear(a.proj, merged, `${name}.proj`);
  }

  mlp(m: MixFFN, x: string, name: string): string {
    const h = this.convNhwc(m.dwconv.dwconv, this.linear(m.fc1, x, `${name}.fc1`), `${name}.dwconv.dwconv`);
    return this.linear(m.fc2, this.gelu(h), `${name}.fc2`);
  }

  block(b: MitBlock, x: string, name: string): string {
    const y = this.g.node('Add', [x, this.attention(b.attn, this.layerNorm(b.norm1, x, `${name}.norm1`), `${name}.attn`)]);
    return this.g.node('Add', [y, this.mlp(b.mlp, this.layerNorm(b.norm2, y, `${name}.norm2`), `${name}.mlp`)]);
  }

  /** The encoder: the four stage maps, channels first. */
  backbone(m: MixVisionTransformer, x: string): string[] {
    const outs: string[] = [];
    let y = x;
    for (let s = 0; s < 4; s++) {
      let t = this.patchEmbed(m.patchEmbeds[s]!, y, `backbone.patch_embed${s + 1}`);
      for (const [i, b] of m.blocks[s]!.items.entries()) {
        if (!(b instanceof MitBlock && b.attn instanceof Attention)) throw this.unknown(b, `backbone.block${s + 1}.${i}`);
        t = this.block(b, t, `backbone.block${s + 1}.${i}`);
      }
      y = this.t(this.layerNorm(m.norms[s]!, t, `backbone.norm${s + 1}`), NHWC_TO_NCHW);
      outs.push(y);
    }
    return outs;
  }

  /** A Linear on a map's channels is a 1×1 conv: [B, C, H, W] → [B, E, H, W]. */
  private embed(e: MlpEmbed, x: string, name: string): string {
    const [o, i] = e.proj.weight.shape as [number, number];
    const w = this.g.init(`${name}.proj.weight`, host(e.proj.weight), [o, i, 1, 1]);
    return this.g.node('Conv', [x, w, this.g.init(`${name}.proj.bias`, host(e.proj.bias!), [o])], { kernel_shape: [1, 1] }, `${name}.proj`);
  }

  /** Embeddings resized to the first map's size (bilinear, align_corners=False), concatenated. */
  private embedConcat(embeds: readonly MlpEmbed[], xs: readonly string[], name: string): string {
    const hw = this.g.node('Slice', [this.g.node('Shape', [xs[0]!]), this.g.ints(`${name}.s2`, [2]), this.g.ints(`${name}.s4`, [4])]);
    const parts = xs.map((x, i) => {
      const e = this.embed(embeds[i]!, x, `${name}.${i}`);
      if (i === 0) return e;
      const nc = this.g.node('Slice', [this.g.node('Shape', [e]), this.g.ints(`${name}.${i}.s0`, [0]), this.g.ints(`${name}.${i}.s2`, [2])]);
      const sizes = this.g.node('Concat', [nc, hw], { axis: 0 });
      return this.g.node('Resize', [e, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: 'pytorch_half_pixel' });
    });
    return this.g.node('Concat', parts, { axis: 1 });
  }

  private convModule(c: ConvModule, x: string, name: string): string {
    return this.g.node('Relu', [this.conv(c.conv, x, `${name}.conv`, c.bn)]);
  }

  private fusion(f: SepASPP | ConvModule, x: string, name: string): string {
    if (f instanceof ConvModule) return this.convModule(f, x, name);
    const branches = f.branches.items.map((b, i) => (b instanceof SepConvModule
      ? this.convModule(b.pointwise, this.convModule(b.depthwise, x, `${name}.aspp_modules.${i}.depthwise_conv`), `${name}.aspp_modules.${i}.pointwise_conv`)
      : this.convModule(b, x, `${name}.aspp_modules.${i}`)));
    return this.convModule(f.bottleneck, this.g.node('Concat', branches, { axis: 1 }), `${name}.bottleneck`);
  }

  /** The decode head in eval mode (Dropout2d is the identity): logits at the first map's size. */
  head(h: DAFormerHead | SegFormerHead, xs: string[]): string {
    const n = 'decode_head';
    if (h instanceof DAFormerHead) {
      const f = this.fusion(h.fuse, this.embedConcat(h.embeds.items, xs, `${n}.embed_layers`), `${n}.fuse_layer`);
      return this.conv(h.convSeg, f, `${n}.conv_seg`);
    }
    const f = this.convModule(h.fuse, this.embedConcat(h.embeds.items, xs, `${n}.linear_c`), `${n}.linear_fuse`);
    return this.conv(h.pred, f, `${n}.linear_pred`);
  }

  /** G → [x1, x2]: the logits and the zero map (models/segformer.ts). */
  segmentor(G: MitSegmentor, x: string): [string, string] {
    const x1 = this.head(G.decodeHead, this.backbone(G.backbone, x));
    return [x1, this.g.node('Mul', [x1, this.scalar('zero', 0)], {}, 'zeros')];
  }
}
