// Pseudo-labels of a self-training round: class-balanced thresholds (hand-computed), the stacked two-map layout
// (C1's labels from C2's view and C2's from C1's, recomputed here from the heads), the kept share per class, the
// pseudo dataset reading them back, and flips keeping both maps aligned in the loader.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { predictHeads } from '../models/segmentor.js';
import { openDataset } from '../data/registry.js';
import { preprocess } from '../data/transforms.js';
import { Loader } from '../data/loader.js';
import { pseudoLabelFile } from '../data/pseudo.js';
import { DataError } from '../util/errors.js';
import { loadInferenceModel, type InferenceModel } from '../infer/model.js';
import { resolveConfig } from '../config/load.js';
import { train } from './trainer.js';
import { binEdge, binOf, classThresholds, keep, makePseudoLabels, type PseudoStats } from './pseudo.js';

test('confidence bins: uniform in −log10(1 − conf) over 7 decades; thresholds keep at least p of each class', () => {
  assert.deepEqual([0, 0.5, 0.9, 0.99, 0.999, 1 - 1e-7, 1].map(binOf), [0, 43, 142, 285, 428, 999, 999]); // 1000·u/7, floored
  assert.ok(Math.abs(binEdge(285) - (1 - 10 ** -1.995)) < 1e-12);
  const K = 3, hist = new Float64Array(K * 1000);
  hist[0 * 1000 + 900] = 3; hist[0 * 1000 + 500] = 1;           // class 0: 3 pixels in bin 900, 1 in bin 500
  hist[2 * 1000 + 999] = 1; hist[2 * 1000 + 100] = 9;           // class 2: 1 in bin 999, 9 in bin 100
  assert.deepEqual(classThresholds(hist, K, 0.5), [900, null, 100]); // class 2: the top 1 of 10 < 5 → down to bin 100
  assert.deepEqual(classThresholds(hist, K, 0.1), [900, null, 999]);
  assert.deepEqual(classThresholds(hist, K, 1), [500, null, 100]);
  const v = { conf: Float32Array.from([0.5, 0.999, 0.9999, 0.2]), cls: Uint8Array.from([0, 0, 2, 1]) };
  assert.deepEqual(Array.from(keep(v, [binOf(0.999), null, binOf(0.99999)])), [255, 0, 255, 255]);
});

let ckpt = '';
const root = mkdtempSync(join(tmpdir(), 'clan-pseudo-run-'));
after(() => rmSync(root, { recursive: true, force: true }));
/** A briefly trained network: a random one predicts one class everywhere at one confidence. */
async function model(): Promise<InferenceModel> {
  if (!ckpt) {
    const config = resolveConfig({ preset: 'cpu', flags: { method: 'source-only', backbone: 'micro', iters: 40, threads: 1, checkpointEvery: 40, tensorboard: false, targetVal: undefined } });
    ckpt = (await train({ config, outDir: join(root, 'run'), log: () => {} })).checkpoint;
  }
  return loadInferenceModel(ckpt);
}

test('makePseudoLabels: co-training halves come from the other head, p of each class kept, read back by pseudo:DIR', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-pseudo-'));
  const m = await model();
  t.after(() => { m.G.dispose(); rmSync(dir, { recursive: true, force: true }); });
  const target = 'digitscapes:target,n=12';
  const stats: PseudoStats = await makePseudoLabels(m, { target, size: [64, 64], portion: 0.3, variant: 'cotrain', round: 1, dir: join(dir, 'p'),
    val: { spec: 'digitscapes:val,n=4', size: [64, 64] } });
  assert.equal(stats.thresholds.length, 2);
  // Recompute image 5's views from the heads: the top half (for C1) is C2's confident argmax, the bottom C1's.
  const ds = openDataset(target, { labels: 'none' });
  const x = preprocess(ds.load(5), { size: [64, 64], normalize: 'caffe' }, { scale: 1, flip: false }).image;
  const [v1, v2] = torch.tidy(() => {
    const { x1, x2 } = predictHeads(m.G, torch.fromTypedArray(x, [1, 3, 64, 64]), [64, 64]);
    return [x1, x2].map((l) => { const [c, k] = F.softmax(l, 1).maxDim(1); return { conf: c.toTypedArray<'float32'>(), cls: k.to('uint8').toTypedArray<'uint8'>() }; });
  });
  const pd = openDataset(`pseudo:${join(dir, 'p')}`);
  assert.equal(pd.length, 12);
  const lab = pd.load(5).label!;
  assert.deepEqual([lab.width, lab.height], [64, 128]);
  const expectHalf = (v: { conf: Float32Array; cls: Uint8Array }, tau: (number | null)[]) => Array.from(v.cls, (c, i) => {
    const t = tau[c];
    return t !== null && t !== undefined && v.conf[i]! >= t - 1e-12 ? c : 255; // τ is the lower edge of the threshold bin
  });
  assert.deepEqual(Array.from(lab.data.subarray(0, 4096)), expectHalf(v2!, stats.thresholds[1]!), 'top half: C2\'s view, C2\'s thresholds');
  assert.deepEqual(Array.from(lab.data.subarray(4096)), expectHalf(v1!, stats.thresholds[0]!), 'bottom half: C1\'s view');
  // Each half keeps at least p of every class its view predicts (ties in the threshold's bin may add more).
  assert.ok(stats.keptShare >= 0.3 && stats.keptShare < 0.6, `kept ${stats.keptShare}`);
  assert.ok(stats.val !== null && stats.val.coverage > 0 && stats.val.coverage < 1);
  assert.equal(JSON.parse(readFileSync(join(dir, 'p', 'stats.json'), 'utf8')).round, 1);
  // A missing label file: one DataError naming it.
  rmSync(pseudoLabelFile(join(dir, 'p'), 7));
  assert.throws(() => openDataset(`pseudo:${join(dir, 'p')}`), (e: unknown) => e instanceof DataError && /000007\.png: is missing/.test((e as Error).message));
});

test('pseudo dataset through the loader: a flip mirrors both stacked maps in place (labels stay aligned with the image)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-pseudo-flip-'));
  const m = await model();
  t.after(() => { m.G.dispose(); rmSync(dir, { recursive: true, force: true }); });
  await makePseudoLabels(m, { target: 'digitscapes:target,n=12', size: [64, 64], portion: 0.5, variant: 'plain', round: 1, dir });
  const ds = openDataset(`pseudo:${dir}`);
  const raw = ds.load(0).label!.data;
  assert.deepEqual(Array.from(raw.subarray(0, 4096)), Array.from(raw.subarray(4096)), 'plain: the same labels for both heads');
  const loader = new Loader({ dataset: ds, seed: 0, shuffle: false, epochs: 1, transform: { size: [64, 64], flip: true, labelSize: 'native' } });
  let checked = 0;
  for (let b = await loader.next(); b; b = await loader.next()) {
    const want = ds.load(b.indices[0]!).label!.data;
    const flipped = b.augments[0]!.flip;
    for (let y = 0; y < 128; y++) for (let x = 0; x < 64; x++) assert.equal(b.labels![y * 64 + x], want[y * 64 + (flipped ? 63 - x : x)]);
    checked += flipped ? 1 : 0;
  }
  await loader.close();
  assert.ok(checked >= 1, 'at least one flipped sample');
});
