// Rare-class sampling (DAFormer's uda_dataset.py) on a 4-image dataset with hand-counted classes: the per-class
// probabilities softmax((1 − f)/T), the pools and their size threshold, the cache (counted once, a progress line),
// and the loader's draws: deterministic per stream position, resumed exactly, with the expected frequencies; then the
// tables of the digitscapes source labels and the GTA5 fixture against the PyTorch twin (tools/reference/rcs_parity.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset, RawSample } from './dataset.js';
import { cachedClassStats, computeClassStats, rcsDraw, rcsTable, RCS_PAPER_PIXELS } from './rcs.js';
import { rcsRng } from './rng.js';
import { Loader } from './loader.js';
import { openDataset } from './registry.js';
import { sharedFixtures } from './data.testing.js';
import { fixturePath } from '../util/paths.js';

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

// tools/reference/rcs_parity.py: DAFormer's gta.py statistics and uda_dataset.py table (torch float32 softmax).
interface TwinTable {
  classes: number[]; probs: number[]; probs64: number[]; pools: number[][]; labels: number; stats?: Record<string, number>;
}
type Twin = { temperature: number; min_pixels: number; digitscapes: TwinTable; gta5: TwinTable };
const twin = JSON.parse(readFileSync(fixturePath('rcs/expected.json'), 'utf8')) as Twin;
const sameTable = (ours: ReturnType<typeof rcsTable>, want: TwinTable) => {
  assert.deepEqual(ours.classes, want.classes, 'class order (rarest first)');
  // the twin's float64 softmax to rounding; DAFormer's own float32 one to its precision (logits near 1/T = 100: ulp 7.6e-6)
  ours.probs.forEach((p, k) => {
    assert.ok(Math.abs(p - want.probs64[k]!) <= 1e-12 * want.probs64[k]!, `p of class ${ours.classes[k]}: ${p} vs ${want.probs64[k]} (float64)`);
    assert.ok(Math.abs(p - want.probs[k]!) <= 2e-5 * want.probs[k]! + 1e-38, `p of class ${ours.classes[k]}: ${p} vs ${want.probs[k]} (float32)`);
  });
  assert.deepEqual(ours.pools, want.pools, 'pools');
};

test('the table of the 2000 digitscapes source labels is the PyTorch twin\'s (classes, float32 softmax, pools at 3000 px scaled to 64×64)', () => {
  const stats = computeClassStats(openDataset('digitscapes:source'), () => {});
  assert.equal(stats.samples.length, twin.digitscapes.labels);
  sameTable(rcsTable(stats, twin.temperature, twin.min_pixels), twin.digitscapes);
});

test('the GTA5 label (P-mode PNG, 1914×1052): gta.py\'s train-id counts and the table at DAFormer\'s unscaled 3000 px', (t) => {
  const dir = sharedFixtures(t);
  if (!dir) return;
  const stats = computeClassStats(openDataset(`gta5:${join(dir, 'gta5')}`), () => {});
  assert.equal(stats.samples[0]!.pixels, RCS_PAPER_PIXELS);
  assert.deepEqual(stats.samples[0]!.classes, twin.gta5.stats);
  const table = rcsTable(stats, twin.temperature, twin.min_pixels);
  // a class at ≤ 3000 px has an empty pool: the twin keeps it (DAFormer would assert), ours leaves it out
  const kept = twin.gta5.pools.map((p) => p.length > 0);
  const z = twin.gta5.probs.filter((_, k) => kept[k]).reduce((a, b) => a + b, 0);
  const z64 = twin.gta5.probs64.filter((_, k) => kept[k]).reduce((a, b) => a + b, 0);
  assert.ok(kept.some((k) => !k), 'the fixture has a class under the threshold');
  sameTable(table, { ...twin.gta5, classes: twin.gta5.classes.filter((_, k) => kept[k]),
    probs: twin.gta5.probs.filter((_, k) => kept[k]).map((p) => p / z),
    probs64: twin.gta5.probs64.filter((_, k) => kept[k]).map((p) => p / z64),
    pools: twin.gta5.pools.filter((p) => p.length > 0) });
});
