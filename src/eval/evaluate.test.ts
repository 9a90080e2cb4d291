// End to end against the PyTorch evaluation (tools/reference/eval_reference.py, CLAN_evaluate.py + CLAN_iou.py,
// docs/method.md §5.3–5.4): the fixed `micro` 19-class model of test/fixtures/eval/micro19.safetensors on the
// real Cityscapes fixture (../shared/fixtures/cityscapes, val, one 256×128 image) at input size 128×64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { HostTensor } from '../torch/dtype.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { loadFixture } from '../torch/torch.testing.js';
import { createSegmentor } from '../models/registry.js';
import type { DeepLabSegmentor } from '../models/deeplab.js';
import { openDataset } from '../data/registry.js';
import { decodePlane, readBytes } from '../data/image.js';
import { sharedFixtures } from '../data/data.testing.js';
import { evaluate, perClassMetrics, protocolClasses, confusionCounts, checkProtocol, type EvalResult, type Protocol } from './evaluate.js';
import type { Dataset } from '../data/dataset.js';
import { CITYSCAPES_CLASSES } from '../data/labels.js';
import { UsageError } from '../util/errors.js';
import { microModel, specOf, type InferExpected } from '../infer/infer.testing.js';
import { IoUMetric } from './metric.js';
import * as torch from '../torch/index.js';

interface Expected {
  image: string;
  eval_size: [number, number];   // [W, H] network input
  label_size: [number, number];  // [W, H] of the ground truth and prediction
  miou: number;
  per_class_iou: (number | null)[];
  pred_histogram: number[];
  confusion: number[][];         // [19][19], rows = gt, cols = prediction
}

const ex = loadFixture<Expected>('eval/expected.json');

function loadModel(): DeepLabSegmentor {
  const st = readSafetensorsFile(fixturePath('eval/micro19.safetensors')).tensors;
  const sd = new Map<string, HostTensor>([...st].filter(([k]) => k.startsWith('G.')).map(([k, v]) => [k.slice(2), v]));
  const G = createSegmentor('micro', 19);
  G.loadStateDict(sd, true, 'micro19.safetensors');
  return G;
}

/** nanmean of the reference per-class IoU over `classes` (NaN = null in the JSON). */
function refMean(classes: readonly number[]): number {
  const v = classes.map((c) => ex.per_class_iou[c]).filter((x): x is number => x !== null);
  return v.reduce((a, b) => a + b, 0) / v.length;
}

async function run(t: import('node:test').TestContext, G: DeepLabSegmentor, protocol: 19 | 16 | 13,
  onImage?: Parameters<typeof evaluate>[2]['onImage']): Promise<EvalResult | undefined> {
  const dir = sharedFixtures(t); if (!dir) return undefined;
  const ds = openDataset(`cityscapes:${join(dir, 'cityscapes')}:val`);
  return evaluate(G, ds, { size: ex.eval_size, protocol, onImage });
}

test('prediction, confusion, per-class IoU and mIoU equal the stored PyTorch evaluation', async (t) => {
  const G = loadModel();
  let pred: Uint8Array | undefined; let size: number[] = []; let name = '';
  const r = await run(t, G, 19, (n, p, w, h) => { pred = p.slice(); size = [w, h]; name = n; });
  G.dispose();
  if (!r) return;
  assert.equal(r.images, 1);
  assert.equal(name, ex.image);
  assert.deepEqual(size, ex.label_size, 'prediction at the full label size, not the input size');

  const ref = decodePlane(readBytes(fixturePath('eval/pred.png')), 'pred.png');
  assert.deepEqual([ref.width, ref.height], ex.label_size);
  let differ = 0;
  for (let i = 0; i < ref.data.length; i++) if (pred![i] !== ref.data[i]) differ++;
  // Measured: 0 of 32768 pixels differ (PIL-exact bicubic resize; min top-2 logit margin in the reference 5.4e-3).
  assert.equal(differ, 0, `${differ} of ${ref.data.length} predicted pixels differ from pred.png`);
  const hist = new Array<number>(19).fill(0);
  for (const p of pred!) hist[p]!++;
  assert.deepEqual(hist, ex.pred_histogram);
  assert.ok(hist.filter((c) => c > 0).length >= 5, 'the fixture model predicts several classes');

  assert.deepEqual([...r.confusion], ex.confusion.flat());
  for (let c = 0; c < 19; c++) {
    const want = ex.per_class_iou[c];
    if (want === null) assert.ok(Number.isNaN(r.iou[c]!), `class ${c}: expected NaN, got ${r.iou[c]}`);
    else assert.ok(Math.abs(r.iou[c]! - want) <= 1e-12, `class ${c}: ours ${r.iou[c]}, torch ${want}`);
  }
  assert.ok(Math.abs(r.miou - ex.miou) <= 1e-9, `mIoU ours ${r.miou}, torch ${ex.miou}`);
  assert.ok(ex.miou > 0.1 && ex.miou < 0.9, 'a non-trivial mIoU');
  // mmseg's Acc / mAcc / aAcc from the reference confusion: diag / gt pixels per class, their nan-mean, diag / all.
  const rows = ex.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const acc = rows.map((n, c) => (n === 0 ? NaN : ex.confusion[c]![c]! / n));
  assert.deepEqual([...r.acc], acc);
  const present = acc.filter((v) => !Number.isNaN(v));
  assert.ok(present.length >= 3 && present.length < 19, 'some classes absent from the ground truth');
  assert.ok(Math.abs(r.macc - present.reduce((a, b) => a + b, 0) / present.length) <= 1e-12);
  assert.ok(Math.abs(r.accuracy - ex.confusion.reduce((a, row, c) => a + row[c]!, 0) / rows.reduce((a, b) => a + b, 0)) <= 1e-12);
});

