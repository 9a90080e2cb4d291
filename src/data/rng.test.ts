import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, deriveSeed, epochPermutation, sampleRng } from './rng.js';

test('xoshiro128** matches the reference algorithm from state (1, 2, 3, 4)', () => {
  // Values from an independent Python transcription of Blackman & Vigna's xoshiro128starstar.c.
  const r = Rng.fromState(1, 2, 3, 4);
  assert.deepEqual(Array.from({ length: 6 }, () => r.nextUint32()), [11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
});

test('same seed → same stream; streams of nearby seeds / epochs / indices differ', () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 8 }, () => a.nextUint32());
  assert.deepEqual(Array.from({ length: 8 }, () => b.nextUint32()), sa);
  assert.notDeepEqual(Array.from({ length: 8 }, () => c.nextUint32()), sa);
  const first = (r: Rng) => r.nextUint32();
  const seen = new Set([first(sampleRng(1, 0, 0)), first(sampleRng(1, 0, 1)), first(sampleRng(1, 1, 0)), first(sampleRng(2, 0, 0))]);
  assert.equal(seen.size, 4);
  assert.notEqual(deriveSeed(1, 2), deriveSeed(2, 1));
  assert.equal(deriveSeed(2 ** 40 + 5), deriveSeed(2 ** 40 + 5));
  assert.notEqual(deriveSeed(2 ** 40 + 5), deriveSeed(5));
  assert.throws(() => deriveSeed(0.5), /safe integers/);
});

test('next() in [0, 1) with mean ≈ 1/2; int(n) in range and roughly uniform', () => {
  const r = new Rng(7);
  let sum = 0; const n = 50000; const bins = new Array(10).fill(0) as number[];
  for (let i = 0; i < n; i++) { const x = r.next(); assert.ok(x >= 0 && x < 1); sum += x; bins[r.int(10)]!++; }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01);
  for (const b of bins) assert.ok(Math.abs(b / n - 0.1) < 0.01, `bin ${b}`);
  assert.throws(() => r.int(0), /n must be/);
});

test('epochPermutation is a permutation, reproducible, different per epoch', () => {
  const p0 = epochPermutation(3, 0, 100), p1 = epochPermutation(3, 1, 100);
  assert.deepEqual([...p0].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(epochPermutation(3, 0, 100), p0);
  assert.notDeepEqual(p0, p1);
});
