import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from 'fast-png';
import { DataError } from '../util/errors.js';
import { colorize, colormap, dataUri, encodePng, heatmap, heatIndex, heatmapOfIndex, overlay, upscale, VIRIDIS } from './png.js';

test('encodePng: RGB and gray decode back (fast-png) to the same pixels', () => {
  const rgb = new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 1, 2, 3, 250, 251, 252, 7, 8, 9]); // 3×2
  const d = decode(encodePng(rgb, 3, 2));
  assert.deepEqual([d.width, d.height, d.channels, d.depth], [3, 2, 3, 8]);
  assert.deepEqual([...d.data], [...rgb]);
  const gray = new Uint8Array([0, 64, 128, 255]); // 2×2
  const g = decode(encodePng(gray, 2, 2, 1));
  assert.deepEqual([g.width, g.height, g.channels], [2, 2, 1]);
  assert.deepEqual([...g.data], [0, 64, 128, 255]);
  assert.throws(() => encodePng(new Uint8Array(5), 2, 1), (e: unknown) => e instanceof DataError && /5 values for 2×1×3; expected 6/.test(e.message));
  assert.deepEqual(decode(encodePng(gray, 2, 2, 1, { 'clan:scale': '0.1' })).text, { 'clan:scale': '0.1' }); // a tEXt chunk
  assert.deepEqual(g.text, {});
});

test('colorize: class k → palette[k] and 255 → ignore colour, pixel for pixel', () => {
  const pal: [number, number, number][] = [[1, 2, 3], [4, 5, 6], [7, 8, 9]];
  const label = new Uint8Array([0, 1, 255, 2, 2, 0]); // 3×2
  assert.deepEqual([...colorize(label, 3, 2, pal, [10, 11, 12])], [1, 2, 3, 4, 5, 6, 10, 11, 12, 7, 8, 9, 7, 8, 9, 1, 2, 3]);
  assert.deepEqual([...colorize(new Uint8Array([255, 1]), 2, 1, pal)], [0, 0, 0, 4, 5, 6]); // default ignore = black
  assert.throws(() => colorize(new Uint8Array([0, 3]), 2, 1, pal), (e: unknown) => e instanceof DataError && /label 3 at pixel 1 has no palette entry; expected 0\.\.2 or 255/.test(e.message));
});

test('overlay: round((1 − α)·image + α·colour)', () => {
  const img = new Uint8Array([100, 0, 255]), col = new Uint8Array([200, 255, 0]);
  assert.deepEqual([...overlay(img, col)], [150, 128, 128]);        // 127.5 rounds up
  assert.deepEqual([...overlay(img, col, 0.25)], [125, 64, 191]);   // 75 + 50, 63.75, 191.25
  assert.deepEqual([...overlay(img, col, 0)], [100, 0, 255]);
  assert.deepEqual([...overlay(img, col, 1)], [200, 255, 0]);
  assert.throws(() => overlay(img, new Uint8Array(6)), DataError);
  assert.throws(() => overlay(img, col, 1.5), /alpha = 1.5/);
});

test('overlay: pixels of the cleared classes keep the image (a black background class does not darken the photo)', () => {
  const img = new Uint8Array([200, 100, 50, 200, 100, 50, 10, 20, 30]);  // 3×1
  const col = new Uint8Array([0, 0, 0, 100, 0, 200, 0, 0, 0]);            // background black, class 1, background
  const label = new Uint8Array([0, 1, 0]);
  assert.deepEqual([...overlay(img, col, 0.5, { label, classes: [0] })], [200, 100, 50, 150, 50, 125, 10, 20, 30]);
  assert.deepEqual([...overlay(img, col, 0.5, { label, classes: [] })], [100, 50, 25, 150, 50, 125, 5, 10, 15]);
  assert.throws(() => overlay(img, col, 0.5, { label: new Uint8Array(2), classes: [0] }), /label has 2 pixels but the image 3/);
});

test('colormap and heatmap: viridis endpoints, midpoint, clamping, NaN and min/max', () => {
  assert.deepEqual(colormap(0), [68, 1, 84]);
  assert.deepEqual(colormap(1), [253, 231, 37]);
  // t = 0.5 → halfway between stops 4 [38,130,142] and 5 [31,158,137]: 34.5, 144, 139.5 → rounded.
  assert.deepEqual(colormap(0.5), [35, 144, 140]);
  const hm = heatmap(new Float32Array([0, 1, NaN, -1, 2]), 5, 1);
  assert.deepEqual([...hm], [68, 1, 84, 253, 231, 37, 0, 0, 0, 68, 1, 84, 253, 231, 37]);
  // 0.5 goes through the 256-entry table: j = round(127.5) = 128, t = 128/255 → between stops 4 and 5 at f = 0.5176.
  assert.deepEqual([...heatmap(new Float32Array([0.5]), 1, 1)], [34, 144, 139]);
  assert.deepEqual([...heatmap(new Float32Array([0.25, 0.5]), 2, 1, { max: 0.5 })], [34, 144, 139, 253, 231, 37]);
  assert.equal(VIRIDIS.length, 10);
  assert.throws(() => heatmap(new Float32Array(1), 1, 1, { min: 1, max: 1 }), /max = 1 must be greater than min = 1/);
});

test('heatIndex and heatmapOfIndex: the indices heatmap draws through (0..255 on [min, max], 256 non-finite)', () => {
  assert.deepEqual([0, 0.05, 0.1, 2, -1, NaN, Infinity].map((v) => heatIndex(v, 0, 0.1)), [0, 128, 255, 255, 0, 256, 256]);
  const values = new Float32Array([0, 0.013, 0.05, 0.0999, 0.2, NaN]);
  const index = Uint16Array.from(values, (v) => heatIndex(v, 0, 0.1));
  assert.deepEqual(heatmapOfIndex(index, 3, 2), heatmap(values, 3, 2, { max: 0.1 }));
  assert.deepEqual([...heatmapOfIndex(Uint16Array.of(256), 1, 1, { nanColor: [1, 2, 3] })], [1, 2, 3]);
  assert.throws(() => heatmapOfIndex(Uint16Array.of(257), 1, 1), /heatmapOfIndex: index 257 at pixel 0; expected 0\.\.256/);
});

test('upscale: nearest-neighbour ×2 of a 2×1 RGB image', () => {
  const out = upscale(new Uint8Array([1, 2, 3, 4, 5, 6]), 2, 1, 3, 2);
  const row = [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6];
  assert.deepEqual([...out], [...row, ...row]);
});

test('dataUri: base64 of the PNG bytes', () => {
  const png = encodePng(new Uint8Array([9, 8, 7]), 1, 1);
  const uri = dataUri(png);
  assert.ok(uri.startsWith('data:image/png;base64,'));
  assert.deepEqual(new Uint8Array(Buffer.from(uri.slice(22), 'base64')), png);
});