test('perClassMetrics lists every class in class order with IoU and Acc (null for NaN)', () => {
  const m = new IoUMetric(11);
  m.process(new Uint8Array([0, 0, 1, 2]), new Uint8Array([0, 1, 1, 2])); // background, then digit classes '0', '1'
  const names = ['background', ...Array.from({ length: 10 }, (_, d) => String(d))];
  const rows = perClassMetrics(m.compute(), names);
  assert.deepEqual(rows.map((x) => x.class), names);  // an object would list '0'…'9' before 'background'
  assert.deepEqual(rows.slice(0, 4), [
    { class: 'background', iou: 1 / 2, acc: 1 }, { class: '0', iou: 1 / 2, acc: 1 / 2 }, { class: '1', iou: 1, acc: 1 },
    { class: '2', iou: null, acc: null },
  ]);
});

test('protocols 16 and 13 average exactly the SYNTHIA subsets of the same confusion', async (t) => {
  const G = loadModel();
  const r16 = await run(t, G, 16);
  const r13 = await run(t, G, 13);
  G.dispose();
  if (!r16 || !r13) return;
  // §5.2 by hand: 16 = 19 minus terrain (9), truck (14), train (16); 13 = 16 minus wall (3), fence (4), pole (5).
  const s16 = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18];
  const s13 = [0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18];
  assert.deepEqual(r16.classes, s16);
  assert.deepEqual(r13.classes, s13);
  assert.deepEqual(protocolClasses(19, 19), Array.from({ length: 19 }, (_, i) => i));
  assert.deepEqual([...r16.confusion], ex.confusion.flat());
  assert.deepEqual([...r13.confusion], ex.confusion.flat());
  assert.ok(Math.abs(r16.miou - refMean(s16)) <= 1e-12, `16: ${r16.miou} vs ${refMean(s16)}`);
  assert.ok(Math.abs(r13.miou - refMean(s13)) <= 1e-12, `13: ${r13.miou} vs ${refMean(s13)}`);
  // In this fixture the classes 16 drops (terrain, truck, train) are NaN (never in gt nor predicted), so the
  // 16-class mean equals the 19-class one; 13 also drops fence (IoU 0) and pole (IoU > 0), which changes it.
  for (const c of [9, 14, 16]) assert.equal(ex.per_class_iou[c], null, `class ${c}`);
  assert.ok(Math.abs(r16.miou - ex.miou) <= 1e-12);
  assert.ok(ex.per_class_iou[4] === 0 && ex.per_class_iou[5]! > 0);
  assert.ok(Math.abs(r13.miou - r16.miou) > 1e-3, `13: ${r13.miou} vs 16: ${r16.miou}`);
});

test('evaluate() runs the model in eval mode and hands it back in the mode it had', async (t) => {
  const G = loadModel();
  const seen: boolean[] = [];
  G.train();
  const r = await run(t, G, 19, () => seen.push(G.training));
  if (!r) { G.dispose(); return; }
  assert.deepEqual(seen, [false], 'eval mode while predicting');
  assert.equal(G.training, true, 'a training model is back in train mode');
  G.eval();
  await run(t, G, 19);
  assert.equal(G.training, false, 'an eval-mode model stays in eval mode');
  G.dispose();
});

