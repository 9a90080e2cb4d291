#!/usr/bin/env node
// Measures the peak resident memory (VmHWM, through /usr/bin/time -f %M) of `clan predict`, `clan eval` and `clan
// train` at a few sizes and prints the least-squares constants src/infer/cost.ts is built from:
//   predict/eval  bytes per pixel of the input image (outputs at its size), the model input fixed; predict's whole
//                 path (under BAND_FLOATS) apart from the banded one
//   inference     per backbone, bytes per model-input pixel (eval of a 64² image, --size varied), then across the
//                 backbones PER_PIXEL + PER_FEATURE·F and BASE + PER_PARAM·params
//   training      the same for one step of the cpu preset (crops of both domains varied, batch 1)
// Usage: npm run build && node tools/measure-memory.mjs [predict] [onnx] [eval] [train] [--quick] [--backbones=a,b,…] (default
// micro, tiny, resnet18, resnet50; about 15 minutes on one core). Single-threaded (--threads 1) so two cores shared
// with others give stable numbers; the constants do not depend on the thread count beyond libtorch's per-thread pools.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { encodePng } = await import(join(root, 'dist/src/report/png.js'));
const { writePlausibleWeights } = await import(join(root, 'dist/src/deploy/deploy.testing.js'));
const { featureFloats, wideBytes } = await import(join(root, 'dist/src/infer/cost.js'));
const { createSegmentor } = await import(join(root, 'dist/src/models/registry.js'));
const CLAN = join(root, 'bin/clan.js');
const quick = process.argv.includes('--quick');
const bbArg = process.argv.find((a) => a.startsWith('--backbones='));
const backbones = bbArg ? bbArg.slice('--backbones='.length).split(',') : quick ? ['tiny'] : ['micro', 'tiny', 'resnet18', 'resnet50'];
const tmp = mkdtempSync(join(tmpdir(), 'clan-measure-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

/** Peak RSS in bytes of `clan ARGS` (the budget itself lifted, so nothing is refused while measuring). */
function peak(args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, CLAN, ...args], { encoding: 'utf8', cwd: tmp,
    env: { ...process.env, CLAN_MEMORY_BUDGET_MB: '1000000', OMP_WAIT_POLICY: 'PASSIVE' } });
  if (r.status !== 0) throw new Error(`clan ${args.join(' ')} failed: ${r.stderr.slice(-800)}`);
  return Number(r.stderr.trim().split('\n').pop()) * 1024;
}

/** Least squares y = a + b·x. */
function fit(xs, ys) {
  const n = xs.length; const mx = xs.reduce((a, b) => a + b) / n; const my = ys.reduce((a, b) => a + b) / n;
  const b = xs.reduce((s, x, i) => s + (x - mx) * (ys[i] - my), 0) / xs.reduce((s, x) => s + (x - mx) ** 2, 0);
  return { a: my - b * mx, b };
}

const zeros = (w, h, c) => encodePng(new Uint8Array(w * h * c), w, h, c);
const MB = (b) => (b / 2 ** 20).toFixed(0);

