// The inference modes against their PyTorch twin (tools/reference/infer_reference.py, mmseg 0.x's slide_inference /
// MultiScaleFlipAug + keep_ratio Resize / aug_test): the `micro` 19-class model of test/fixtures/eval on the real
// Cityscapes fixture (256×128), probabilities and labels at the image's size; the grid and sizes by hand too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { fixturePath } from '../util/paths.js';
import { loadFixture } from '../torch/torch.testing.js';
import type { Segmentor } from '../models/segmentor.js';
import { decodePlane, decodeRgb, readBytes, type RgbImage } from '../data/image.js';
import { sharedFixtures } from '../data/data.testing.js';
import {
  checkInferenceSpec, inferencePasses, inferLabels, inferProbabilities, rescaleSize, slideWindows, WHOLE,
} from './inference.js';
import { INFER_IMAGE as IMAGE, microModel, specOf, type InferCase as Case, type InferExpected } from './infer.testing.js';

const ex = loadFixture<InferExpected>('infer/expected.json');

test('slideWindows: mmseg grid by hand (pulled back at the border; an input smaller than the crop is one short window)', () => {
  // W 10, crop 4, stride 3: ⌊(10 − 4 + 2) / 3⌋ + 1 = 3 columns at 0, 3, 6 → [0,4) [3,7) [6,10); H 7, crop 3, stride 2:
  // ⌊(7 − 3 + 1) / 2⌋ + 1 = 3 rows at 0, 2, 4 → [0,3) [2,5) [4,7).
  const w = slideWindows(10, 7, [4, 3], [3, 2]);
  assert.deepEqual(w.map((v) => [v.x1, v.x2]).slice(0, 3), [[0, 4], [3, 7], [6, 10]]);
  assert.deepEqual(w.filter((_, i) => i % 3 === 0).map((v) => [v.y1, v.y2]), [[0, 3], [2, 5], [4, 7]]);
  // W 11: ⌊(11 − 4 + 2) / 3⌋ + 1 = 4 columns; the last starts at 9, ends at min(13, 11) = 11, is pulled back to 7.
  assert.deepEqual(slideWindows(11, 3, [4, 3], [3, 2]).map((v) => [v.x1, v.x2]), [[0, 4], [3, 7], [6, 10], [7, 11]]);
  assert.deepEqual(slideWindows(5, 2, [8, 8], [4, 4]), [{ x1: 0, y1: 0, x2: 5, y2: 2 }]);
});

test('rescaleSize and inferencePasses: mmcv keep_ratio sizes by hand and as the reference made them', () => {
  assert.deepEqual(rescaleSize(2048, 1024, [1792, 896]), [1792, 896]);           // Cityscapes at 1.75 × 1024×512
  assert.deepEqual(rescaleSize(1914, 1052, [128, 64]), [116, 64]);              // f = 64/1052: 116.44 → 116, 64.0 → 64
  assert.deepEqual(rescaleSize(256, 128, [120, 80]), [120, 60]);                // f = min(120/256, 80/128) = 0.46875
  assert.deepEqual(inferencePasses(WHOLE, 256, 128, [96, 64]), [{ width: 96, height: 64, flip: false }], 'no TTA: the eval size exactly');
  for (const c of ex.cases) {
    const got = inferencePasses(specOf(c), ex.label_size[0], ex.label_size[1], c.eval_size);
    assert.deepEqual(got.map((p) => [p.width, p.height, Number(p.flip)]), c.passes, c.name);
    if (c.mode === 'slide') {
      assert.deepEqual(got.map((p) => slideWindows(p.width, p.height, c.crop!, c.stride!).map((v) => [v.x1, v.y1, v.x2, v.y2])),
        c.windows, c.name);
    }
  }
});

/** Labels equal everywhere; sampled probabilities within 1e-5; per-class means within 1e-7. */
function compareCase(G: Segmentor, img: RgbImage, c: Case): void {
  const [W, H] = ex.label_size;
  const target = { evalSize: c.eval_size, normalize: 'caffe' as const, out: [H, W] as const };
  const p = torch.tidy(() => inferProbabilities(G, img, specOf(c), target).toTypedArray<'float32'>()); // [K, H, W]
  const n = W * H;
  const labels = torch.tidy(() => inferLabels(G, img, specOf(c), target).to('uint8').toTypedArray<'uint8'>());
  const ref = decodePlane(readBytes(fixturePath(`infer/${c.name}.png`)), `${c.name}.png`).data;
  let differ = 0;
  for (let i = 0; i < n; i++) if (labels[i] !== ref[i]) differ++;
  assert.equal(differ, 0, `${c.name}: ${differ} of ${n} labels differ (reference ties: ${c.exact_ties})`);
  let worst = 0;
  for (const [x, y, probs] of c.samples) probs.forEach((v, k) => { worst = Math.max(worst, Math.abs(p[k * n + y * W + x]! - v)); });
  assert.ok(worst <= 1e-5, `${c.name}: sampled probabilities differ by up to ${worst}`);
  for (let k = 0; k < 19; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += p[k * n + i]!;
    assert.ok(Math.abs(s / n - c.class_mean[k]!) <= 1e-7, `${c.name}: class ${k} mean ${s / n} vs ${c.class_mean[k]}`);
  }
  const blended = c.samples.filter(([, , probs]) => Math.max(...probs) < 0.9).length;
  assert.ok(blended >= 10, `${c.name}: the samples test blended probabilities (${blended} below 0.9)`);
}

test('slide, multi-scale + flip and keep_ratio inference = the PyTorch twin (labels equal, probabilities 1e-5)', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const img = decodeRgb(readBytes(join(dir, IMAGE)), IMAGE);
  assert.deepEqual([img.width, img.height], ex.label_size);
  const G = microModel();
  const live0 = torch.memoryStats().live;
  try {
    for (const c of ex.cases) compareCase(G, img, c);
    assert.equal(torch.memoryStats().live, live0, 'no tensor outlives an inference');
  } finally { G.dispose(); }
});

test('inferLabels: the plain spec is today\'s whole path (eval/pred.png); scales [1] without flip gives the same labels here', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const img = decodeRgb(readBytes(join(dir, IMAGE)), IMAGE);
  const G = microModel();
  try {
    const target = { evalSize: [128, 64] as const, normalize: 'caffe' as const, out: [128, 256] as const };
    const plain = torch.tidy(() => inferLabels(G, img, WHOLE, target).to('uint8').toTypedArray<'uint8'>());
    assert.deepEqual(plain, decodePlane(readBytes(fixturePath('eval/pred.png')), 'pred.png').data);
    // 256×128 has the aspect of 128×64, so keep_ratio at ratio 1 is the same input; argmax of softmax = of logits here.
    const one = torch.tidy(() => inferLabels(G, img, { mode: 'whole', scales: [1] }, target).to('uint8').toTypedArray<'uint8'>());
    assert.deepEqual(one, plain);
  } finally { G.dispose(); }
});

test('a spec that cannot run is refused in one line naming the flag', () => {
  assert.throws(() => checkInferenceSpec({ mode: 'whole', scales: [] }), /^UsageError: --scales expects 1 to 16 ratios, got 0$/);
  assert.throws(() => inferencePasses({ mode: 'whole', scales: [0.001] }, 256, 128, [128, 64]), /--scales 0\.001: a 256x128 image would be resized to 0x0/);
});

