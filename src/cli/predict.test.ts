// The disagreement PNG of `clan predict`: one fixed scale for every image, recorded in the file; the ONNX engine
// writes the libtorch engine's label PNGs without loading libtorch; each engine's flags are refused by the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { colormap, encodePng } from '../report/png.js';
import { readBytes } from '../data/image.js';
import { digitscapesSample } from '../data/digitscapes.js';
import { sharedFixtures } from '../data/data.testing.js';
import { writePlausibleWeights } from '../deploy/deploy.testing.js';
import { exportCommand as exportCmd } from './export.js';
import { packageRoot } from '../util/paths.js';
import { predictCommand as predictCmd } from './predict.js';
import { DISAGREEMENT_KEY, DISAGREEMENT_MAX, OUTPUT_SUFFIXES, backgroundClasses, heatBand, inputImages, writeDisagreementPng } from '../deploy/predict-folder.js';
import { DataError } from '../util/errors.js';

const pixel = (d: ArrayLike<number>, i: number) => [d[3 * i]!, d[3 * i + 1]!, d[3 * i + 2]!];

/** M [H, W] through predict's path: colour indices, then the streamed PNG, read back. */
function disagreementPng(dir: string, M: Float32Array, width: number, height: number): ReturnType<typeof decode> {
  const heat = new Uint16Array(width * height);
  heatBand(heat, M, width, 0, width);
  const path = join(dir, `m${width}x${height}.png`);
  writeDisagreementPng(path, heat, width, height);
  return decode(readFileSync(path));
}