/** predict: RSS = a + β·pixels on the banded sizes; the whole path's extra per pixel from the unbanded ones. */
function measurePredict(ckpt) {
  // 19·side² ≤ 64 Mi floats: 1000 and 1400 unbanded; --huge adds 13376² (2.3 GB, about 4 minutes on one core)
  const sides = quick ? [1000, 3000] : [1000, 1400, 3000, 4000, 8000, ...(process.argv.includes('--huge') ? [13376] : [])];
  const ys = sides.map((s) => {
    const img = join(tmp, `p${s}.png`);
    writeFileSync(img, zeros(s, s, 3));
    const y = peak(['predict', '--checkpoint', ckpt, '--input', img, '--out', join(tmp, `pout${s}`), '--threads', '1']);
    console.log(`predict ${s}x${s}: peak ${MB(y)} MB`);
    return y;
  });
  // banded: less `wide` [1, 3K, h, W] (cost.ts wideBytes), which grows with the width alone
  const banded = sides.map((s, i) => [s * s, ys[i] - wideBytes('micro', 19, [1024, 512], s)]).filter(([p]) => 19 * p > 64 * 2 ** 20);
  const whole = sides.map((s, i) => [s * s, ys[i]]).filter(([p]) => 19 * p <= 64 * 2 ** 20);
  const f = banded.length > 1 ? fit(banded.map(([p]) => p), banded.map(([, y]) => y)) : null;
  const g = whole.length > 1 ? fit(whole.map(([p]) => p), whole.map(([, y]) => y)) : null;
  if (f) console.log(`predict banded: ${f.b.toFixed(1)} B per image pixel (PREDICT_PER_PIXEL), ${MB(f.a)} MB at 0 beside wide`);
  if (g) console.log(`predict whole: ${g.b.toFixed(1)} B per image pixel, ${MB(g.a)} MB at 0 pixels (micro, 19 classes, model input 1024x512)`);
  if (f && g) console.log(`predict whole path beyond the banded: ${((g.b - (f?.b ?? 0)) / 19 / 4).toFixed(2)} maps of [K, H, W] float32`);
  return { banded: f, whole: g };
}

/** predict --engine onnx of a model exported from `ckpt`: RSS = ONNX_BASE + ONNX_PER_PIXEL·pixels. */
function measureOnnx(ckpt) {
  const model = join(tmp, 'micro.onnx');
  spawnSync(process.execPath, [CLAN, 'export', ckpt, model], { encoding: 'utf8' });
  const sides = quick ? [1000, 3000] : [1000, 2000, 3000, 4000, 6000];
  const ys = sides.map((s) => {
    const img = join(tmp, `p${s}.png`);
    writeFileSync(img, zeros(s, s, 3));
    return peak(['predict', '--engine', 'onnx', '--model', model, '--input', img, '--out', join(tmp, `oout${s}`), '--threads', '1']);
  });
  const f = fit(sides.map((s) => s * s), ys);
  console.log(`predict --engine onnx at ${sides.join(', ')} square: peaks ${ys.map(MB).join(', ')} MB → ` +
    `${f.b.toFixed(1)} B per image pixel (ONNX_PER_PIXEL), ${MB(f.a)} MB at 0 (ONNX_BASE_BYTES)`);
  return f;
}

/** A folder dataset of one all-zero image and label of side s. */
function folderData(s) {
  const d = join(tmp, `ds${s}`);
  mkdirSync(join(d, 'images'), { recursive: true }); mkdirSync(join(d, 'labels'), { recursive: true });
  writeFileSync(join(d, 'images', 'a.png'), zeros(s, s, 3));
  writeFileSync(join(d, 'labels', 'a.png'), zeros(s, s, 1));
  return `folder:${d}`;
}

/** Parameters of `backbone` with 19 classes (what the per-parameter fit is over). */
function params(backbone) {
  const G = createSegmentor(backbone, 19);
  try { return G.parameters().reduce((n, p) => n + p.numel, 0); } finally { G.dispose(); }
}

/**
 * Across backbones: per-pixel slopes b = PER_PIXEL + PER_FEATURE·F and intercepts a = BASE + PER_PARAM·params,
 * each by least squares; `rows` are { backbone, F, params, a, b } of the per-backbone fits.
 */
function constants(what, rows) {
  const s = fit(rows.map((r) => r.F), rows.map((r) => r.b));
  const p = fit(rows.map((r) => r.params), rows.map((r) => r.a));
  console.log(`${what}: ${s.a.toFixed(0)} B per pixel + ${s.b.toFixed(2)} B per feature float (PER_PIXEL, PER_FEATURE); ` +
    `${MB(p.a)} MB + ${p.b.toFixed(1)} B per parameter (BASE, PER_PARAM)`);
  return { perPixel: s.a, perFeature: s.b, base: p.a, perParam: p.b };
}

