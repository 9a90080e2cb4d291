// Gradients by central finite differences in float64 for the ops CLAN's backward depends on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';
import { F } from './index.js';
import { gradcheck } from './torch.testing.js';

torch.manualSeed(3);
const r = (...s: number[]) => torch.randn(s, { dtype: 'float64' });
const TOL = 1e-6;

test('conv2d with stride (2,1), padding (1,2), dilation (2,3), bias', () => {
  const err = gradcheck((x, w, b) => F.conv2d(x, w, b, { stride: [2, 1], padding: [1, 2], dilation: [2, 3] }),
    [r(1, 2, 6, 7), r(3, 2, 3, 2), r(3)]);
  assert.ok(err < TOL, `max rel error ${err}`);
});

test('bilinear interpolate, align_corners true and false, up and down', () => {
  for (const alignCorners of [true, false]) for (const size of [[7, 5], [3, 2]] as [number, number][]) {
    const err = gradcheck((x) => F.interpolate(x, size, { alignCorners }), [r(1, 2, 4, 3)]);
    assert.ok(err < TOL, `alignCorners=${alignCorners} size=${size}: ${err}`);
  }
});

test('max_pool2d with ceil_mode (ties broken away by distinct values)', () => {
  const err = gradcheck((x) => F.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }), [r(1, 2, 6, 9)]);
  assert.ok(err < TOL, `${err}`);
});

test('batch_norm in training mode (batch statistics) w.r.t. input, weight and bias', () => {
  const err = gradcheck((x, w, b) => F.batchNorm(x, { weight: w, bias: b, training: true }), [r(2, 3, 3, 4), r(3), r(3)]);
  assert.ok(err < TOL, `${err}`);
});

test('weighted BCE-with-logits, the weight itself differentiable (CLAN keeps M attached, §2.3)', () => {
  const t = torch.tensor([0, 1], { dtype: 'float64' }).reshape(2, 1, 1, 1).expand(2, 1, 3, 4);
  const err = gradcheck((x, m) => F.binaryCrossEntropyWithLogits(x, t, { reduction: 'none' }).mul(m.mul(40).add(0.4)).mean(),
    [r(2, 1, 3, 4), torch.rand([2, 1, 3, 4], { dtype: 'float64' })]);
  assert.ok(err < TOL, `${err}`);
});

test('cross_entropy with ignore_index 255', () => {
  const target = torch.tensor([[[0, 2, 255], [1, 255, 2]]], { dtype: 'int64' });
  const err = gradcheck((x) => F.crossEntropy(x, target, { ignoreIndex: 255 }), [r(1, 3, 2, 3)]);
  assert.ok(err < TOL, `${err}`);
});

test('cosine_similarity over the class dim', () => {
  const err = gradcheck((a, b) => F.cosineSimilarity(a, b, 1), [r(2, 4, 2, 3), r(2, 4, 2, 3)]);
  assert.ok(err < TOL, `${err}`);
});
