// `clan export`: the generator G as an ONNX graph (docs/deploy.md), written by walking the model's modules —
// the same order of operations as their forward (models/deeplab.ts, models/vgg.ts; the MiT segmentors in
// export-mit.ts), so a module this file does not
// know is an error, never a silently different graph. Batch norm (eval mode: running statistics) is folded into the
// convolution before it; weights become initializers; the input normalisation and the final upsampling are nodes.
// The graph's contract (input 'image', outputs 'x1', 'x2' and logits|probs|labels) is in deploy/onnx-meta.ts.
import { createHash } from 'node:crypto';
import { BatchNorm2d, Conv2d, MaxPool2d, ReLU, type Module, type Tensor } from '../torch/index.js';
import { BasicBlock, Bottleneck, Classifier, DeepLabSegmentor, STEM_POOL } from '../models/deeplab.js';
import { DeepLabVGG } from '../models/vgg.js';
import { MitSegmentor } from '../models/segformer.js';
import { MitGraph } from './export-mit.js';
import { IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, IMG_MEAN_BGR } from '../data/transforms.js';
import type { InferenceModel } from '../infer/model.js';
import { ConfigError } from '../util/errors.js';
import { packageVersion } from '../util/paths.js';
import { GraphBuilder, type Dim } from './onnx.js';
import { infoToProps, type OnnxModelInfo, type OnnxOutput } from './onnx-meta.js';

export interface ExportOptions {
  size?: [number, number] | 'dynamic'; // [W, H] the graph takes (default: the checkpoint's eval size), or any size
  output?: OnnxOutput;                 // what the main output is (default 'logits'); x1 and x2 are always there
  opset?: number;                      // ONNX opset (default 17; 13 is the oldest with every op used here)
  configHash?: string | null;          // recorded in the metadata (default: the hash of the checkpoint's config)
}
export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 13;           // Resize with align_corners + sizes, Slice with inputs, Softmax over one axis
export const MAX_OPSET = 21;

type Pair = number | [number, number];
const pair = (p: Pair | undefined, d: number): [number, number] => (p === undefined ? [d, d] : typeof p === 'number' ? [p, p] : p);
const host = (t: Tensor): Float32Array => t.to('cpu').toTypedArray<'float32'>();

/** Walks G's modules into a GraphBuilder, one method per module kind. */
class Walker {
  constructor(private readonly g: GraphBuilder) {}