function measureEval(ckpt) {
  const sides = quick ? [2000, 3000] : [1000, 2000, 3000, 4000, 8000];  // 1000² alone under BAND_FLOATS (19 classes)
  const ys = sides.map((s) => peak(['eval', '--checkpoint', ckpt, '--data', folderData(s), '--threads', '1', '--json']));
  sides.forEach((s, i) => console.log(`eval ${s}x${s} (input 1024x512): peak ${MB(ys[i])} MB`));
  const f = fit(sides.map((s) => s * s), ys);
  // banded: less `wide` [1, 3K, h, W] (cost.ts wideBytes), which grows with the width alone
  const banded = sides.map((s, i) => [s * s, ys[i] - wideBytes('micro', 19, [1024, 512], s)]).filter(([p]) => 19 * p > 64 * 2 ** 20);
  const g = banded.length > 1 ? fit(banded.map(([p]) => p), banded.map(([, y]) => y)) : null;
  console.log(`eval: ${f.b.toFixed(1)} B per image pixel over all sizes${g ? `, ${g.b.toFixed(1)} over the banded ones (EVAL_PER_PIXEL), ${MB(g.a)} MB at 0` : ''}`);
  const data = folderData(64);
  const rows = backbones.map((bb) => {
    const ck = join(tmp, `${bb}.safetensors`);
    writePlausibleWeights(ck, bb, 19, 1);
    const sizes = quick ? [512, 1024] : [512, 1024, 1536];
    const y = sizes.map((w) => peak(['eval', '--checkpoint', ck, '--data', data, '--size', `${w}x${w}`, '--threads', '1', '--json']));
    const g = fit(sizes.map((w) => w * w), y);
    console.log(`eval ${bb} (F ${featureFloats(bb)}) at ${sizes.join(', ')} square: peaks ${y.map(MB).join(', ')} MB → ` +
      `${g.b.toFixed(0)} B per model pixel, ${MB(g.a)} MB at 0`);
    return { backbone: bb, F: featureFloats(bb), params: params(bb), a: g.a, b: g.b };
  });
  return { perImagePixel: f.b, inference: rows.length > 1 ? constants('inference', rows) : rows };
}

/** One step of the cpu preset at square crops of both domains, batch 1: per crop pixel of one domain. */
function measureTrain() {
  const rows = backbones.map((bb) => {
    const sizes = quick ? [128, 256] : [128, 256, 384];
    const y = sizes.map((s) => peak(['train', '--preset', 'cpu', '--backbone', bb, '--iters', '1', '--threads', '1', '--set', 'workers=0',
      '--set', `source.size=[${s},${s}]`, '--set', `target.size=[${s},${s}]`, '--set', 'targetVal.limit=1', '--set', 'batchSize=1',
      '--out', join(tmp, `run-${bb}-${s}`)]));
    const g = fit(sizes.map((s) => 2 * s * s), y);                 // two domains of s² each
    console.log(`train ${bb} (F ${featureFloats(bb)}) at ${sizes.join(', ')} square, batch 1: peaks ${y.map(MB).join(', ')} MB → ` +
      `${g.b.toFixed(0)} B per crop pixel, ${MB(g.a)} MB at 0`);
    return { backbone: bb, F: featureFloats(bb), params: params(bb), a: g.a, b: g.b };
  });
  return rows.length > 1 ? constants('training', rows) : rows;
}

const ckpt = join(tmp, 'micro.safetensors');
writePlausibleWeights(ckpt, 'micro', 19, 5);
const what = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const out = {};
if (!what.length || what.includes('predict')) out.predict = measurePredict(ckpt);
if (!what.length || what.includes('onnx')) out.onnx = measureOnnx(ckpt);
if (!what.length || what.includes('eval')) out.eval = measureEval(ckpt);
if (!what.length || what.includes('train')) out.train = measureTrain();
console.log(JSON.stringify(out));
