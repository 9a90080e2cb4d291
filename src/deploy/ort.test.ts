// The ONNX engine against the libtorch path: a model exported by deploy/export.ts, loaded by loadOnnxModel, gives
// predictImage's label (≥ 99.99 % of pixels) and disagreement map (1e-4 max abs) on the Cityscapes fixture and on a
// digitscapes scene; its files are refused in one line; and ort.js loads nothing of libtorch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { predictImage, type Prediction } from '../infer/predict.js';
import type { InferenceModel } from '../infer/model.js';
import { decodeRgb, readBytes, type RgbImage } from '../data/image.js';
import { digitscapesSample } from '../data/digitscapes.js';
import { sharedFixtures } from '../data/data.testing.js';
import { exportOnnx, type ExportOptions } from './export.js';
import { plausibleModel } from '../infer/plausible.js';
import { importOrt, loadOnnxModel } from './ort.js';
import * as torch from '../torch/index.js';
import { inferProbabilities, type InferenceSpec } from '../infer/inference.js';

const CITYSCAPES = 'cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'clan-ort-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Label agreement (fraction of pixels) and max |ΔM| of the ONNX prediction against predictImage's. */
async function compare(m: InferenceModel, img: RgbImage, file: string,
  o: ExportOptions): Promise<{ same: number; dm: number; spread: number }> {
  writeFileSync(file, exportOnnx(m, o));
  const onnx = await loadOnnxModel(file, { threads: 1 });
  let got: Prediction;
  try { got = await onnx.predict(img); } finally { await onnx.release(); }
  const ref = predictImage(m, img);
  assert.deepEqual([got.width, got.height, got.label.length, got.disagreement.length],
    [img.width, img.height, ref.label.length, ref.disagreement.length]);
  let same = 0, dm = 0, spread = 0;
  for (let i = 0; i < ref.label.length; i++) {
    if (got.label[i] === ref.label[i]) same++;
    dm = Math.max(dm, Math.abs(got.disagreement[i]! - ref.disagreement[i]!));
    spread = Math.max(spread, ref.disagreement[i]!);
  }
  return { same: same / ref.label.length, dm, spread };
}

test('onnx predict = libtorch predictImage: Cityscapes fixture (micro, fixed and dynamic size) and a digitscapes scene (tiny-os4)', async (t) => {
  const fixtures = sharedFixtures(t);
  if (!fixtures) return;
  const dir = tempDir(t);
  const city = decodeRgb(readBytes(join(fixtures, CITYSCAPES)), CITYSCAPES);   // 256×128, predicted at its own size
  const s = digitscapesSample('target', 3);
  const scene: RgbImage = { data: s.rgb, width: s.width, height: s.height };
  const cases: [string, InferenceModel, RgbImage, ExportOptions][] = [
    ['micro 19 classes, Cityscapes, graph at the eval size 192×96', plausibleModel('micro', 19, 1, [192, 96]), city, {}],
    ['micro 19 classes, Cityscapes, dynamic graph (run at the eval size 320×160)', plausibleModel('micro', 19, 2, [320, 160]), city, { size: 'dynamic', output: 'heads' }],
    ['tiny-os4 11 classes, digitscapes 64×64', plausibleModel('tiny-os4', 11, 3, [64, 64]), scene, { output: 'labels' }],
  ];
  for (const [what, m, img, o] of cases) {
    try {
      const r = await compare(m, img, join(dir, 'm.onnx'), o);
      t.diagnostic(`${what}: labels equal on ${(100 * r.same).toFixed(4)} %, max |ΔM| ${r.dm.toExponential(2)} (max M ${r.spread.toFixed(3)})`);
      assert.ok(r.spread > 1e-3, `${what}: M too small to test anything (max ${r.spread})`);
      assert.ok(r.same >= 0.9999, `${what}: labels equal on ${r.same}`);
      assert.ok(r.dm <= 1e-4, `${what}: M differs by ${r.dm}`);
    } finally { m.G.dispose(); }
  }
});

test('loadOnnxModel refuses a missing file, a non-ONNX file and an ONNX file without clan metadata, in one line naming it', async (t) => {
  const dir = tempDir(t);
  const missing = join(dir, 'nope.onnx');
  await assert.rejects(loadOnnxModel(missing), { name: 'DataError', message: `ONNX model ${missing} does not exist` });
  await assert.rejects(loadOnnxModel(dir), { name: 'DataError', message: `ONNX model ${dir} cannot be read (EISDIR)` });
  const text = join(dir, 'text.onnx');
  writeFileSync(text, 'not a protobuf at all\n');
  await assert.rejects(loadOnnxModel(text), (e: Error) => e.name === 'DataError' && e.message.startsWith(`${text}: `) && !e.message.includes('\n'));
  // a graph with all the right pieces but no 'clan' metadata entry (any other exporter's file)
  const m = plausibleModel('micro', 3, 4, [32, 32]);
  let bytes: Uint8Array;
  try { bytes = exportOnnx(m); } finally { m.G.dispose(); }
  const other = join(dir, 'other.onnx');
  writeFileSync(other, Buffer.from(Buffer.from(bytes).toString('latin1').replace('"format":"clan-onnx"', '"format":"other-onn"'), 'latin1'));
  await assert.rejects(loadOnnxModel(other), { name: 'DataError', message: `${other}: metadata 'clan' has no format 'clan-onnx'; expected an ONNX model written by 'clan export'` });
});

