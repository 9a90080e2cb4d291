// The public facade against the code it wraps: train(spec, { onStep }) runs the config resolveConfig gives and
// reports each step as metrics.jsonl logs it; a loaded model predicts as predictImage does (from pixels, RGBA
// pixels or a PNG file) and evaluates as evaluate(G, …) does; errors are one-line ClanErrors; dispose frees it all.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';
import { encode as encodePng } from 'fast-png';
import * as torch from './torch/index.js';
import { evaluate, loadModel, openDataset, train, type StepInfo } from './api.js';
import { resolveConfig } from './config/load.js';
import { forMethod } from './config/hyper.js';
import { evaluate as evaluateSegmentor } from './eval/evaluate.js';
import { loadInferenceModel } from './infer/model.js';
import { predictImage } from './infer/predict.js';
import { createSegmentor } from './models/registry.js';
import { writeSafetensorsFile } from './io/safetensors.js';
import { sealedMetadata } from './io/checkpoint.js';
import type { HostTensor } from './torch/dtype.js';
import { DIGITSCAPES_CLASSES, DIGITSCAPES_PALETTE } from './data/digitscapes.js';
import { ClanError, ConfigError, DataError, UsageError } from './util/errors.js';
import { Interrupted } from './train/interrupted.js';

// A seconds-long run: the cpu preset on the micro backbone.
const FLAGS = { backbone: 'micro', iters: 3, batchSize: 2, threads: 1, checkpointEvery: 3, logEvery: 1000,
  targetVal: { limit: 2 }, hyper: { warmup: 1, clan: { preheat: 1 }, adversarial: { ndf: 8 } } } as const;
const quiet = { log: () => {} };

/** An error that is `cls`, one line, matching `re`. */
const oneLine = (cls: new (...a: never[]) => Error, re: RegExp) => (e: unknown) =>
  e instanceof cls && !(e as Error).message.includes('\n') && re.test((e as Error).message);

let shared: { root: string; checkpoint: string } | null = null;
after(() => { if (shared) rmSync(shared.root, { recursive: true, force: true }); });
/** One facade run shared by the tests below (its checkpoint is what they load). */
async function trained(): Promise<{ root: string; checkpoint: string; steps: StepInfo[] }> {
  const root = mkdtempSync(join(tmpdir(), 'clan-api-'));
  const steps: StepInfo[] = [];
  const r = await train({ extends: 'cpu', ...FLAGS }, { outDir: join(root, 'run'), onStep: (s) => steps.push(s), ...quiet });
  shared = { root, checkpoint: r.checkpoint };
  return { root, checkpoint: r.checkpoint, steps };
}

test('train(spec, { onStep }): the config resolveConfig gives, each step as metrics.jsonl has it; the old form still works', async () => {
  const { root, checkpoint, steps } = await trained();
  const out = join(root, 'run');
  const want = forMethod(resolveConfig({ preset: 'cpu', flags: FLAGS })); // the run keeps the sections its method reads
  assert.deepEqual(YAML.parse(readFileSync(join(out, 'config.yaml'), 'utf8')), JSON.parse(JSON.stringify(want)));
  const logged = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, number>).filter((o) => o.seg !== undefined);
  assert.deepEqual(steps.map((s) => [s.step, s.iters]), [[1, 3], [2, 3], [3, 3]]);
  for (const [i, s] of steps.entries()) {
    const row = logged[i]!;
    assert.deepEqual(s.losses, { seg: row.seg, adv: row.adv, weight: row.weight, d_s: row.d_s, d_t: row.d_t }, `step ${s.step} losses`);
    assert.equal(s.lr, row.lr);
    assert.equal(s.m, row.m);
    assert.ok(s.seconds >= 0);
  }
  assert.match(checkpoint, /ckpt_0+3\.safetensors$/);

  // The form the package root exported before the facade: a resolved config in TrainOptions.
  const old = await train({ config: resolveConfig({ preset: 'cpu', flags: { ...FLAGS, iters: 1 } }), outDir: join(root, 'old'), ...quiet });
  assert.equal(old.step, 1);
  // A resolved config passed as the spec is taken as it is.
  const again = await train(want, { outDir: join(root, 'again'), ...quiet });
  assert.equal(again.finalEval!.miou, finalMiou(out), 'same config, same seed: the same final mIoU');
});

