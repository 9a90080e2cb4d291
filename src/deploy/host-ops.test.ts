// The host inference tail against libtorch: F.interpolate (bilinear, align_corners), predictHeads' up(x1 + x2)
// + argmax(1), and disagreementMap, on random heads of several shapes; plus a hand-computed 2×2 → 3×3 case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import { disagreementMap } from '../models/segmentor.js';
import {
  addWindow, argmaxLabels, cropChannels, divideCounts, flipColumns, headsToPrediction, labelsFromHeads, rawChw, softmaxClasses,
  upsampleBilinear,
} from './host-ops.js';

// [k, h, w, H, W]: down to 1×1, up from 1×1, identity, ×8 exact and non-integer upscales, downscale, mixed.
const SHAPES: [number, number, number, number, number][] = [
  [3, 5, 7, 1, 1], [4, 1, 1, 6, 9], [2, 6, 6, 6, 6], [19, 17, 33, 129, 257], [19, 13, 29, 100, 230],
  [5, 40, 50, 7, 9], [7, 1, 9, 12, 1], [11, 9, 4, 64, 3],
];

const f32 = (t: Tensor): Float32Array => t.contiguous().toTypedArray<'float32'>();
const up = (t: Tensor, H: number, W: number): Tensor => F.interpolate(t, [H, W], { alignCorners: true });

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Label mismatches where torch's top two logits [k, n] differ by more than 1e-5 (real disagreements, not ties). */
function realMismatches(ours: Uint8Array, ref: Uint8Array, logits: Float32Array, k: number): number {
  const n = ref.length;
  let bad = 0;
  for (let i = 0; i < n; i++) {
    if (ours[i] === ref[i]) continue;
    const v = Array.from({ length: k }, (_, c) => logits[c * n + i]!).sort((a, b) => b - a);
    if (v[0]! - v[1]! > 1e-5) bad++;
  }
  return bad;
}

test('upsampleBilinear: 2×2 → 3×3 by hand (src = i · 1/2)', () => {
  const out = upsampleBilinear(Float32Array.of(0, 1, 2, 3, 10, 20, 30, 40), 2, 2, 2, 3, 3);
  assert.deepEqual(Array.from(out), [0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3, 10, 15, 20, 20, 25, 30, 30, 35, 40]);
  assert.deepEqual(Array.from(upsampleBilinear(Float32Array.of(7), 1, 1, 1, 2, 2)), [7, 7, 7, 7]);
  assert.deepEqual(Array.from(upsampleBilinear(Float32Array.of(1, 2, 3, 4), 1, 2, 2, 1, 1)), [1]);   // out 1: src 0
  assert.throws(() => upsampleBilinear(new Float32Array(5), 1, 2, 2, 3, 3), /RangeError: upsampleBilinear: input of 5 values is not \[1, 2, 2\]/);
});

test('upsampleBilinear equals F.interpolate(align_corners) within 1e-5 on random inputs', () => torch.tidy(() => {
  torch.manualSeed(1);
  for (const [k, h, w, H, W] of SHAPES) {
    const x = torch.randn([1, k, h, w]).mul(3);
    const d = maxAbsDiff(upsampleBilinear(f32(x), k, h, w, H, W), f32(up(x, H, W)));
    assert.ok(d <= 1e-5, `[${k}, ${h}, ${w}] → [${H}, ${W}]: max |diff| ${d}`);
  }
}));

test('argmaxLabels equals torch argmax(1): first maximum on ties, the first NaN wins', () => torch.tidy(() => {
  const NaN_ = Number.NaN;
  // [k = 4, n = 6]: ties 2-2, all equal, NaN after a max, NaN first, two NaNs, -Infinity only
  const cols = [[1, 2, 2, 0], [5, 5, 5, 5], [9, 1, NaN_, 9], [NaN_, 3, 4, 5], [0, NaN_, NaN_, 1],
    [-Infinity, -Infinity, -Infinity, -Infinity]];
  const k = 4, n = cols.length;
  const data = new Float32Array(k * n);
  cols.forEach((col, i) => col.forEach((v, c) => { data[c * n + i] = v; }));
  const ref = torch.fromTypedArray(data, [1, k, n]).argmax(1).toArray();
  assert.deepEqual(Array.from(argmaxLabels(data, k, n)), ref);
  assert.deepEqual(ref, [1, 0, 2, 0, 1, 0]);
  assert.throws(() => argmaxLabels(new Float32Array(257), 257, 1), /257 classes do not fit 8-bit labels/);
}));

