// The layers of a transformer (torch.nn names and state-dict keys): Linear, LayerNorm, GELU, Dropout, Dropout2d,
// DropPath. Each is a Module with a forward(x) → y over the functional ops.
import { Module, type Layer } from './module.js';
import { Tensor, empty, ones, zeros } from '../tensor.js';
import * as F from '../functional.js';
import { defaultConvInit } from './init.js';

/** y = x·Wᵀ + b over the last dim: x [..., in] → [..., out]. PyTorch's default init: W, b ~ U(±1/√in). */
export class Linear extends Module implements Layer {
  readonly weight: Tensor;        // [out, in]
  readonly bias: Tensor | null;   // [out]
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    this.bias = opts.bias === false ? null : this.registerParameter('bias', empty([outFeatures]));
    defaultConvInit(this.weight, this.bias);
  }
  forward(x: Tensor): Tensor { return F.linear(x, this.weight, this.bias); }
}

/** Layer norm over the last dim (nn.LayerNorm(dim, eps)): weight 1, bias 0 at init. x [..., dim]. */
export class LayerNorm extends Module implements Layer {
  readonly weight: Tensor;   // [dim]
  readonly bias: Tensor;     // [dim]
  constructor(readonly dim: number, readonly eps = 1e-5) {
    super();
    this.weight = this.registerParameter('weight', ones([dim]));
    this.bias = this.registerParameter('bias', zeros([dim]));
  }
  forward(x: Tensor): Tensor { return F.layerNorm(x, [this.dim], this.weight, this.bias, this.eps); }
}

export class GELU extends Module implements Layer { forward(x: Tensor): Tensor { return F.gelu(x); } }

/** Elementwise dropout in training mode; a copy of x in eval mode. */
export class Dropout extends Module implements Layer {
  constructor(readonly p = 0.5) { super(); }
  forward(x: Tensor): Tensor { return F.dropout(x, this.p, this.training); }
}

/** Channel dropout of [N, C, H, W] (nn.Dropout2d) in training mode; a copy of x in eval mode. */
export class Dropout2d extends Module implements Layer {
  constructor(readonly p = 0.5) { super(); }
  forward(x: Tensor): Tensor { return F.dropout2d(x, this.p, this.training); }
}

/**
 * Stochastic depth on a residual branch (timm's DropPath): per-sample mask in training mode. With p = 0 or in eval
 * mode forward returns x itself (no copy), as nn.Identity, which timm puts in its place for p = 0.
 */
export class DropPath extends Module implements Layer {
  constructor(public p = 0) { super(); }
  forward(x: Tensor): Tensor { return F.dropPath(x, this.p, this.training); }
}
