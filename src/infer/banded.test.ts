// Column-band upsampling (inference.ts bandedUp, wholeLabels; predict.ts) against the whole [1, K, H, W] path: the
// same bits (M: within a float32 rounding), at sizes where the bands are narrow, uneven and one column wide, for
// align_corners true and false.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { defaultPalette, type InferenceModel } from './model.js';
import { predictImage } from './predict.js';
import { bandedUp, wholeLabels } from './inference.js';
import { microModel } from './infer.testing.js';
import type { RgbImage } from '../data/image.js';

/** A deterministic image with structure at every scale (so labels vary over the picture). */
function image(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++) {
    data[3 * (y * width + x) + c] = (Math.sin(x * 0.05 * (c + 1)) * 90 + Math.cos(y * 0.07 + c) * 90 + ((x * y) % 37)) & 255;
  }
  return { data, width, height };
}

test('bandedUp = F.interpolate whole, bit for bit, for bands of 1, 7 and 64 columns and both corner modes', () => {
  torch.manualSeed(3);
  torch.tidy(() => {
    const low = torch.randn([1, 5, 9, 13]).mul(4);                                    // [1, K, h, w]
    for (const alignCorners of [true, false]) {
      for (const [H, W] of [[61, 83], [9, 200], [130, 13]] as const) {
        const whole = F.interpolate(low, [H, W], { alignCorners }).toTypedArray<'float32'>();
        for (const bw of [1, 7, 64]) {
          const banded = bandedUp(low, [H, W], alignCorners, (t) => t, bw * 5 * H).toTypedArray<'float32'>();
          assert.deepEqual(banded, whole, `${H}×${W} band ${bw} alignCorners ${alignCorners}`);
        }
      }
    }
  });
});

test('wholeLabels and predictImage in bands give the unbanded labels exactly, M within a float32 rounding', () => {
  const G = microModel();
  const m: InferenceModel = { G, path: 'micro19', backbone: 'micro', numClasses: 19, classNames: [], palette: defaultPalette(19),
    normalize: 'caffe', evalSize: [128, 64], step: null, config: null };
  try {
    const img = image(301, 157);
    const live = torch.memoryStats().live;
    const whole = predictImage(m, img);
    for (const band of [19 * 157 * 10, 19 * 157 * 33, 19 * 157]) {                  // 30, 99 and 3 columns per band (÷3 heads)
      const banded = predictImage(m, img, 'x', undefined, band);
      assert.deepEqual(banded.label, whole.label, `labels, band ${band}`);
      // softmax's vectorised exp and its scalar tail differ in the last bit; which pixels are in a tail depends on the
      // band's width. M ∈ [0, 1]: 2 ulp at 1 is 2.4e-7 (a disagreement PNG's colour steps are 0.1 / 255 = 3.9e-4 wide)
      let worst = 0;
      for (let i = 0; i < whole.disagreement.length; i++) {
        worst = Math.max(worst, Math.abs(banded.disagreement[i]! - whole.disagreement[i]!));
      }
      assert.ok(worst <= 2.4e-7, `M, band ${band}: ${worst}`);
    }
    assert.ok(new Set(whole.label).size >= 3, 'the labels vary over the image');
    torch.tidy(() => {
      const x = torch.randn([1, 3, 64, 128]).mul(50);
      const a = wholeLabels(G, x, [157, 301]).to('uint8').toTypedArray<'uint8'>();
      const b = wholeLabels(G, x, [157, 301], 19 * 157 * 5);
      assert.equal(b.dtype, 'uint8');
      assert.deepEqual(b.toTypedArray<'uint8'>(), a);
    });
    assert.equal(torch.memoryStats().live, live);
  } finally { G.dispose(); }
});