test('importOrt: a missing onnxruntime-node is one line saying how to install it', async () => {
  await assert.rejects(importOrt('onnxruntime-node-not-installed'), {
    name: 'EngineError', message: 'the ONNX engine needs the npm package onnxruntime-node (npm install onnxruntime-node)' });
  assert.equal(typeof (await importOrt()).InferenceSession.create, 'function');
});

test('ort.js imports nothing that loads libtorch (src/torch, src/models, src/infer), directly or transitively', () => {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm)) visit(resolve(dirname(file), spec!));
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)) visit(resolve(dirname(file), spec!));
  };
  const here = dirname(fileURLToPath(import.meta.url));
  visit(join(here, 'ort.js'));
  const src = resolve(here, '..');
  const loaded = [...seen].map((f) => f.slice(src.length + 1)).sort();
  assert.ok(loaded.includes('deploy/host-ops.js') && loaded.includes('deploy/onnx.js'), loaded.join(', '));
  assert.deepEqual(loaded.filter((f) => /^(torch|models|infer)\//.test(f) || f === 'index.js' || f === 'api.js'), []);
});

test('onnx slide / multi-scale + flip = libtorch inferProbabilities (dynamic graph, and a fixed graph running slide windows)', async (t) => {
  const fixtures = sharedFixtures(t);
  if (!fixtures) return;
  const dir = tempDir(t);
  const city = decodeRgb(readBytes(join(fixtures, CITYSCAPES)), CITYSCAPES);   // 256×128
  const cases: [string, ExportOptions, InferenceSpec][] = [
    ['dynamic graph, whole, scales 0.75/1/1.25 + flip', { size: 'dynamic', output: 'heads' }, { mode: 'whole', scales: [0.75, 1, 1.25], flip: true }],
    ['graph fixed at 64×48, slide 64×48 / 48×32, scales 1/1.5 + flip', { size: [64, 48], output: 'heads' },
      { mode: 'slide', crop: [64, 48], stride: [48, 32], scales: [1, 1.5], flip: true }],
    ['graph fixed at 64×48, slide without TTA at the eval size', { size: [64, 48] }, { mode: 'slide', crop: [64, 48], stride: [32, 16] }],
  ];
  const m = plausibleModel('micro', 19, 5, [128, 64]);
  try {
    for (const [what, o, spec] of cases) {
      writeFileSync(join(dir, 'm.onnx'), exportOnnx(m, o));
      const onnx = await loadOnnxModel(join(dir, 'm.onnx'), { threads: 1 });
      try {
        const got = await onnx.probabilities(city, spec);
        const want = torch.tidy(() => inferProbabilities(m.G, city, spec, { evalSize: [128, 64], normalize: 'caffe', out: [128, 256] }).toTypedArray<'float32'>());
        const n = 128 * 256;
        let dp = 0, same = 0, blended = 0;
        for (let i = 0; i < got.length; i++) dp = Math.max(dp, Math.abs(got[i]! - want[i]!));
        const label = (await onnx.predict(city, spec)).label;
        for (let i = 0; i < n; i++) {
          let best = 0, top = -1;
          for (let c = 0; c < 19; c++) if (want[c * n + i]! > top) { top = want[c * n + i]!; best = c; }
          if (label[i] === best) same++;
          if (top < 0.9) blended++;
        }
        t.diagnostic(`${what}: max |Δp| ${dp.toExponential(2)}, labels equal on ${(100 * same / n).toFixed(3)} %, ${blended} pixels below p 0.9`);
        assert.ok(dp <= 1e-5, `${what}: probabilities differ by ${dp}`);   // measured ≤ 1.5e-7
        assert.ok(same / n >= 0.9999, `${what}: labels equal on ${same / n}`);
        assert.ok(blended > 1000, `${what}: the probabilities are not all saturated`);
      } finally { await onnx.release(); }
    }
    writeFileSync(join(dir, 'm.onnx'), exportOnnx(m, { size: [64, 48] }));
    const fixed = await loadOnnxModel(join(dir, 'm.onnx'), { threads: 1 });
    try {
      await assert.rejects(fixed.predict(city, { mode: 'whole', scales: [1, 1.5] }), (e: Error) => e.name === 'DataError' &&
        e.message === `${join(dir, 'm.onnx')}: the graph takes 64x48 inputs only, this image's passes are 128x64, 192x96; use --mode slide --crop 64x48 on passes at least that large, or a graph exported with --dynamic`);
      await assert.rejects(fixed.predict(city, { mode: 'slide', crop: [64, 48], stride: [48, 32], scales: [0.5] }), /passes are 64x32; use --mode slide --crop 64x48/);
      await assert.rejects(fixed.predict(city, { mode: 'slide', crop: [32, 32], stride: [16, 16] }), /the graph takes 64x48 inputs only/);
    } finally { await fixed.release(); }
  } finally { m.G.dispose(); }
});
