import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ema, reportCharts, sansTextWidth, scopeSvgIds, type Chart } from './charts.js';
import { seriesMarks, syntheticReport } from './report.testing.js';
import type { ReportData } from './types.js';

const byId = (cs: Chart[]) => new Map(cs.map((c) => [c.id, c]));

test('ema: debiased exponential moving average (hand-computed)', () => {
  // β = 0.5: s1 = 0.5·1 → 0.5/0.5 = 1; s2 = 0.25 + 0.5·2 = 1.25 → 1.25/0.75 = 5/3.
  const [a, b] = ema([1, 2], 0.5);
  assert.equal(a, 1);
  assert.ok(Math.abs(b! - 5 / 3) < 1e-12);
});

test('sansTextWidth and scopeSvgIds', () => {
  assert.equal(sansTextWidth('il', 10), 7);     // 2 × 0.34 em
  assert.equal(sansTextWidth('M0a', 10), 22);   // 0.9 + 0.66 + 0.6 = 2.16 em
  assert.equal(scopeSvgIds('<clipPath id="clip3"/><g clip-path="url(#clip3)"/>', 'c-x'), '<clipPath id="c-x-clip3"/><g clip-path="url(#c-x-clip3)"/>');
});

test('reportCharts: one mark or more per series; a method without a loss is no series of that chart', async () => {
  const charts = byId(await reportCharts(syntheticReport({ samples: 0 })));
  assert.deepEqual([...charts.keys()], ['loss-seg', 'loss-adv', 'loss-weight', 'loss-d_s', 'loss-d_t', 'disagreement', 'lr', 'miou', 'per-class', 'confusion']);
  const all = ['Source only', 'Adversarial (AdaptSegNet)', 'CLAN'];
  assert.deepEqual(charts.get('loss-seg')!.series, all);
  assert.deepEqual(charts.get('loss-adv')!.series, all.slice(1));
  assert.deepEqual(charts.get('loss-weight')!.series, ['CLAN']);
  assert.deepEqual(charts.get('loss-d_t')!.series, all.slice(1));
  assert.deepEqual(charts.get('disagreement')!.series, all.slice(1));
  assert.deepEqual(charts.get('lr')!.series, ['all methods']); // one shared schedule
  assert.deepEqual(charts.get('miou')!.series, all);
  assert.deepEqual(charts.get('confusion')!.series, ['CLAN']);
  for (const c of charts.values()) {
    assert.ok(c.svg.startsWith('<svg'), c.id);
    for (const s of c.series) assert.ok(seriesMarks(c.svg, s) >= 1, `${c.id}: no mark for series ${s}`);
  }
  // M on a log axis: decade ticks (0.001, 0.01) rather than a linear 0…0.02 axis where late values look flat.
  const mSvg = charts.get('disagreement')!.svg;
  assert.match(mSvg, /log scale/);
  assert.match(mSvg, />0\.01</);
  assert.ok(!/>0\.015</.test(mSvg), 'a linear tick on the M axis');
  // Loss lines: a raw and a smoothed path per series (300 points ≥ 30).
  assert.equal(seriesMarks(charts.get('loss-seg')!.svg, 'CLAN'), 2);
  assert.equal(seriesMarks(charts.get('loss-adv')!.svg, 'Source only'), 0);
  // Per-class bars: 'train' is null (absent) for every method → 18 bars per method.
  for (const s of all) assert.equal(seriesMarks(charts.get('per-class')!.svg, s), 18);
  // Confusion: the 'train' row has no pixels → 18 rows × 19 cells.
  assert.equal(seriesMarks(charts.get('confusion')!.svg, 'CLAN'), 18 * 19);
  // Target mIoU, three seeds: a thin line per seed, the mean line and its 12 points (checkpoints every 250 of 3000).
  const miou = charts.get('miou')!.svg;
  assert.equal(seriesMarks(miou, 'CLAN'), 3 + 1 + 12);
  const clan = syntheticReport({ samples: 0 }).methods[2]!.evals.filter((e) => e.step === 3000);
  const mean = (100 * clan.reduce((a, e) => a + e.miou, 0)) / 3;
  assert.ok(miou.includes(`aria-label="CLAN · mean · step 3000: ${mean.toFixed(2)}%"`), `mean ${mean.toFixed(2)} at step 3000`);
  assert.ok(miou.includes(`aria-label="CLAN · seed 2 · step 250: `));
  const oneSeed = { ...syntheticReport({ samples: 0 }), confusion: undefined };
  oneSeed.methods = oneSeed.methods.map((m) => ({ ...m, evals: m.evals.filter((e) => e.seed === 0) }));
  assert.equal(seriesMarks(byId(await reportCharts(oneSeed)).get('miou')!.svg, 'CLAN'), 1 + 12, 'one seed: one line with points');
  // The ids of all SVGs are distinct once scoped (they share one HTML document).
  const ids = [...charts.values()].flatMap((c) => [...c.svg.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
  assert.equal(new Set(ids).size, ids.length);
});

test('reportCharts: source-only alone has no adversarial charts; different schedules are separate lr series', async () => {
  const d = syntheticReport({ samples: 0, iters: 400 });
  const only: ReportData = { ...d, methods: [d.methods[0]!], confusion: undefined };
  const charts = byId(await reportCharts(only));
  assert.deepEqual([...charts.keys()], ['loss-seg', 'lr', 'miou', 'per-class']);
  assert.deepEqual(charts.get('lr')!.series, ['Source only']);
  // 40 logged rows: raw and smoothed lines.
  assert.equal(seriesMarks(charts.get('loss-seg')!.svg, 'Source only'), 2);

  const two: ReportData = { ...only,
    methods: [d.methods[0]!, { ...d.methods[2]!, metrics: d.methods[2]!.metrics.map((r) => ({ ...r, lr: r.lr * 2 })) }] };
  const lr = byId(await reportCharts(two)).get('lr')!;
  assert.deepEqual(lr.series, ['Source only', 'CLAN']);
  for (const s of lr.series) assert.equal(seriesMarks(lr.svg, s), 1);
});

test('reportCharts: non-finite losses are dropped, an all-NaN loss makes no series', async () => {
  const d = syntheticReport({ samples: 0, iters: 200 });
  const clan = d.methods[2]!;
  const broken = { ...clan, metrics: clan.metrics.map((r, i) => ({ ...r, weight: Number.NaN, seg: i === 3 ? Number.NaN : r.seg })) };
  const charts = byId(await reportCharts({ ...d, methods: [d.methods[0]!, broken], confusion: undefined }));
  assert.equal(charts.has('loss-weight'), false);
  assert.equal(seriesMarks(charts.get('loss-seg')!.svg, 'CLAN'), 1); // 19 points < 30: raw line only
  assert.ok(!charts.get('loss-seg')!.svg.includes('NaN'));
});
