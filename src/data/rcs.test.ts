// Rare-class sampling (DAFormer's uda_dataset.py) on a 4-image dataset with hand-counted classes: the per-class
// probabilities softmax((1 − f)/T), the pools and their size threshold, the cache (counted once, a progress line),
// and the loader's draws: deterministic per stream position, resumed exactly, with the expected frequencies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset, RawSample } from './dataset.js';
import { cachedClassStats, computeClassStats, rcsDraw, rcsTable, RCS_PAPER_PIXELS } from './rcs.js';
import { rcsRng } from './rng.js';
import { Loader } from './loader.js';

// 10×10 labels, K = 3: image 0 has 90 px of class 0 and 10 of class 1; image 1 100 of class 0; image 2 70 of class 0
// and 30 of class 2; image 3 95 of class 0 and 5 ignored (255). Totals 355, 10, 30 of 395 labelled pixels.
const LABELS: [number, number][][] = [[[0, 90], [1, 10]], [[0, 100]], [[0, 70], [2, 30]], [[0, 95], [255, 5]]];
function tinyDataset(loads: { n: number }): Dataset {
  const load = (i: number): RawSample => {
    loads.n++;
    const data = new Uint8Array(LABELS[i]!.flatMap(([c, n]) => Array<number>(n).fill(c)));
    return { index: i, name: `img${i}`, image: { width: 10, height: 10, data: new Uint8Array(300).fill(i * 40) }, label: { width: 10, height: 10, data } };
  };
  return { desc: { type: 'test' }, spec: 'test:tiny', length: 4, numClasses: 3, classNames: ['a', 'b', 'c'], hasLabels: true,
    name: (i) => `img${i}`, load };
}

test('class probabilities softmax((1 − f)/T) over the classes present, rarest first; pools above the scaled threshold', () => {
  const stats = computeClassStats(tinyDataset({ n: 0 }), () => {});
  assert.deepEqual(stats.samples.map((s) => s.classes), [{ 0: 90, 1: 10 }, { 0: 100 }, { 0: 70, 2: 30 }, { 0: 95 }]);
  const t = rcsTable(stats, 0.1, 0);
  assert.deepEqual(t.classes, [1, 2, 0]);
  // logits (1 − f)/0.1: class 1 − class 2 = (30 − 10)/395/0.1 = 0.506329…, class 1 − class 0 = (355 − 10)/395/0.1 = 8.734177…
  const [a, b] = [Math.exp(-20 / 39.5), Math.exp(-345 / 39.5)];
  const z = 1 + a + b;
  [1 / z, a / z, b / z].forEach((p, k) => assert.ok(Math.abs(t.probs[k]! - p) < 1e-12, `class ${t.classes[k]}: ${t.probs[k]} vs ${p}`));
  assert.ok(Math.abs(t.probs[0]! - 0.623883) < 1e-6 && Math.abs(t.probs[1]! - 0.376017) < 1e-6 && Math.abs(t.probs[2]! - 1.00438e-4) < 1e-9, t.probs.join(' '));
  assert.deepEqual(t.pools, [[0], [2], [0, 1, 2, 3]]);
  // 3000 px at 1914×1052 is 3000·100/2013528 ≈ 0.149 px of a 10×10 label; 20 px there needs minPixels = 20·2013528/100:
  // class 1 (10 px) loses its only image and drops out, class 2 (30 px) keeps image 2, class 0 keeps all four
  const t20 = rcsTable(stats, 0.1, 20 * RCS_PAPER_PIXELS / 100);
  assert.deepEqual([t20.classes, t20.pools], [[2, 0], [[2], [0, 1, 2, 3]]]);
  assert.ok(Math.abs(t20.probs[0]! - 1 / (1 + Math.exp(-325 / 39.5))) < 1e-12, 'renormalised over the classes kept');
  assert.throws(() => rcsTable(stats, 0.1, 101 * RCS_PAPER_PIXELS / 100), /no class of test:tiny covers more than/);
});

test('draws follow the probabilities, from (seed, position) only', () => {
  const t = rcsTable(computeClassStats(tinyDataset({ n: 0 }), () => {}), 0.1, 0);
  const counts = new Map<number, number>();
  const n = 20000;
  for (let g = 0; g < n; g++) {
    const d = rcsDraw(t, rcsRng(7, g));
    counts.set(d.cls, (counts.get(d.cls) ?? 0) + 1);
    assert.ok(t.pools[t.classes.indexOf(d.cls)]!.includes(d.index));
  }
  t.classes.forEach((c, k) => assert.ok(Math.abs((counts.get(c) ?? 0) / n - t.probs[k]!) < 0.01, `class ${c}: ${(counts.get(c) ?? 0) / n} vs ${t.probs[k]}`));
  assert.deepEqual(rcsDraw(t, rcsRng(7, 123)), rcsDraw(t, rcsRng(7, 123)));
});

test('statistics are counted once per dataset (a progress line) and read back from the cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-rcs-'));
  try {
    const loads = { n: 0 }; const lines: string[] = [];
    const a = cachedClassStats(tinyDataset(loads), dir, (l) => lines.push(l));
    assert.equal(loads.n, 4);
    assert.ok(lines.some((l) => l.includes('class statistics of test:tiny: 4/4 labels')), lines.join('\n'));
    assert.equal(readdirSync(dir).filter((f) => f.startsWith('class-stats-')).length, 1);
    const b = cachedClassStats(tinyDataset(loads), dir, () => {});
    assert.equal(loads.n, 4, 'the second run reads the cache');
    assert.deepEqual(b, a);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('the loader draws each position\'s sample by class, deterministic and resumed exactly', async () => {
  const t = rcsTable(computeClassStats(tinyDataset({ n: 0 }), () => {}), 0.1, 0);
  const opts = { dataset: tinyDataset({ n: 0 }), transform: { size: [10, 10] as const }, seed: 3, batchSize: 2, rareClass: t };
  const take = async (l: Loader, k: number) => {
    const out: number[] = [];
    for (let i = 0; i < k; i++) out.push(...(await l.next())!.indices);
    return out;
  };
  const full = new Loader(opts);
  const all = await take(full, 6);
  assert.deepEqual(all, Array.from({ length: 12 }, (_, g) => rcsDraw(t, rcsRng(3, g)).index));
  const resumed = new Loader({ ...opts, startAt: 6 });
  assert.deepEqual(await take(resumed, 3), all.slice(6));
  await full.close(); await resumed.close();
});
