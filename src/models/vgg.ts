// DeepLab-v2 VGG-16 generator G = E + C1 + C2 (docs/method.md §1.6): AdaptSegNet's model/deeplab_vgg.py — the
// torchvision VGG-16 `features` without pool4 and pool5, conv5_1..conv5_3 at dilation 2, fc6/fc7 as 3×3 convs at
// dilation 4, output stride 8 — with CLAN's two ASPP heads (layer5 = C1, layer6 = C2, all four branches summed,
// §1.2) on fc7's 1024 channels. Module names follow deeplab_vgg.py (`features.<i>`, fc6 = features.29 and
// fc7 = features.31), so its backbone state dict maps 1:1; torchvision's vgg16 maps with the indices after pool4
// shifted by one (src/io/official.ts). No BatchNorm and no dropout: train and eval mode compute the same.
import * as torch from '../torch/index.js';
import { Module, Conv2d, ReLU, MaxPool2d, Sequential, init, type Layer, type Tensor } from '../torch/index.js';
import { Classifier, TwoHeadSegmentor } from './deeplab.js';
import type { Segmentor } from './segmentor.js';
import type { VggSpec } from './backbones.js';

/** VGG-16's five stages: width multiplier and 3×3 convs; pool4/pool5 removed (§1.6), stage 5 dilated instead. */
const STAGES: { mult: number; convs: number; pool: boolean; dilation: number }[] = [
  { mult: 1, convs: 2, pool: true, dilation: 1 },
  { mult: 2, convs: 2, pool: true, dilation: 1 },
  { mult: 4, convs: 3, pool: true, dilation: 1 },
  { mult: 8, convs: 3, pool: false, dilation: 1 }, // pool4 removed
  { mult: 8, convs: 3, pool: false, dilation: 2 }, // conv5_x dilation 2 padding 2; pool5 removed
];

/**
 * A torchvision VGG conv as `models.vgg16()` initialises it (deeplab_vgg.py without pretrained weights):
 * kaiming_normal_(mode='fan_out', nonlinearity='relu') → N(0, 2 / (out·3·3)), bias 0.
 */
function vggConv(i: number, o: number, dilation: number): Conv2d {
  const c = new Conv2d(i, o, 3, { padding: dilation, dilation, bias: true });
  init.normal_(c.weight, 0, Math.sqrt(2 / (o * 9)));
  init.constant_(c.bias!, 0);
  return c;
}

/** The `features` Sequential of deeplab_vgg.py: 13 convs + ReLU, 3 pools (2×2/2, floor), fc6 + ReLU, fc7 + ReLU. */
function vggFeatures(w: number): Sequential {
  const layers: (Module & Layer)[] = [];
  let c = 3;
  for (const s of STAGES) {
    for (let k = 0; k < s.convs; k++) { layers.push(vggConv(c, w * s.mult, s.dilation), new ReLU()); c = w * s.mult; }
    if (s.pool) layers.push(new MaxPool2d(2, { stride: 2 })); // torchvision's MaxPool2d(2, 2): ceil_mode False
  }
  // fc6/fc7: fresh 3×3 convs with PyTorch's default init (deeplab_vgg.py creates them; torchvision's Linear fc6/fc7
  // are not used), dilation = padding = 4.
  layers.push(new Conv2d(c, 16 * w, 3, { padding: 4, dilation: 4 }), new ReLU());
  layers.push(new Conv2d(16 * w, 16 * w, 3, { padding: 4, dilation: 4 }), new ReLU());
  return new Sequential(...layers);
}

/** G: returns the two heads' logits at 1/8 resolution (§1.3: p = p1 + p2 is formed by the caller). */
export class DeepLabVGG extends TwoHeadSegmentor implements Segmentor {
  readonly featureLayers: Sequential;
  readonly layer5: Classifier; readonly layer6: Classifier;
  readonly featureChannels: number;
  readonly numClasses: number;

  constructor(readonly spec: VggSpec) {
    super();
    this.numClasses = spec.numClasses;
    this.featureLayers = this.registerModule('features', vggFeatures(spec.width));
    this.featureChannels = 16 * spec.width;
    this.layer5 = this.registerModule('layer5', new Classifier(this.featureChannels, spec.numClasses, spec.asppDilations));
    this.layer6 = this.registerModule('layer6', new Classifier(this.featureChannels, spec.numClasses, spec.asppDilations));
  }

  replica(): DeepLabVGG { return new DeepLabVGG(this.spec); }

  /** E: x [N, 3, H, W] → fc7 features [N, 16w, ⌊⌊⌊H/2⌋/2⌋/2⌋, ⌊⌊⌊W/2⌋/2⌋/2⌋] (output stride 8, floor pooling). */
  features(x: Tensor): Tensor {
    return torch.tidy(() => this.featureLayers.forward(x));
  }

  /**
   * No official CLAN VGG code was published (§1.6), so there is no official optimizer list to copy; AdaptSegNet's
   * DeeplabVGG.optim_parameters lists each parameter once. The `official-exact` preset therefore gets the plain list.
   */
  officialBackboneParameterList(): Tensor[] { return this.backboneParameters(); }
}
