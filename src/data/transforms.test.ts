import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RawSample } from './dataset.js';
import { decodeRgb } from './image.js';
import { Rng } from './rng.js';
import { IMG_MEAN_BGR, drawAugment, preprocess, scaledSize } from './transforms.js';
import { pilFixtures, sharedFixtures } from './data.testing.js';

test('scaledSize gives the §5.4 table (Python int() truncation)', () => {
  assert.deepEqual([scaledSize([1280, 720], 1.1), scaledSize([1280, 720], 0.8)], [[1408, 792], [1024, 576]]);
  assert.deepEqual([scaledSize([1024, 512], 1.1), scaledSize([1024, 512], 0.8)], [[1126, 563], [819, 409]]);
  assert.deepEqual([scaledSize([1280, 760], 1.1), scaledSize([1280, 760], 0.8)], [[1408, 836], [1024, 608]]);
});

test('drawAugment thresholds: r > 0.7 → 1.1, r < 0.3 → 0.8, flip iff r2 < 0.5; always two draws', () => {
  const seq = (...v: number[]) => ({ next: () => v.shift()! });
  const o = { size: [8, 4] as const, randomScale: true, flip: true };
  assert.deepEqual(drawAugment(seq(0.71, 0.49), o), { scale: 1.1, flip: true });
  assert.deepEqual(drawAugment(seq(0.7, 0.5), o), { scale: 1, flip: false });
  assert.deepEqual(drawAugment(seq(0.29, 0.1), o), { scale: 0.8, flip: true });
  assert.deepEqual(drawAugment(seq(0.29, 0.1), { size: [8, 4] }), { scale: 1, flip: false });
  const r = new Rng(5); drawAugment(r, { size: [8, 4] });
  const r2 = new Rng(5); r2.next(); r2.next();
  assert.equal(r.next(), r2.next());
  // Over many draws the three scales appear ~30/40/30 %.
  const rng = new Rng(1); const n = 20000; const c = { 1.1: 0, 0.8: 0, 1: 0 } as Record<number, number>;
  for (let i = 0; i < n; i++) c[drawAugment(rng, o).scale]!++;
  assert.ok(Math.abs(c[1.1]! / n - 0.3) < 0.02 && Math.abs(c[0.8]! / n - 0.3) < 0.02);
});

const sample = (): RawSample => ({
  index: 0, name: 'x',
  image: { width: 2, height: 1, data: new Uint8Array([10, 20, 30, 200, 100, 0]) },
  label: { width: 4, height: 2, data: new Uint8Array([0, 1, 2, 3, 4, 5, 6, 255]) },
});

test('caffe normalisation: BGR minus float32 mean, CHW, flip mirrors image and label', () => {
  const f = Math.fround;
  const p = preprocess(sample(), { size: [2, 1] }, { scale: 1, flip: false });
  const m = IMG_MEAN_BGR;
  assert.deepEqual([...p.image], [f(30 - m[0]!), f(0 - m[0]!), f(20 - m[1]!), f(100 - m[1]!), f(10 - m[2]!), f(200 - m[2]!)]);
  // NEAREST 4x2 → 2x1: x = trunc(1), trunc(3); y = trunc(1) → row 1, columns 1 and 3.
  assert.deepEqual([p.labelWidth, p.labelHeight, ...p.label!], [2, 1, 5, 255]);
  const q = preprocess(sample(), { size: [2, 1] }, { scale: 1, flip: true });
  assert.deepEqual([...q.image], [f(0 - m[0]!), f(30 - m[0]!), f(100 - m[1]!), f(20 - m[1]!), f(200 - m[2]!), f(10 - m[2]!)]);
  const n = preprocess(sample(), { size: [2, 1], labelSize: 'native' }, { scale: 1, flip: true });
  assert.deepEqual([n.labelWidth, n.labelHeight, ...n.label!], [4, 2, 3, 2, 1, 0, 255, 6, 5, 4]);
});

test('random scale changes the image size only; imagenet option normalises RGB', () => {
  const p = preprocess(sample(), { size: [10, 5] }, { scale: 1.1, flip: false });
  assert.deepEqual([p.width, p.height, p.image.length, p.labelWidth, p.labelHeight], [11, 5, 3 * 11 * 5, 10, 5]);
  const q = preprocess(sample(), { size: [2, 1], normalize: 'imagenet' }, { scale: 1, flip: false });
  assert.ok(Math.abs(q.image[0]! - (10 / 255 - 0.485) / 0.229) < 1e-5);
  assert.ok(Math.abs(q.image[5]! - (0 / 255 - 0.406) / 0.225) < 1e-5);
});

test('Cityscapes fixture → 100x50: CHW BGR − mean of exactly the PIL bicubic pixels', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const src = join(dir, 'cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png');
  const image = decodeRgb(readFileSync(src), src);
  const p = preprocess({ index: 0, name: 'cs', image }, { size: [100, 50] }, { scale: 1, flip: false });
  const pilPath = join(pilFixtures(), 'bicubic_cs_100x50.png');
  const pil = decodeRgb(readFileSync(pilPath), pilPath).data;
  for (let i = 0; i < 100 * 50; i++) {
    for (let c = 0; c < 3; c++) assert.equal(p.image[c * 5000 + i], Math.fround(pil[3 * i + 2 - c]! - IMG_MEAN_BGR[c]!));
  }
});
