// DeepLab-v2 ResNet generator G = E + C1 + C2 (docs/method.md §1.1–1.3), with the official module names
// (conv1, bn1, layer1…layer4, layer5 = C1, layer6 = C2; blocks conv1/bn1/…/downsample.0/.1) so state dicts
// map 1:1 onto RoyalVane/CLAN:model/CLAN_G.py.
import * as torch from '../torch/index.js';
import { Module, Conv2d, BatchNorm2d, ModuleList, F, init, type Tensor } from '../torch/index.js';
import type { Segmentor } from './segmentor.js';
import type { ResNetSpec } from './backbones.js';

/** BN as DeepLab uses it (§1.1): affine params frozen, batch statistics in train mode, running stats updated. */
function frozenBN(c: number): BatchNorm2d {
  const bn = new BatchNorm2d(c);
  bn.weight!.requiresGrad = false;
  bn.bias!.requiresGrad = false;
  return bn;
}

function conv(i: number, o: number, k: number, stride = 1, padding = 0, dilation = 1): Conv2d {
  const c = new Conv2d(i, o, k, { stride, padding, dilation, bias: false });
  init.normal_(c.weight, 0, 0.01); // §1.1: every conv N(0, 0.01)
  return c;
}

/** The stem's max-pool (§1.1): 3×3, stride 2, padding 1, ceil mode (Caffe's rounding); bench/flops.ts reads it too. */
export const STEM_POOL = { kernel: 3, stride: 2, padding: 1, ceilMode: true } as const;

/** The 1×1 (strided) conv + frozen BN on a block's shortcut, as `downsample.0`/`downsample.1`. */
export class Downsample extends Module {
  constructor(i: number, o: number, stride: number) {
    super();
    this.registerModule('0', conv(i, o, 1, stride));
    this.registerModule('1', frozenBN(o));
  }
  forward(x: Tensor): Tensor {
    const [c, bn] = this.children() as [Conv2d, BatchNorm2d];
    return torch.tidy(() => bn.forward(c.forward(x)));
  }
}

interface Block extends Module { forward(x: Tensor): Tensor }

/** Caffe-style bottleneck: the stride sits on the first 1×1 conv (§1.1). */
export class Bottleneck extends Module implements Block {
  static readonly expansion = 4;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly conv2: Conv2d; readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d; readonly bn3: BatchNorm2d; readonly downsample: Downsample | null;
  constructor(inplanes: number, planes: number, stride: number, dilation: number, downsample: Downsample | null) {
    super();
    this.conv1 = this.registerModule('conv1', conv(inplanes, planes, 1, stride));
    this.bn1 = this.registerModule('bn1', frozenBN(planes));
    this.conv2 = this.registerModule('conv2', conv(planes, planes, 3, 1, dilation, dilation));
    this.bn2 = this.registerModule('bn2', frozenBN(planes));
    this.conv3 = this.registerModule('conv3', conv(planes, planes * 4, 1));
    this.bn3 = this.registerModule('bn3', frozenBN(planes * 4));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      // in place, as the official ResNet (ReLU(inplace=True), out += residual): BN's backward reads its input, not
      // its output, so autograd allows it; the same values, fewer [N, C, H, W] buffers written (docs/speed.md)
      let out = this.bn1.forward(this.conv1.forward(x)).relu_();
      out = this.bn2.forward(this.conv2.forward(out)).relu_();
      out = this.bn3.forward(this.conv3.forward(out));
      const residual = this.downsample ? this.downsample.forward(x) : x;
      return out.add_(residual).relu_();
    });
  }
}

/** Basic block (resnet18/34) with the same dilation scheme: 3×3 (stride, dilation) → 3×3 (dilation). */
export class BasicBlock extends Module implements Block {
  static readonly expansion = 1;
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d; readonly conv2: Conv2d; readonly bn2: BatchNorm2d;
  readonly downsample: Downsample | null;
  constructor(inplanes: number, planes: number, stride: number, dilation: number, downsample: Downsample | null) {
    super();
    this.conv1 = this.registerModule('conv1', conv(inplanes, planes, 3, stride, dilation, dilation));
    this.bn1 = this.registerModule('bn1', frozenBN(planes));
    this.conv2 = this.registerModule('conv2', conv(planes, planes, 3, 1, dilation, dilation));
    this.bn2 = this.registerModule('bn2', frozenBN(planes));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let out = this.bn1.forward(this.conv1.forward(x)).relu_(); // in place: as Bottleneck
      out = this.bn2.forward(this.conv2.forward(out));
      const residual = this.downsample ? this.downsample.forward(x) : x;
      return out.add_(residual).relu_();
    });
  }
}

/**
 * ASPP classifier ("Classifier_Module", §1.2): four parallel 3×3 convs with dilation = padding ∈ {6, 12, 18, 24},
 * bias, weights N(0, 0.01); CLAN sums ALL FOUR outputs (AdaptSegNet's copy returned after two).
 */
export class Classifier extends Module {
  readonly convs: ModuleList<Conv2d>;
  constructor(inplanes: number, numClasses: number, dilations: number[] = [6, 12, 18, 24]) {
    super();
    this.convs = this.registerModule('conv2d_list', new ModuleList(dilations.map((d) => {
      const c = new Conv2d(inplanes, numClasses, 3, { padding: d, dilation: d, bias: true }); // bias keeps PyTorch's default init
      init.normal_(c.weight, 0, 0.01);
      return c;
    })));
  }
  /** [N, C, h, w] → logits [N, K, h, w] */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let out = this.convs.at(0).forward(x);
      for (let i = 1; i < this.convs.length; i++) out = out.add(this.convs.at(i).forward(x));
      return out;
    });
  }
}


