// FCDiscriminator (docs/method.md §1.4): five 4×4 stride-2 convs K→ndf→2ndf→4ndf→8ndf→1, LeakyReLU 0.2 after the
// first four; official module names (conv1…conv4, classifier) so state dicts map 1:1 onto the official D.
import * as torch from '../torch/index.js';
import { Module, Conv2d, F, type Tensor } from '../torch/index.js';
import type { Discriminator } from './segmentor.js';

export class FCDiscriminator extends Module implements Discriminator {
  readonly convs: Conv2d[];
  constructor(numClasses: number, ndf = 64) {
    super();
    const ch = [numClasses, ndf, ndf * 2, ndf * 4, ndf * 8, 1];
    const names = ['conv1', 'conv2', 'conv3', 'conv4', 'classifier'];
    this.convs = names.map((n, i) => this.registerModule(n, new Conv2d(ch[i]!, ch[i + 1]!, 4, { stride: 2, padding: 1 })));
  }
  /** x [N, K, H, W] → logits [N, 1, H/32, W/32] */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let y = x;
      this.convs.forEach((c, i) => { y = c.forward(y); if (i < 4) y = F.leakyRelu(y, 0.2); });
      return y;
    });
  }
}
