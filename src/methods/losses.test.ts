// CLAN's losses and schedules on hand-computed values (docs/method.md §2, §3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { focalLoss, ceLoss, weightDiscrepancy, adversarialBce } from './losses.js';
import { disagreementMap } from '../models/segmentor.js';
import { lrAt, dampingAt } from './schedule.js';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
// logits [0, ln 3] → softmax [0.25, 0.75]
const L3 = Math.log(3);

test('focal loss γ=2: mean over valid pixels of −(1−p_t)²·log p_t, 255 ignored', () => torch.tidy(() => {
  // 1×2×1×3 logits: every pixel [0, ln3]; labels [1, 0, 255]
  const logits = torch.tensor([[[[0, 0, 0]], [[L3, L3, L3]]]]);
  const labels = torch.tensor([[[1, 0, 255]]], { dtype: 'int64' });
  const fl1 = 0.25 ** 2 * -Math.log(0.75);   // 0.0179801…
  const fl0 = 0.75 ** 2 * -Math.log(0.25);   // 0.7797905…
  close(focalLoss(logits, labels).item(), (fl1 + fl0) / 2);
  close(focalLoss(logits, labels, 0).item(), (-Math.log(0.75) - Math.log(0.25)) / 2, 1e-6);   // γ=0 is CE
  close(ceLoss(logits, labels).item(), (-Math.log(0.75) - Math.log(0.25)) / 2);
  const allIgnored = torch.tensor([[[255, 255, 255]]], { dtype: 'int64' });
  assert.equal(focalLoss(logits, allIgnored).item(), 0);
}));

test('weight discrepancy = (cos(W5, W6) + 1)·λ_weight·damping·2 over weights and biases', () => torch.tidy(() => {
  const c1 = [torch.tensor([1, 0]), torch.tensor([0])];
  const c2 = [torch.tensor([1, 1]), torch.tensor([0])];
  close(weightDiscrepancy(c1, c2, 0.01, 0.5).item(), (1 / Math.SQRT2 + 1) * 0.01 * 0.5 * 2);
  const b1 = [torch.tensor([1, 0]), torch.tensor([1])];   // the bias counts: W5 = [1, 0, 1], W6 = [1, 1, 0]
  close(weightDiscrepancy(b1, c2, 0.01, 1).item(), (0.5 + 1) * 0.02);
}));

test('M = 1 − cos(p1, p2) per pixel and per image, shape [N, 1, H, W]', () => torch.tidy(() => {
  // image 0: p1 = [.25, .75], p2 = [.75, .25] → cos = 0.375 / 0.625 = 0.6 → M = 0.4; image 1: equal → 0
  const x1 = torch.tensor([[[[0]], [[L3]]], [[[0]], [[L3]]]]);
  const x2 = torch.tensor([[[[L3]], [[0]]], [[[0]], [[L3]]]]);
  const M = disagreementMap(x1, x2);
  assert.deepEqual(M.shape, [2, 1, 1, 1]);
  close(M.toArray()[0]!, 0.4);
  close(M.toArray()[1]!, 0, 1e-7);
}));

test('weighted BCE: mean of ℓ·(ε + λ_local·M); unweighted: mean of ℓ', () => torch.tidy(() => {
  const d = torch.tensor([[[[0, 2]]]]);                           // ℓ(0, ·) = ln 2; ℓ(2, 0) = log(1 + e²)
  const M = torch.tensor([[[[0.4, 0]]]]);
  const l0 = Math.log(2); const l2 = Math.log(1 + Math.exp(2));
  close(adversarialBce(d, 0, M, 0.4, 40).item(), (l0 * (0.4 + 16) + l2 * 0.4) / 2);
  close(adversarialBce(d, 0, null, 0.4, 40).item(), (l0 + l2) / 2);
  close(adversarialBce(d, 1, null, 0.4, 40).item(), (l0 + Math.log(1 + Math.exp(-2))) / 2);
}));

test('schedule: linear warm-up from 0, then poly 0.9 with the jump at the switch; damping 1 − i/maxIter', () => {
  const s = { maxIter: 100000, warmup: 5000, power: 0.9 };
  assert.equal(lrAt(2.5e-4, 0, s), 0);
  close(lrAt(2.5e-4, 2500, s), 1.25e-4);
  close(lrAt(2.5e-4, 4999, s), 2.5e-4 * 4999 / 5000);
  close(lrAt(2.5e-4, 5000, s), 2.5e-4 * 0.95 ** 0.9);            // ≈ 0.955·base (§3)
  assert.equal(lrAt(2.5e-4, 100000, s), 0);
  close(dampingAt(25000, 100000), 0.75);
  assert.equal(dampingAt(120, 100), 0); // past the horizon: no sign flip
  assert.equal(lrAt(1, 120, { maxIter: 100, warmup: 5, power: 0.9 }), 0);
});
