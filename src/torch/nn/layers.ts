// Layers over the functional ops. Each is a Module with a forward(x) → y.
import { Module, type Layer } from './module.js';
import { Tensor, empty, zeros, ones } from '../tensor.js';
import * as F from '../functional.js';
import { defaultConvInit } from './init.js';
import { noGrad } from '../runtime.js';
import { isInitialized } from '../dist.js';

type Pair = F.Pair;

export interface Conv2dOptions { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean }
export class Conv2d extends Module implements Layer {
  readonly weight: Tensor;               // [out, in/groups, kh, kw]
  readonly bias: Tensor | null;          // [out]
  constructor(readonly inChannels: number, readonly outChannels: number, kernel: Pair, readonly opts: Conv2dOptions = {}) {
    super();
    const [kh, kw] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels / (opts.groups ?? 1), kh, kw]));
    this.bias = opts.bias === false ? null : this.registerParameter('bias', empty([outChannels]));
    defaultConvInit(this.weight, this.bias);
  }
  forward(x: Tensor): Tensor { return F.conv2d(x, this.weight, this.bias, this.opts); }
}

export interface BatchNormOptions { eps?: number; momentum?: number; affine?: boolean }
/** BatchNorm2d with running statistics. Freezing the affine (as DeepLab does) = weight/bias requiresGrad false. */
export class BatchNorm2d extends Module implements Layer {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  readonly eps: number;
  readonly momentum: number;
  /** Batch statistics over every data-parallel rank while training (convertSyncBatchNorm sets it). */
  sync = false;
  constructor(readonly numFeatures: number, o: BatchNormOptions = {}) {
    super();
    this.eps = o.eps ?? 1e-5;          // added to the variance
    this.momentum = o.momentum ?? 0.1; // running = (1 − m)·running + m·batch
    const affine = o.affine ?? true;
    this.weight = affine ? this.registerParameter('weight', ones([numFeatures])) : null;
    this.bias = affine ? this.registerParameter('bias', zeros([numFeatures])) : null;
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
  }
  forward(x: Tensor): Tensor {
    if (this.training) noGrad(() => this.numBatchesTracked.add_(1));
    const o = { weight: this.weight, bias: this.bias, runningMean: this.runningMean, runningVar: this.runningVar, momentum: this.momentum,
      eps: this.eps };
    if (this.training && this.sync && isInitialized()) return F.syncBatchNorm(x, o);
    return F.batchNorm(x, { weight: this.weight, bias: this.bias, runningMean: this.runningMean, runningVar: this.runningVar,
      training: this.training, momentum: this.momentum, eps: this.eps });
  }
}

export class ReLU extends Module implements Layer { forward(x: Tensor): Tensor { return x.relu(); } }
export class LeakyReLU extends Module implements Layer {
  constructor(readonly slope = 0.01) { super(); }
  forward(x: Tensor): Tensor { return F.leakyRelu(x, this.slope); }
}
export class MaxPool2d extends Module implements Layer {
  constructor(readonly kernel: Pair, readonly opts: F.PoolOptions = {}) { super(); }
  forward(x: Tensor): Tensor { return F.maxPool2d(x, this.kernel, this.opts); }
}

/** Children named "0", "1", … like PyTorch; forward chains them and frees the intermediates. */
export class Sequential extends Module implements Layer {
  readonly layers: (Module & Layer)[];
  constructor(...layers: (Module & Layer)[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }
  forward(x: Tensor): Tensor {
    let y = x;
    for (const l of this.layers) {
      const next = l.forward(y);
      if (y !== x && next !== y) y.dispose();
      y = next;
    }
    return y;
  }
}

/** A list of sub-modules named "0", "1", …, with no forward of its own. */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[] = [];
  constructor(items: M[] = []) { super(); for (const m of items) this.push(m); }
  push(m: M): void { this.registerModule(String(this.items.length), m); this.items.push(m); }
  get length(): number { return this.items.length; }
  at(i: number): M { return this.items[i]!; }
}

/** torch.nn.SyncBatchNorm.convert_sync_batchnorm: every BatchNorm2d in `m` computes its training statistics over all ranks. */
export function convertSyncBatchNorm<M extends Module>(m: M): M {
  for (const [, sub] of m.namedModules()) if (sub instanceof BatchNorm2d) sub.sync = true;
  return m;
}