test('train: an AbortSignal stops the run as Ctrl-C does (checkpoint at that step, Interrupted)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'clan-api-abort-'));
  try {
    const ac = new AbortController();
    const before = torch.memoryStats().live;
    await assert.rejects(train({ extends: 'cpu', ...FLAGS, iters: 50, checkpointEvery: 50 }, { outDir: join(root, 'run'), signal: ac.signal,
      onStep: (s) => { if (s.step === 2) ac.abort(); }, ...quiet }),
    (e: unknown) => e instanceof Interrupted && /interrupted at step 3; checkpoint .*ckpt_0000003\.safetensors/.test((e as Error).message));
    assert.equal(torch.memoryStats().live, before, 'an interrupted run frees G, D and the optimizers at once (not at GC)');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** The final evaluation's mIoU in a run's metrics.jsonl. */
function finalMiou(out: string): number {
  const evals = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { eval?: { miou: number } }).filter((o) => o.eval);
  return evals[evals.length - 1]!.eval!.miou;
}

test('train: unknown presets, keys and a missing run folder are one-line errors', async () => {
  await assert.rejects(train('cpuu', { outDir: join(tmpdir(), 'never') }), oneLine(ConfigError, /unknown preset 'cpuu'.*did you mean 'cpu'/));
  await assert.rejects(train({ extends: 'cpu', itres: 5 } as never, { outDir: join(tmpdir(), 'never') }), oneLine(ConfigError, /unknown key 'itres'/));
  await assert.rejects(train({ iters: 5 } as never, { outDir: join(tmpdir(), 'never') }), oneLine(ConfigError, /'source' is required/));
  await assert.rejects((train as (c: unknown) => Promise<unknown>)('cpu'), oneLine(UsageError, /give the run folder as the second argument/));
});

test('loadModel: what the checkpoint says; predict = predictImage, from pixels, RGBA pixels or a PNG file', async (t) => {
  const ckpt = shared?.checkpoint ?? (await trained()).checkpoint;
  const live0 = torch.memoryStats().live;
  const model = await loadModel(ckpt);
  assert.deepEqual([model.checkpoint, model.backbone, model.numClasses, model.step, model.device], [ckpt, 'micro', 11, 3, 'cpu']);
  assert.deepEqual([model.classNames, model.palette, model.evalSize], [DIGITSCAPES_CLASSES, DIGITSCAPES_PALETTE, [64, 64]]);

  const sample = openDataset('digitscapes:val').load(3);
  const ref = loadInferenceModel(ckpt);
  const want = predictImage(ref, sample.image);
  ref.G.dispose();
  const got = await model.predict(sample.image);
  assert.deepEqual([got.width, got.height], [64, 64]);
  assert.deepEqual(got.label, want.label);
  assert.deepEqual(got.disagreement, want.disagreement);

  const n = 64 * 64;
  const rgba = new Uint8ClampedArray(4 * n);
  for (let i = 0; i < n; i++) { rgba.set(sample.image.data.subarray(3 * i, 3 * i + 3), 4 * i); rgba[4 * i + 3] = 7; }
  assert.deepEqual((await model.predict({ data: rgba, width: 64, height: 64 })).label, want.label, 'alpha is dropped');
  const dir = mkdtempSync(join(tmpdir(), 'clan-api-png-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const png = join(dir, 'scene.png');
  writeFileSync(png, encodePng({ width: 64, height: 64, data: sample.image.data, channels: 3, depth: 8 }));
  assert.deepEqual((await model.predict(png)).label, want.label, 'a PNG file of the same pixels');

  await assert.rejects(model.predict({ data: new Uint8Array(10), width: 64, height: 64 }),
    oneLine(DataError, /^predict: image data holds 10 bytes; a 64x64 image needs 12288 \(RGB\) or 16384 \(RGBA\)$/));
  await assert.rejects(model.predict({ data: new Uint8Array(0), width: 0, height: 64 }), oneLine(DataError, /width and height must be positive integers, got 0x64/));
  await assert.rejects(model.predict(join(dir, 'missing.png')), oneLine(DataError, /missing\.png: cannot read/));

  model.dispose();
  model[Symbol.dispose](); // a second dispose is harmless
  assert.equal(torch.memoryStats().live, live0, 'dispose frees every tensor the model held');
  await assert.rejects(model.predict(sample.image), oneLine(ClanError, /^the model of .*ckpt_0+3\.safetensors was disposed$/));
});

test('evaluate(model, dataset) = evaluate(G, …) with the checkpoint\'s size and normalisation, per class in class order', async (t) => {
  const ckpt = shared?.checkpoint ?? (await trained()).checkpoint;
  const model = await loadModel(ckpt);
  t.after(() => model.dispose());
  const r = await evaluate(model, 'digitscapes:val', { limit: 3 });
  const ref = loadInferenceModel(ckpt);
  const want = await evaluateSegmentor(ref.G, openDataset('digitscapes:val'), { size: ref.evalSize, normalize: ref.normalize, limit: 3 });
  ref.G.dispose();
  assert.equal(r.images, 3);
  assert.equal(r.miou, want.miou);
  assert.deepEqual(r.iou, want.iou);
  assert.deepEqual(r.confusion, want.confusion);
  assert.deepEqual(r.perClass.map((c) => c.class), DIGITSCAPES_CLASSES, "class order kept ('0'…'9' after 'background')");
  assert.deepEqual(r.perClass.map((c) => c.iou), Array.from(want.iou, (v) => (Number.isNaN(v) ? null : v)));
  // the names of `clan eval --json`: aacc, macc, miou, per_class [{ class, iou, acc }]; JSON.stringify writes that JSON
  assert.deepEqual([r.aacc, r.macc], [want.aacc, want.macc]);
  assert.deepEqual(r.per_class, DIGITSCAPES_CLASSES.map((c, i) => ({ class: c, iou: Number.isNaN(want.iou[i]!) ? null : want.iou[i]!,
    acc: Number.isNaN(want.acc[i]!) ? null : want.acc[i]! })));
  const j = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
  assert.deepEqual(Object.keys(j), ['miou', 'macc', 'aacc', 'per_class', 'protocol', 'classes', 'images', 'pixels', 'confusion']);
  assert.deepEqual(j.per_class, r.per_class);
  assert.deepEqual(j.confusion, Array.from({ length: 11 }, (_, g) => Array.from(want.confusion.subarray(11 * g, 11 * g + 11))));
  // another inference mode reaches evaluate(G, …) whole (here a slide over the 64×64 input with 48×48 windows)
  const slide = { mode: 'slide', crop: [48, 48], stride: [16, 16] } as const;
  const ref2 = loadInferenceModel(ckpt);
  const want2 = await evaluateSegmentor(ref2.G, openDataset('digitscapes:val'), { size: ref2.evalSize, normalize: ref2.normalize, limit: 3, inference: slide });
  ref2.G.dispose();
  const r2 = await evaluate(model, 'digitscapes:val', { limit: 3, inference: slide });
  assert.deepEqual(r2.confusion, want2.confusion);
  assert.notDeepEqual(r2.confusion, want.confusion);
  // An opened dataset works as well as a spec.
  assert.equal((await evaluate(model, openDataset('digitscapes:val'), { limit: 3 })).miou, want.miou);
});

test('a file with its own inference mode (a converted DAFormer/HRDA checkpoint\'s): Model.inference, used by predict and evaluate unless told otherwise', async (t) => {
  const ckpt = shared?.checkpoint ?? (await trained()).checkpoint;
  const { readCheckpoint } = await import('./io/checkpoint.js');
  const G = new Map([...readCheckpoint(ckpt).tensors].filter(([k]) => k.startsWith('G.')));
  const dir = mkdtempSync(join(tmpdir(), 'clan-api-mode-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'slide.safetensors');
  const slide = { mode: 'slide', crop: [48, 48], stride: [16, 16] } as const;
  writeSafetensorsFile(file, G, sealedMetadata(G, { format: 'clan-weights', backbone: 'micro', num_classes: '11', eval_size: '64x64',
    class_names: JSON.stringify(DIGITSCAPES_CLASSES), inference: JSON.stringify(slide) }));
  const model = await loadModel(file);
  t.after(() => model.dispose());
  const plain = await loadModel(ckpt);
  t.after(() => plain.dispose());
  assert.deepEqual([model.inference, plain.inference], [slide, { mode: 'whole' }]);
  const img = openDataset('digitscapes:val').load(3).image;
  const [own, asked, whole] = [await model.predict(img), await plain.predict(img, { inference: slide }), await plain.predict(img)];
  assert.deepEqual(own.label, asked.label, 'the file\'s mode = the same mode asked for');
  assert.notDeepEqual(own.label, whole.label);
  assert.deepEqual((await model.predict(img, { inference: { mode: 'whole' } })).label, whole.label, 'an explicit mode wins');
  const [e1, e2] = [await evaluate(model, 'digitscapes:val', { limit: 3 }), await evaluate(plain, 'digitscapes:val', { limit: 3, inference: slide })];
  assert.deepEqual(e1.confusion, e2.confusion);
});

test('evaluate: a model whose class count differs from the dataset\'s, and a disposed model, are one-line errors', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-api-eval-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const G = createSegmentor('micro', 5);
  const all = new Map<string, HostTensor>([...G.stateDict()].map(([k, v]) => [`G.${k}`, v.toHost()]));
  G.dispose();
  const path = join(dir, 'five.safetensors');
  writeSafetensorsFile(path, all, sealedMetadata(all, { format: 'clan-weights', backbone: 'micro', num_classes: '5' }));
  const model = await loadModel(path);
  assert.equal(model.step, null);
  await assert.rejects(evaluate(model, 'digitscapes:val', { limit: 1 }), oneLine(DataError, /^checkpoint .*five\.safetensors predicts 5 classes but dataset digitscapes:val has 11$/));
  model.dispose();
  await assert.rejects(evaluate(model, 'digitscapes:val'), oneLine(ClanError, /was disposed/));
  await assert.rejects(loadModel(join(dir, 'none.safetensors')), oneLine(ClanError, /none\.safetensors does not exist/));
  await assert.rejects(loadModel(path, { device: 'gpu' as never }), oneLine(ClanError, /loadModel: device: expected cpu, cuda or cuda:N, got 'gpu'/));
});