  /** Conv (+ the batch norm after it, folded: w' = w·s, b' = (b − μ)·s + β with s = γ/√(σ² + ε)). */
  conv(c: Conv2d, x: string, name: string, bn: BatchNorm2d | null = null): string {
    const w = host(c.weight); // [O, I, kh, kw]
    const [o, , kh, kw] = c.weight.shape as [number, number, number, number];
    let b: Float32Array = c.bias ? host(c.bias) : new Float32Array(o);
    if (bn) {
      const mean = host(bn.runningMean), vr = host(bn.runningVar);
      const gamma = bn.weight ? host(bn.weight) : new Float32Array(o).fill(1);
      const beta = bn.bias ? host(bn.bias) : new Float32Array(o);
      const per = w.length / o;
      const folded = new Float32Array(w.length), bias = new Float32Array(o);
      for (let i = 0; i < o; i++) {
        const s = gamma[i]! / Math.sqrt(vr[i]! + bn.eps);
        for (let j = 0; j < per; j++) folded[i * per + j] = w[i * per + j]! * s;
        bias[i] = (b[i]! - mean[i]!) * s + beta[i]!;
      }
      w.set(folded); b = bias;
    }
    const [sh, sw] = pair(c.opts.stride, 1), [ph, pw] = pair(c.opts.padding, 0), [dh, dw] = pair(c.opts.dilation, 1);
    return this.g.node('Conv', [x, this.g.init(`${name}.weight`, w, [...c.weight.shape]), this.g.init(`${name}.bias`, b, [o])],
      { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], dilations: [dh, dw], group: c.opts.groups ?? 1 }, name);
  }

  relu(x: string): string { return this.g.node('Relu', [x]); }

  maxPool(x: string, kernel: Pair, o: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean }): string {
    const [kh, kw] = pair(kernel, 1), [sh, sw] = pair(o.stride ?? kernel, 1), [ph, pw] = pair(o.padding, 0), [dh, dw] = pair(o.dilation, 1);
    // PyTorch drops a last window that would start in the right padding; with ceil_mode ONNX (opset ≥ 19 wording)
    // and onnxruntime do the same, and for DeepLab's 3×3/2 pad 1 stem pool that window never occurs.
    return this.g.node('MaxPool', [x], { kernel_shape: [kh, kw], strides: [sh, sw], pads: [ph, pw, ph, pw], dilations: [dh, dw],
      ceil_mode: o.ceilMode ? 1 : 0 });
  }

  /** Bottleneck / BasicBlock: the forward's conv-bn-relu chain, the residual (downsample conv+bn), add, relu. */
  block(b: Bottleneck | BasicBlock, x: string, name: string): string {
    let y = this.relu(this.conv(b.conv1, x, `${name}.conv1`, b.bn1));
    if (b instanceof Bottleneck) {
      y = this.relu(this.conv(b.conv2, y, `${name}.conv2`, b.bn2));
      y = this.conv(b.conv3, y, `${name}.conv3`, b.bn3);
    } else {
      y = this.conv(b.conv2, y, `${name}.conv2`, b.bn2);
    }
    let r = x;
    if (b.downsample) {
      const [c, bn] = b.downsample.children() as [Conv2d, BatchNorm2d];
      r = this.conv(c, x, `${name}.downsample`, bn);
    }
    return this.relu(this.g.node('Add', [y, r]));
  }

  /** ASPP head (§1.2): the four dilated convs summed in the forward's order. */
  classifier(c: Classifier, x: string, name: string): string {
    let out = this.conv(c.convs.at(0), x, `${name}.conv2d_list.0`);
    for (let i = 1; i < c.convs.length; i++) out = this.g.node('Add', [out, this.conv(c.convs.at(i), x, `${name}.conv2d_list.${i}`)]);
    return out;
  }

  resnet(G: DeepLabSegmentor, x: string): string {
    let y = this.relu(this.conv(G.conv1, x, 'conv1', G.bn1));
    if (G.spec.stemPool !== false) y = this.maxPool(y, STEM_POOL.kernel, STEM_POOL);
    for (const [li, layer] of [G.layer1, G.layer2, G.layer3, G.layer4].entries()) {
      for (const [bi, b] of layer.items.entries()) {
        if (!(b instanceof Bottleneck || b instanceof BasicBlock)) throw unknown(b, `layer${li + 1}.${bi}`);
        y = this.block(b, y, `layer${li + 1}.${bi}`);
      }
    }
    return y;
  }

  vgg(G: DeepLabVGG, x: string): string {
    let y = x;
    for (const [i, l] of G.featureLayers.layers.entries()) {
      if (l instanceof Conv2d) y = this.conv(l, y, `features.${i}`);
      else if (l instanceof ReLU) y = this.relu(y);
      else if (l instanceof MaxPool2d) y = this.maxPool(y, l.kernel, l.opts);
      else throw unknown(l, `features.${i}`);
    }
    return y;
  }
}

const unknown = (m: Module, where: string): ConfigError =>
  new ConfigError(`export: module ${where} (${m.constructor.name}) has no ONNX translation in deploy/export.ts`);

/** The input normalisation of data/transforms.ts as graph nodes: RGB 0..255 → network input. */
function normalize(g: GraphBuilder, x: string, norm: 'caffe' | 'imagenet'): string {
  const c3 = (name: string, v: readonly number[]): string => g.init(name, Float32Array.from(v), [1, 3, 1, 1]);
  if (norm === 'caffe') {
    const bgr = g.node('Gather', [x, g.ints('bgr_order', [2, 1, 0])], { axis: 1 }, 'image_bgr');
    return g.node('Sub', [bgr, c3('caffe_mean_bgr', IMG_MEAN_BGR)], {}, 'normalized');
  }
  const centred = g.node('Sub', [x, c3('imagenet_mean_255', IMAGENET_MEAN_RGB.map((m) => m * 255))]);
  return g.node('Mul', [centred, c3('imagenet_inv_std_255', IMAGENET_STD_RGB.map((s) => 1 / (255 * s)))], {}, 'normalized');
}

