// Every op against stored PyTorch outputs and input gradients (tools/reference/engine_reference.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';
import { F, tidy } from './index.js';
import { assertClose, decode, loadFixture, type Encoded } from './torch.testing.js';
import type { Tensor } from './tensor.js';

interface Case { inputs: Record<string, Encoded>; output: Encoded; upstream?: Encoded; grads?: Record<string, Encoded>;
  running_mean?: Encoded; running_var?: Encoded }
const fx = loadFixture<{ torch: string; cases: Record<string, Case> }>('engine/ops.json');

type Fn = (i: Record<string, Tensor>) => Tensor;
const OPS: Record<string, Fn> = {
  conv2d_stride21_pad12_dil23: ({ x, w, b }) => F.conv2d(x!, w!, b!, { stride: [2, 1], padding: [1, 2], dilation: [2, 3] }),
  conv2d_groups2_nobias: ({ x, w }) => F.conv2d(x!, w!, null, { padding: 1, groups: 2 }),
  max_pool2d_ceil: ({ x }) => F.maxPool2d(x!, 3, { stride: 2, padding: 1, ceilMode: true }),
  max_pool2d_k32_s21: ({ x }) => F.maxPool2d(x!, [3, 2], { stride: [2, 1] }),
  bilinear_ac_true_up: ({ x }) => F.interpolate(x!, [11, 7], { alignCorners: true }),
  bilinear_ac_false_up: ({ x }) => F.interpolate(x!, [11, 7], { alignCorners: false }),
  bilinear_ac_true_down: ({ x }) => F.interpolate(x!, [4, 5], { alignCorners: true }),
  bilinear_ac_false_down: ({ x }) => F.interpolate(x!, [4, 5], { alignCorners: false }),
  nearest_up: ({ x }) => F.interpolate(x!, [11, 7], { mode: 'nearest' }),
  batch_norm_eval: ({ x, w, b, rm, rv }) => F.batchNorm(x!, { weight: w!, bias: b!, runningMean: rm!, runningVar: rv!, training: false }),
  softmax_dim1: ({ x }) => F.softmax(x!, 1),
  log_softmax_dim1: ({ x }) => F.logSoftmax(x!, 1),
  cross_entropy_ignore255_mean: ({ x, t }) => F.crossEntropy(x!, t!, { ignoreIndex: 255 }),
  cross_entropy_ignore255_sum: ({ x, t }) => F.crossEntropy(x!, t!, { ignoreIndex: 255, reduction: 'sum' }),
  cross_entropy_ignore255_none: ({ x, t }) => F.crossEntropy(x!, t!, { ignoreIndex: 255, reduction: 'none' }),
  nll_loss_ignore255: ({ x, t }) => F.nllLoss(x!, t!, { ignoreIndex: 255 }),
  bce_logits_weighted: ({ x, t, w }) => F.binaryCrossEntropyWithLogits(x!, t!, { weight: w! }),
  bce_logits_none: ({ x, t }) => F.binaryCrossEntropyWithLogits(x!, t!, { reduction: 'none' }),
  cosine_similarity_dim1: ({ a, b }) => F.cosineSimilarity(a!, b!, 1),
  leaky_relu_02: ({ x }) => F.leakyRelu(x!, 0.2),
  one_hot: ({ x }) => F.oneHot(x!, 4),
  gather_dim1: ({ x, i }) => x!.gather(1, i!),
  index_select_dim1: ({ x, i }) => x!.indexSelect(1, i!),
  matmul: ({ a, b }) => a!.matmul(b!),
  reductions_mixed: ({ x }) => torch.cat([x!.sum([0, 2]), x!.mean(1, true).flatten(), x!.maxDim(2)[0].flatten()]),
  pow_sqrt_exp_log: ({ x }) => torch.cat([x!.pow(3), x!.sqrt(), x!.exp(), x!.log(), x!.clamp(0.7, 1.2)], 1),
  where_maximum: ({ a, b }) => torch.where(a!.gt(b!), a!.mul(2), a!.maximum(b!)),
  permute_slice_cat: ({ x }) => torch.cat([x!.permute(2, 0, 1).slice(0, 1, 3), x!.permute(2, 0, 1).slice(0, 0, 2).flip([0])], 1),
};

for (const [name, c] of Object.entries(fx.cases)) {
  if (name === 'batch_norm_train') continue;
  test(`${name} matches PyTorch ${fx.torch} (value and input gradients)`, () => tidy(() => {
    const fn = OPS[name];
    assert.ok(fn, `no TS op for fixture case ${name}`);
    const ins: Record<string, Tensor> = {};
    for (const [k, e] of Object.entries(c.inputs)) ins[k] = decode(e).requiresGrad_(c.grads?.[k] !== undefined);
    const out = fn(ins);
    assertClose(out, c.output, { what: `${name} output` });
    if (c.grads) {
      out.mul(decode(c.upstream!)).sum().backward();
      for (const [k, g] of Object.entries(c.grads)) assertClose(ins[k]!.grad!, g, { what: `${name} d/d${k}`, atol: 1e-5 });
    }
  }));
}

test('batch_norm in training mode: batch statistics and running-stat update match PyTorch', () => tidy(() => {
  const c = fx.cases.batch_norm_train!;
  const x = decode(c.inputs.x!).requiresGrad_(); const w = decode(c.inputs.w!).requiresGrad_();
  const b = decode(c.inputs.b!).requiresGrad_();
  const rm = torch.zeros([4]); const rv = torch.ones([4]);
  const out = F.batchNorm(x, { weight: w, bias: b, runningMean: rm, runningVar: rv, training: true, momentum: 0.1 });
  assertClose(out, c.output, { what: 'bn output' });
  assertClose(rm, c.running_mean!, { what: 'running_mean' });
  assertClose(rv, c.running_var!, { what: 'running_var' });
  out.mul(decode(c.upstream!)).sum().backward();
  assertClose(x.grad!, c.grads!.x!, { what: 'd/dx', atol: 1e-5 });
  assertClose(w.grad!, c.grads!.w!, { what: 'd/dw', atol: 1e-5 });
  assertClose(b.grad!, c.grads!.b!, { what: 'd/db', atol: 1e-5 });
}));