/** G: returns the two heads' logits at 1/8 resolution (§1.3: p = p1 + p2 is formed by the caller). */
/**
 * What every DeepLab-v2 generator shares: a feature extractor (`features`) and CLAN's two ASPP heads on its output,
 * layer5 = C1 and layer6 = C2 (§1.2), registered by the subclass after its backbone so state dicts keep their order.
 */
export abstract class TwoHeadSegmentor extends Module {
  abstract readonly layer5: Classifier;
  abstract readonly layer6: Classifier;
  abstract features(x: Tensor): Tensor;

  /** x [N, 3, H, W] → [x1, x2], each [N, K, h, w] (raw logits of C1 and C2). */
  forward(x: Tensor): [Tensor, Tensor] {
    return torch.tidy(() => {
      const f = this.features(x);
      return [this.layer5.forward(f), this.layer6.forward(f)];
    });
  }

  /** C1 = layer5, C2 = layer6 (§1.2). */
  isHeadKey(key: string): boolean { return /^layer[56]\./.test(key); }
  classifierParameters(): [Tensor[], Tensor[]] { return [this.layer5.parameters(), this.layer6.parameters()]; }

  /** Backbone parameters that train (ResNet's BN affine is frozen; VGG has no BN), in named order — the 1× lr group (§3). */
  backboneParameters(): Tensor[] {
    return this.namedParameters().filter(([n, p]) => !this.isHeadKey(n) && p.requiresGrad).map(([, p]) => p);
  }
  /** C1 then C2 parameters — the 10× lr group (§3). */
  headParameters(): Tensor[] { return [...this.layer5.parameters(), ...this.layer6.parameters()]; }
}

export class DeepLabSegmentor extends TwoHeadSegmentor implements Segmentor {
  readonly conv1: Conv2d; readonly bn1: BatchNorm2d;
  readonly layer1: ModuleList; readonly layer2: ModuleList; readonly layer3: ModuleList; readonly layer4: ModuleList;
  readonly layer5: Classifier; readonly layer6: Classifier;
  readonly featureChannels: number;
  readonly numClasses: number;
  private inplanes: number;

  constructor(readonly spec: ResNetSpec) {
    super();
    this.numClasses = spec.numClasses;
    const w = spec.width;
    this.inplanes = w;
    this.conv1 = this.registerModule('conv1', conv(3, w, 7, 2, 3));
    this.bn1 = this.registerModule('bn1', frozenBN(w));
    this.layer1 = this.registerModule('layer1', this.makeLayer(w, spec.layers[0], 1, 1));
    this.layer2 = this.registerModule('layer2', this.makeLayer(w * 2, spec.layers[1], 2, 1));
    this.layer3 = this.registerModule('layer3', this.makeLayer(w * 4, spec.layers[2], 1, 2));
    this.layer4 = this.registerModule('layer4', this.makeLayer(w * 8, spec.layers[3], 1, 4));
    this.featureChannels = this.inplanes;
    this.layer5 = this.registerModule('layer5', new Classifier(this.inplanes, spec.numClasses, spec.asppDilations));
    this.layer6 = this.registerModule('layer6', new Classifier(this.inplanes, spec.numClasses, spec.asppDilations));
  }

  replica(): DeepLabSegmentor { return new DeepLabSegmentor(this.spec); }

  private makeLayer(planes: number, blocks: number, stride: number, dilation: number): ModuleList {
    const B = this.spec.block === 'bottleneck' ? Bottleneck : BasicBlock;
    const out = planes * B.expansion;
    // §1.1: a downsample branch also where the dilation changes (2 or 4), not only on stride/channel change
    const ds = stride !== 1 || this.inplanes !== out || dilation === 2 || dilation === 4
      ? new Downsample(this.inplanes, out, stride) : null;
    const list = new ModuleList<Module>([new B(this.inplanes, planes, stride, dilation, ds)]);
    this.inplanes = out;
    for (let i = 1; i < blocks; i++) list.push(new B(this.inplanes, planes, 1, dilation, null));
    return list;
  }

  /** E: x [N, 3, H, W] → features [N, C, ⌈H/8⌉', ⌈W/8⌉'] (output stride 8; 4 without the stem pool). */
  features(x: Tensor): Tensor {
    return torch.tidy(() => {
      let y = this.bn1.forward(this.conv1.forward(x)).relu_();
      if (this.spec.stemPool !== false) y = F.maxPool2d(y, STEM_POOL.kernel, STEM_POOL);
      for (const layer of [this.layer1, this.layer2, this.layer3, this.layer4]) {
        for (const b of layer.items as Block[]) y = b.forward(y);
      }
      return y;
    });
  }


  /**
   * The official optimizer's parameter list (§3): `for j in b[i].modules(): for k in j.parameters()` repeats each
   * backbone parameter once per enclosing module (stem ×1, block convs ×3, downsample convs ×4). Used only by
   * the `official-exact` preset.
   */
  officialBackboneParameterList(): Tensor[] {
    const out: Tensor[] = [];
    for (const top of [this.conv1, this.bn1, this.layer1, this.layer2, this.layer3, this.layer4] as Module[]) {
      for (const [, m] of top.namedModules()) for (const p of m.parameters()) if (p.requiresGrad) out.push(p);
    }
    return out;
  }
}
