import { test } from 'node:test';
import assert from 'node:assert/strict';
import { placeBand } from './bands.js';

test('placeBand: a band [H, bw] lands in its columns of [H, W], the other columns untouched', () => {
  const dst = new Uint16Array(3 * 5).fill(9);                  // [3, 5]
  placeBand(dst, Uint16Array.from([1, 2, 3, 4, 5, 6]), 5, 2, 4); // [3, 2] into columns 2..3
  assert.deepEqual([...dst], [9, 9, 1, 2, 9, 9, 9, 3, 4, 9, 9, 9, 5, 6, 9]);
  const whole = new Float32Array(4);
  placeBand(whole, Float32Array.from([0.5, 1.5, 2.5, 3.5]), 2, 0, 2); // the band is the whole map
  assert.deepEqual([...whole], [0.5, 1.5, 2.5, 3.5]);
});
