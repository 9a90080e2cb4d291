// CLAN's losses and schedules, and ADVENT's entropy terms, on hand-computed values (docs/method.md §2, §3, §9.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { gradcheck } from '../torch/torch.testing.js';
import { focalLoss, ceLoss, weightDiscrepancy, adversarialBce, selfInformation, entropyLoss } from './losses.js';
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
  close(adversarialBce(d, 0, M.mul(40).add(0.4)).item(), (l0 * (0.4 + 16) + l2 * 0.4) / 2);
  close(adversarialBce(d, 0, null).item(), (l0 + l2) / 2);
  close(adversarialBce(d, 1, null).item(), (l0 + Math.log(1 + Math.exp(-2))) / 2);
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

test('self-information map (ADVENT prob_2_entropy): −p·log2 p / log2 K per class; p = 0 gives 0, not NaN', () => torch.tidy(() => {
  // K = 2, one pixel p = [.25, .75]: [−.25·log2 .25, −.75·log2 .75] / log2 2 = [0.5, 0.3112781…]
  const I2 = selfInformation(torch.tensor([[[[0.25]], [[0.75]]]]));
  assert.deepEqual(I2.shape, [1, 2, 1, 1]);
  const v2 = I2.toArray();
  close(v2[0]!, 0.5);
  close(v2[1]!, -0.75 * Math.log2(0.75));
  // K = 4, two pixels: p = [.5, .5, 0, 0] → [.5·1, .5·1, 0, 0] / 2; uniform .25 → .25·2 / 2 = .25 each (Σ_c = 1, the maximum)
  const p4 = torch.tensor([[[[0.5, 0.25]], [[0.5, 0.25]], [[0, 0.25]], [[0, 0.25]]]]);   // [1, 4, 1, 2]
  const v4 = selfInformation(p4).toArray();
  const expect4 = [0.25, 0.25, 0.25, 0.25, 0, 0.25, 0, 0.25];   // [c][w]
  expect4.forEach((e, k) => close(v4[k]!, e));
  assert.ok(v4.every(Number.isFinite));
}));

test('entropy loss (ADVENT entropy_loss): mean over pixels of Σ_c −p·log2 p / log2 K', () => torch.tidy(() => {
  // K = 2, N = 2, 1×1 pixels: p = [.25, .75] → 0.8112781…, p = [.5, .5] → 1; mean 0.9056390…
  const p = torch.tensor([[[[0.25]], [[0.75]]], [[[0.5]], [[0.5]]]]);
  const h = -(0.25 * Math.log2(0.25) + 0.75 * Math.log2(0.75));
  close(entropyLoss(p).item(), (h + 1) / 2);
  // K = 5, 2×3 pixels: one-hot everywhere → 0; uniform everywhere → 1 (the normalisation by log2 K)
  close(entropyLoss(torch.zeros([1, 5, 2, 3]).add(0.2)).item(), 1, 1e-6);
  const oneHot = F.oneHot(torch.tensor([[[0, 1, 2], [3, 4, 0]]], { dtype: 'int64' }), 5).permute(0, 3, 1, 2).to('float32');
  assert.ok(entropyLoss(oneHot).item() === 0, "one-hot: zero entropy (−0 allowed)");
  // the loss is the mean of the self-information map summed over classes
  close(entropyLoss(p).item(), selfInformation(p).sum(1).mean().item());
}));

test('entropy loss and self-information map: gradients w.r.t. the logits by finite differences (float64)', () => {
  torch.manualSeed(11);
  const x = torch.randn([2, 4, 3, 2], { dtype: 'float64' }).mul(2);
  const e1 = gradcheck((z) => entropyLoss(F.softmax(z, 1)), [x]);
  assert.ok(e1 < 1e-7, `entropy loss: ${e1}`);
  const e2 = gradcheck((z) => selfInformation(F.softmax(z, 1)), [x]);
  assert.ok(e2 < 1e-7, `self-information map: ${e2}`);
  // closed form for one pixel: ∂L/∂x_j = −p_j·(ln p_j + H) / ln K, H = −Σ p ln p (natural log)
  torch.tidy(() => {
    const z = torch.tensor([[[[0.3]], [[-1.2]], [[2]]]], { dtype: 'float64' }).requiresGrad_(true);
    entropyLoss(F.softmax(z, 1)).backward();
    const zs = [0.3, -1.2, 2]; const s = zs.reduce((a, v) => a + Math.exp(v), 0);
    const p = zs.map((v) => Math.exp(v) / s); const H = -p.reduce((a, v) => a + v * Math.log(v), 0);
    const g = z.grad!.toArray();
    p.forEach((pj, j) => close(g[j]!, -pj * (Math.log(pj) + H) / Math.log(3), 1e-12));
  });
  x.dispose();
});