test('confusionCounts (the on-device confusion matrix) equals IoUMetric.process, ignore labels included', () => {
  const K = 5; const P = 4000;
  let s = 7;
  const rnd = () => { s = (s * 1103515245 + 12345) % 2 ** 31; return s / 2 ** 31; };
  const gt = Uint8Array.from({ length: P }, () => (rnd() < 0.1 ? 255 : rnd() < 0.05 ? K + 2 : Math.floor(rnd() * K)));
  const pred = Uint8Array.from({ length: P }, () => Math.floor(rnd() * K));
  const m = new IoUMetric(K);
  m.process(pred, gt);
  const counts = torch.tidy(() => confusionCounts(torch.fromTypedArray(gt, [P], 'uint8'), torch.fromTypedArray(pred, [P], 'uint8').to('int64'), K).toTypedArray<'int64'>());
  const m2 = new IoUMetric(K);
  m2.addCounts(counts);
  assert.deepEqual(Array.from(m2.hist), Array.from(m.hist));
  assert.ok(m.hist.reduce((a, b) => a + b, 0) < P * 0.9, 'ignored pixels were really dropped');
  assert.throws(() => m2.addCounts(new Float64Array(3)), /3 counts for 5 classes/);
});

test('evaluation memory is flat: 2000 more forward passes add no RSS (Node-API finalizers get their turn)', async () => {
  torch.setNumThreads(1);
  const G = createSegmentor('tiny-os4', 11);
  const ds = openDataset('digitscapes:val');
  await evaluate(G, ds, { size: [64, 64], limit: 300 }); // warm-up: allocator cache, code, first finalizer rounds
  const before = process.memoryUsage().rss;
  let images = 0;
  for (let k = 0; k < 4; k++) images += (await evaluate(G, ds, { size: [64, 64] })).images; // 4 × the 500 val images
  const grown = (process.memoryUsage().rss - before) / 2 ** 20;
  assert.equal(images, 2000);
  // Without the event-loop turn per image this grew by ~0.35 MB per image (~700 MB here).
  assert.ok(grown < 40, `RSS grew by ${grown.toFixed(1)} MB over 2000 images`);
  G.dispose();
});

test('evaluate with slide / multi-scale + flip / keep_ratio inference: the confusion and labels of the PyTorch twin', async (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const inf = loadFixture<InferExpected>('infer/expected.json');
  const G = microModel();
  try {
    const ds = openDataset(`cityscapes:${join(dir, 'cityscapes')}:val`);
    for (const c of inf.cases) {
      let pred: Uint8Array | undefined;
      const r = await evaluate(G, ds, { size: c.eval_size, inference: specOf(c), onImage: (_n, p) => { pred = p.slice(); } });
      assert.equal(r.images, 1);
      assert.deepEqual([...r.confusion], c.confusion.flat(), c.name);
      assert.deepEqual(pred, decodePlane(readBytes(fixturePath(`infer/${c.name}.png`)), c.name).data, c.name);
    }
    // the modes change the numbers (else this test would not tell them apart from the whole pass)
    assert.ok(inf.cases.every((c) => JSON.stringify(c.confusion) !== JSON.stringify(ex.confusion)));
  } finally { G.dispose(); }
});

test('protocols 16 / 13 on a dataset without the 19 Cityscapes classes: refused in one line before any image is read', async () => {
  const ds = openDataset('digitscapes:val');
  let loads = 0;
  const spy = Object.assign(Object.create(ds) as Dataset, { load: (i: number) => { loads++; return ds.load(i); } });
  const G = createSegmentor('micro', 11);
  try {
    for (const protocol of [16, 13] as const) {
      await assert.rejects(evaluate(G, spy, { size: [64, 64], protocol }), (e: Error) => e instanceof UsageError && e.message ===
        `--protocol ${protocol} averages a SYNTHIA subset of the 19 Cityscapes classes (road, sidewalk, building, …); ` +
        'dataset digitscapes:val has 11 other classes (background, 0, 1, 2, …): use --protocol all (all of its classes)');
    }
    assert.equal(loads, 0, 'nothing was read or run');
    assert.equal((await evaluate(G, spy, { size: [64, 64], protocol: 19, limit: 1 })).classes.length, 11, '19 = every class of any dataset');
    const d = await evaluate(G, spy, { size: [64, 64], limit: 1 });
    assert.deepEqual([d.protocol, d.classes.length], ['all', 11], 'the default: every class of the dataset');
  } finally { G.dispose(); }
  const named = (classNames: readonly string[]) => ({ spec: 'folder:x', numClasses: classNames.length, classNames });
  assert.doesNotThrow(() => checkProtocol(16, named(CITYSCAPES_CLASSES)));
  const other = CITYSCAPES_CLASSES.map((n, i) => (i === 18 ? 'cycle' : n));
  assert.throws(() => checkProtocol(13, named(other), '--select-protocol'), /^UsageError: --select-protocol 13 averages .* folder:x has 19 other classes \(road, sidewalk, building, wall, …\)/);
  assert.throws(() => checkProtocol(17 as unknown as Protocol, named(CITYSCAPES_CLASSES)), /^UsageError: --protocol expects all, 19, 16 or 13, got 17$/);
});