test('disagreement PNGs of two images share one scale: a value maps to the same colour whatever the image\'s maximum', (t) => {
  assert.equal(DISAGREEMENT_MAX, 0.1);
  const dir = mkdtempSync(join(tmpdir(), 'clan-heat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Image a peaks at 0.05, image b at 0.8: per-image scaling would draw a's 0.05 in the top colour.
  const a = disagreementPng(dir, Float32Array.of(0, 0.05), 2, 1);
  const b = disagreementPng(dir, Float32Array.of(0.05, 0.8, 0.1, 0), 2, 2);
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

test('predict --engine onnx: the libtorch engine\'s label PNGs (≥ 99.9 % of pixels), all four files, with the addon unreachable', async (t) => {
  const fixtures = sharedFixtures(t);
  if (!fixtures) return;
  const dir = mkdtempSync(join(tmpdir(), 'clan-predict-onnx-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // converted weights of a micro model with O(1) logits (deploy/deploy.testing.ts); they evaluate at 1024×512
  const ckpt = join(dir, 'micro.safetensors');
  writePlausibleWeights(ckpt, 'micro', 19, 5);
  const model = join(dir, 'micro.onnx');
  assert.equal(await exportCmd.run([ckpt, model]), 0);
  const images = join(dir, 'images');
  mkdirSync(images);
  writeFileSync(join(images, 'city.png'), readBytes(join(fixtures, 'cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png')));
  writeFileSync(join(images, 'scene.png'), encodePng(digitscapesSample('val', 2).rgb, 64, 64));
  assert.equal(await predictCmd.run(['--checkpoint', ckpt, '--input', images, '--out', join(dir, 'torch'), '--threads', '1']), 0);
  // the micro net's bottlenecks hold 1×1 convolutions: oneDNN sums them in its own order, the labels stay
  assert.equal(await predictCmd.run(['--checkpoint', ckpt, '--input', images, '--out', join(dir, 'pointwise'), '--threads', '1', '--pointwise-onednn']), 0);
  // CLAN_NATIVE names no file: importing src/torch would fail, so this run proves the ONNX path never does
  const r = spawnSync(process.execPath, [join(packageRoot(), 'bin', 'clan.js'), 'predict', '--engine', 'onnx', '--model', model, '--input', images,
    '--out', join(dir, 'onnx'), '--threads', '1'], { encoding: 'utf8', env: { ...process.env, CLAN_NATIVE: join(dir, 'no-addon.node') }, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(join(dir, 'onnx')).sort(), readdirSync(join(dir, 'torch')).sort());
  assert.equal(readdirSync(join(dir, 'onnx')).length, 8);
  for (const [stem, n] of [['city', 256 * 128], ['scene', 64 * 64]] as const) {
    const label = (engine: string) => decode(new Uint8Array(readFileSync(join(dir, engine, `${stem}_label.png`)))).data as Uint8Array;
    const a = label('torch');
    for (const other of ['onnx', 'pointwise']) {
      const b = label(other);
      assert.deepEqual([a.length, b.length], [n, n]);
      let same = 0;
      for (let i = 0; i < n; i++) if (a[i] === b[i]) same++;
      t.diagnostic(`${stem}: ${other} label PNGs equal libtorch's on ${same} of ${n} pixels`);
      assert.ok(same / n >= 0.999, `${stem} (${other}): ${same} of ${n}`);
    }
    assert.ok(new Set(a).size > 2, `${stem}: more than two classes predicted`);
  }
});

test('predict: each engine refuses the other\'s flags in one line, before loading anything', async () => {
  const run = async (args: string[]): Promise<number> => predictCmd.run(['--input', 'in.png', '--out', 'o', ...args]);
  await assert.rejects(run(['--engine', 'tf', '--checkpoint', 'c']), { name: 'UsageError', message: "predict: --engine expects torch or onnx, got 'tf'" });
  await assert.rejects(run(['--engine', 'onnx', '--model', 'm.onnx', '--device', 'cuda']),
    { name: 'UsageError', message: 'predict: --device is for the libtorch engine; --engine onnx runs on the CPU' });
  await assert.rejects(run(['--engine', 'onnx', '--model', 'm.onnx', '--pointwise-onednn']),
    { name: 'UsageError', message: 'predict: --pointwise-onednn is for the libtorch engine; onnxruntime picks its own kernels' });
  await assert.rejects(run(['--engine', 'onnx', '--checkpoint', 'c']), { name: 'UsageError', message: 'predict: --engine onnx takes --model MODEL.onnx, not --checkpoint' });
  await assert.rejects(run(['--engine', 'onnx']), { name: 'UsageError', message: 'predict: --model, --input and --out are required' });
  await assert.rejects(run(['--model', 'm.onnx']), { name: 'UsageError', message: 'predict: --model is for --engine onnx; the libtorch engine takes --checkpoint CKPT' });
  await assert.rejects(run(['--engine', 'onnx', '--model', 'm.onnx', '--threads', '0']), { name: 'UsageError', message: "predict: --threads expects a positive integer, got '0'" });
});

test('predict FOLDER: sub-folders searched, each output under its relative path; a stem collision refused before any file is written', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-predict-tree-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ckpt = join(dir, 'micro.safetensors');
  writePlausibleWeights(ckpt, 'micro', 11, 5);
  const images = join(dir, 'leftImg8bit', 'val');
  for (const city of ['aachen', 'bonn']) mkdirSync(join(images, city), { recursive: true });
  writeFileSync(join(images, 'aachen', 'a_000.png'), encodePng(digitscapesSample('val', 0).rgb, 64, 64));
  writeFileSync(join(images, 'bonn', 'b_000.png'), encodePng(digitscapesSample('val', 1).rgb, 64, 64));
  writeFileSync(join(images, 'top.png'), encodePng(digitscapesSample('val', 2).rgb, 64, 64));
  const out = join(dir, 'pred');
  assert.equal(await predictCmd.run(['--checkpoint', ckpt, '--input', images, '--out', out, '--threads', '1']), 0);
  for (const stem of ['aachen/a_000', 'bonn/b_000', 'top']) for (const s of OUTPUT_SUFFIXES) assert.ok(existsSync(join(out, stem + s)), stem + s);
  // x.jpg beside x.png would write the same four files: refused, naming both, and nothing written
  writeFileSync(join(images, 'bonn', 'b_000.jpg'), readFileSync(join(images, 'bonn', 'b_000.png')));
  assert.throws(() => inputImages(images), (e: unknown) => e instanceof DataError &&
    e.message === `--input ${images}: bonn/b_000.jpg and bonn/b_000.png would both write bonn/b_000_label.png (and the other outputs); rename one of them or predict them separately`);
  const out2 = join(dir, 'pred2');
  await assert.rejects(async () => predictCmd.run(['--checkpoint', ckpt, '--input', images, '--out', out2]), /would both write/);
  assert.equal(existsSync(out2) && readdirSync(out2).length > 0, false, 'nothing written');
});
