// The 7-layer probe net of the engine benchmark and memory test (same definition as
// tools/reference/probe_net.py): 3×3 convs 32-32-64-64-128-128-128, three stride 2, the last dilated ×2,
// each with BN + ReLU, a 1×1 head to 8 classes, bilinear upsampling to the input size, cross-entropy.
import * as torch from '../torch/index.js';
import { Module, Conv2d, BatchNorm2d, ReLU, Sequential, LeakyReLU, F, type Tensor } from '../torch/index.js';

const SPEC: [number, number, number, number][] = [ // [in, out, stride, dilation]
  [3, 32, 2, 1], [32, 32, 1, 1], [32, 64, 2, 1], [64, 64, 1, 1], [64, 128, 2, 1], [128, 128, 1, 1], [128, 128, 1, 2],
];
export const PROBE_CLASSES = 8;

export class ProbeNet extends Module {
  readonly body: Sequential;
  readonly head: Conv2d;
  constructor() {
    super();
    const layers = SPEC.flatMap(([i, o, s, d]) => [
      new Conv2d(i, o, 3, { stride: s, padding: d, dilation: d, bias: false }), new BatchNorm2d(o), new ReLU(),
    ]);
    this.body = this.registerModule('body', new Sequential(...layers));
    this.head = this.registerModule('head', new Conv2d(128, PROBE_CLASSES, 1));
  }
  /** x [N, 3, H, W] → logits [N, 8, H, W] */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => F.interpolate(this.head.forward(this.body.forward(x)), [x.size(2), x.size(3)], { alignCorners: true }));
  }
}

/** A small discriminator-like net (the "second small net" trained with Adam in the memory test). */
export function smallDisc(): Sequential {
  return new Sequential(new Conv2d(PROBE_CLASSES, 16, 4, { stride: 2, padding: 1 }), new LeakyReLU(0.2),
    new Conv2d(16, 1, 4, { stride: 2, padding: 1 }));
}

/** One SGD step of the probe net on (x, y); returns the loss value. */
export function probeStep(net: ProbeNet, opt: torch.SGD, x: Tensor, y: Tensor): number {
  return torch.tidy(() => {
    opt.zeroGrad();
    const loss = F.crossEntropy(net.forward(x), y, { ignoreIndex: 255 });
    loss.backward();
    opt.step();
    return loss.item();
  });
}