test('headsToPrediction / labelsFromHeads equal predictHeads + argmax + disagreementMap (M within 1e-5, labels up to near-ties)', () => torch.tidy(() => {
  torch.manualSeed(2);
  for (const [k, h, w, H, W] of SHAPES) {
    const x1 = torch.randn([1, k, h, w]).mul(2), x2 = torch.randn([1, k, h, w]).mul(2);
    const logits = up(x1.add(x2), H, W);
    const refLabel = logits.argmax(1).to('uint8').toTypedArray<'uint8'>();
    const refM = f32(disagreementMap(up(x1, H, W), up(x2, H, W)));
    const r = headsToPrediction(f32(x1), f32(x2), k, h, w, H, W);
    const what = `[${k}, ${h}, ${w}] → [${H}, ${W}]`;
    const d = maxAbsDiff(r.disagreement, refM);
    assert.ok(d <= 1e-5, `${what}: M max |diff| ${d}`);
    assert.equal(realMismatches(r.label, refLabel, f32(logits), k), 0, `${what}: labels`);
    assert.deepEqual(labelsFromHeads(f32(x1), f32(x2), k, h, w, H, W), r.label, `${what}: labelsFromHeads`);
  }
}));

test('headsToPrediction sums the heads before the one upsample, and M is 0 where the heads agree', () => {
  // x1 = [0, 3] and x2 = [2, 0] per pixel (k = 2, 1×1 → 1×2): x1 + x2 = [2, 3] → class 1; softmaxes differ.
  const r = headsToPrediction(Float32Array.of(0, 3), Float32Array.of(2, 0), 2, 1, 1, 1, 2);
  assert.deepEqual(Array.from(r.label), [1, 1]);
  const p1 = [1 / (1 + Math.exp(3)), 1 / (1 + Math.exp(-3))], p2 = [1 / (1 + Math.exp(-2)), 1 / (1 + Math.exp(2))];
  const m = 1 - (p1[0]! * p2[0]! + p1[1]! * p2[1]!) / (Math.hypot(...p1) * Math.hypot(...p2));
  assert.ok(Math.abs(r.disagreement[0]! - m) < 1e-7 && r.disagreement[1] === r.disagreement[0], `M ${r.disagreement[0]} vs ${m}`);
  const same = headsToPrediction(Float32Array.of(1, -2, 0.5, 4), Float32Array.of(1, -2, 0.5, 4), 2, 1, 2, 3, 3);
  assert.ok(same.disagreement.every((v) => Math.abs(v) < 1e-7));
});

test('the slide / multi-scale tail by hand: crop, add a window, divide by counts, softmax over classes, mirror', () => {
  // x [2, 2, 3] (c, H, W); the window x ∈ [1, 3), y ∈ [0, 2)
  const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.deepEqual([...cropChannels(x, 2, 2, 3, 1, 0, 3, 2)], [2, 3, 5, 6, 8, 9, 11, 12]);
  const sum = new Float32Array(2 * 2 * 3);
  addWindow(sum, 2, 3, Float32Array.from([1, 1, 1, 1, 2, 2, 2, 2]), 2, 2, 2, 1, 0);
  addWindow(sum, 2, 3, Float32Array.from([4, 4, 4, 4]), 2, 1, 2, 0, 1);       // a 2×1 window at (0, 1)
  assert.deepEqual([...sum], [0, 1, 1, 4, 5, 1, 0, 2, 2, 4, 6, 2]);
  divideCounts(sum, Float32Array.from([1, 1, 1, 1, 2, 1]), 2, 6);
  assert.deepEqual([...sum], [0, 1, 1, 4, 2.5, 1, 0, 2, 2, 4, 3, 2]);
  // softmax of (0, ln 3) is (1/4, 3/4); of equal logits 1/2 each; huge logits stay finite (max subtracted)
  const p = Float32Array.from([0, 5, 1000, Math.log(3), 5, 999]);
  softmaxClasses(p, 2, 3);
  const want = [0.25, 0.5, 1 / (1 + Math.exp(-1)), 0.75, 0.5, 1 / (1 + Math.exp(1))];
  p.forEach((v, i) => assert.ok(Math.abs(v - want[i]!) < 1e-7, `${i}: ${v} vs ${want[i]}`));
  const m = Float32Array.from([1, 2, 3, 4, 5, 6]);
  flipColumns(m, 2, 1, 3);
  assert.deepEqual([...m], [3, 2, 1, 6, 5, 4]);
  // RGB [1, 2] pixels (r, g, b) = (1, 2, 3), (4, 5, 6) → planes; mirrored
  assert.deepEqual([...rawChw(Uint8Array.from([1, 2, 3, 4, 5, 6]), 2, 1)], [1, 4, 2, 5, 3, 6]);
  assert.deepEqual([...rawChw(Uint8Array.from([1, 2, 3, 4, 5, 6]), 2, 1, true)], [4, 1, 5, 2, 6, 3]);
});
