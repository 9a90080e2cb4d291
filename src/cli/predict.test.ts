// The disagreement PNG of `clan predict`: one fixed scale for every image, recorded in the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'fast-png';
import { colormap } from '../report/png.js';
import { DISAGREEMENT_KEY, DISAGREEMENT_MAX, backgroundClasses, disagreementPng } from './predict.js';

const pixel = (d: ArrayLike<number>, i: number) => [d[3 * i]!, d[3 * i + 1]!, d[3 * i + 2]!];

test('disagreement PNGs of two images share one scale: a value maps to the same colour whatever the image\'s maximum', () => {
  assert.equal(DISAGREEMENT_MAX, 0.1);
  // Image a peaks at 0.05, image b at 0.8: per-image scaling would draw a's 0.05 in the top colour.
  const a = decode(disagreementPng(Float32Array.of(0, 0.05), 2, 1));
  const b = decode(disagreementPng(Float32Array.of(0.05, 0.8, 0.1, 0), 2, 2));
  assert.deepEqual(pixel(a.data, 1), pixel(b.data, 0));
  // 0.05 is half the scale: 256-step table entry round(0.5 · 255) = 128 (see png.test.ts) → [34, 144, 139]
  assert.deepEqual(pixel(a.data, 1), [34, 144, 139]);
  assert.deepEqual(pixel(a.data, 0), colormap(0));                  // 0 → the bottom colour
  assert.deepEqual(pixel(b.data, 1), colormap(1));                  // 0.8 > max: clipped to the top colour
  assert.deepEqual(pixel(b.data, 2), colormap(1));                  // exactly the max
  for (const p of [a, b]) assert.equal(p.text[DISAGREEMENT_KEY], '0.1');
  assert.match(a.text.Description ?? '', /viridis from 0 to 0\.1, larger values clipped/);
});

test('the overlay leaves classes named background unpainted', () => {
  assert.deepEqual(backgroundClasses(['background', '0', '1']), [0]);
  assert.deepEqual(backgroundClasses(['road', 'Background']), [1]);
  assert.deepEqual(backgroundClasses(['road', 'sidewalk']), []);
});