/** What the ONNX file will say about itself (its metadata_props). */
export function onnxInfo(m: InferenceModel, o: ExportOptions = {}): OnnxModelInfo {
  const size = o.size ?? m.evalSize;
  return { format: 'clan-onnx', version: 1, backbone: m.backbone, numClasses: m.numClasses, classNames: m.classNames,
    palette: m.palette, normalize: m.normalize, inputSize: size === 'dynamic' ? null : size, evalSize: m.evalSize,
    output: o.output ?? 'logits', configHash: o.configHash !== undefined ? o.configHash : m.config == null ? null : configHash(m.config), step: m.step, source: m.path.split('/').pop() ?? m.path };
}

/** The two heads' logits [x1, x2] of G's graph on the normalised input x. */
function heads(G: InferenceModel['G'], walk: Walker, g: GraphBuilder, opset: number, x: string): [string, string] {
  if (G instanceof MitSegmentor) return new MitGraph(g, opset, (c, v, n, bn) => walk.conv(c, v, n, bn), unknown).segmentor(G, x);
  const f = G instanceof DeepLabSegmentor ? walk.resnet(G, x) : G instanceof DeepLabVGG ? walk.vgg(G, x) : (() => { throw unknown(G, 'G'); })();
  return [walk.classifier(G.layer5, f, 'layer5'), walk.classifier(G.layer6, f, 'layer6')];
}

/** G of `m` as the bytes of an ONNX ModelProto (G must be in eval mode: batch norm uses its running statistics). */
export function exportOnnx(m: InferenceModel, o: ExportOptions = {}): Uint8Array {
  const opset = o.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) throw new ConfigError(`export: --opset must be an integer ${MIN_OPSET}…${MAX_OPSET}, got ${opset}`);
  const info = onnxInfo(m, o);
  const K = m.numClasses;
  const [W, H]: [Dim, Dim] = info.inputSize ?? ['width', 'height'];
  const g = new GraphBuilder(`clan_${m.backbone}`);
  const image = g.input('image', 'float', ['batch', 3, H, W]);
  const walk = new Walker(g);
  const x = normalize(g, image, m.normalize);
  const G = m.G;
  const [x1, x2] = heads(G, walk, g, opset, x);
  g.output(x1, 'x1', 'float', ['batch', K, 'feature_height', 'feature_width']);
  g.output(x2, 'x2', 'float', ['batch', K, 'feature_height', 'feature_width']);
  if (info.output !== 'heads') {
    // up(x1 + x2) to the input's own size (§5.3): sizes = [N, K] of the sum ++ [H, W] of the image
    const sum = g.node('Add', [x1, x2], {}, 'heads_sum');
    const nk = g.node('Slice', [g.node('Shape', [sum]), g.ints('s0', [0]), g.ints('s2', [2])]);
    const hw = g.node('Slice', [g.node('Shape', [image]), g.ints('s2b', [2]), g.ints('s4', [4])]);
    const sizes = g.node('Concat', [nk, hw], { axis: 0 }, 'sizes');
    const mode = (G.alignCorners ?? true) ? 'align_corners' : 'pytorch_half_pixel'; // models/segmentor.ts predictLogits
    const logits = g.node('Resize', [sum, '', '', sizes], { mode: 'linear', coordinate_transformation_mode: mode }, 'logits_up');
    if (info.output === 'logits') g.output(logits, 'logits', 'float', ['batch', K, H, W]);
    else if (info.output === 'probs') g.output(g.node('Softmax', [logits], { axis: 1 }), 'probs', 'float', ['batch', K, H, W]);
    else g.output(g.node('Cast', [g.node('ArgMax', [logits], { axis: 1, keepdims: 0 })], { to: 2 }), 'labels', 'uint8', ['batch', H, W]);
  }
  return g.encode({ opset, producer: 'clan', version: packageVersion(), metadata: infoToProps(info),
    doc: `CLAN generator (${m.backbone}, ${K} classes) exported by clan; contract in metadata_props and docs/deploy.md` });
}

/** A short, stable hash of a training config (sorted keys), for the model's metadata. */
export function configHash(config: unknown): string {
  const canon = (v: unknown): unknown => (Array.isArray(v) ? v.map(canon) : v && typeof v === 'object'
    ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, canon(x)])) : v);
  return createHash('sha256').update(JSON.stringify(canon(config))).digest('hex').slice(0, 16);
}
