// The exported graph against our libtorch forward, through onnxruntime-node: every registered backbone, on the
// Cityscapes fixture and on a digitscapes scene; logits within 1e-4 max abs (fp32), argmax agreement ≥ 99.99 %.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { BACKBONES } from '../models/backbones.js';
import { predictHeads } from '../models/segmentor.js';
import { preprocess } from '../data/transforms.js';
import { resizeBicubic } from '../data/resize.js';
import { decodeRgb, readBytes, type RgbImage } from '../data/image.js';
import { digitscapesSample } from '../data/digitscapes.js';
import { sharedFixtures } from '../data/data.testing.js';
import type { InferenceModel } from '../infer/model.js';
import { exportOnnx, onnxInfo, configHash, type ExportOptions } from './export.js';
import { readMetadataProps } from './onnx.js';
import { parseInfo } from './onnx-meta.js';
import { plausibleModel } from '../infer/plausible.js';
import { rawChw } from './host-ops.js';
import { importOrt } from './ort.js';

const ort = await importOrt(); // deploy/ort.ts: the optional package, typed without its own declarations

/** ONNX outputs for `img` (already at the graph's size) as raw RGB CHW; and ours from the same pixels. */
async function both(m: InferenceModel, img: RgbImage, o: ExportOptions = {}) {
  const bytes = exportOnnx(m, o);
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  const { width: w, height: h } = img;
  const out = await s.run({ image: new ort.Tensor('float32', rawChw(img.data, w, h), [1, 3, h, w]) });
  await s.release();
  const p = preprocess({ index: 0, name: 'x', image: img }, { size: [w, h], normalize: m.normalize }, { scale: 1, flip: false });
  const ours = torch.tidy(() => {
    const r = predictHeads(m.G, torch.fromTypedArray(p.image, [1, 3, h, w]), [h, w]);
    const [a, b] = m.G.forward(torch.fromTypedArray(p.image, [1, 3, h, w]));
    return { logits: r.logits.toTypedArray<'float32'>(), x1: a.toTypedArray<'float32'>(), x2: b.toTypedArray<'float32'>() };
  });
  return { out, ours, bytes };
}

function maxAbs(a: Float32Array, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}
function argmaxAgreement(a: Float32Array, b: Float32Array, k: number): number {
  const n = a.length / k;
  let same = 0;
  for (let i = 0; i < n; i++) {
    let ia = 0, ib = 0;
    for (let c = 1; c < k; c++) { if (a[c * n + i]! > a[ia * n + i]!) ia = c; if (b[c * n + i]! > b[ib * n + i]!) ib = c; }
    if (ia === ib) same++;
  }
  return same / n;
}

/** The Cityscapes fixture at a size each backbone runs quickly on this 2-core machine (its 2048×1024 is for predict). */
function cityscapes(dir: string, w: number, h: number): RgbImage {
  const img = decodeRgb(readBytes(join(dir, 'cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png')), 'fixture');
  return resizeBicubic(img, w, h);
}

const SIZES: Record<string, [number, number]> = { resnet101: [160, 80], resnet50: [160, 80], vgg16: [160, 80] };

// HRDA's networks have no ONNX translation (their detail windows slide over the input): refused in one line, below.
for (const backbone of BACKBONES.names().filter((n) => !n.startsWith('hrda-'))) {
  test(`export ${backbone}: onnxruntime logits = libtorch logits (1e-4), argmax ≥ 99.99 %, on Cityscapes and digitscapes`, async (t) => {
    const dir = sharedFixtures(t);
    if (!dir) return;
    const [w, h] = SIZES[backbone] ?? [256, 128];
    const m = plausibleModel(backbone, 19, 1, [w, h]);
    try {
      const { out, ours } = await both(m, cityscapes(dir, w, h));
      const logits = out.logits!.data as Float32Array;
      assert.deepEqual(out.logits!.dims, [1, 19, h, w]);
      const spread = maxAbs(ours.logits, new Float32Array(ours.logits.length));
      assert.ok(spread > 1, `logits too small to test anything (max |logit| ${spread})`);
      const diff = maxAbs(ours.logits, logits);
      t.diagnostic(`${backbone} ${w}×${h}: max |logit| ${spread.toFixed(2)}, max abs diff ${diff.toExponential(2)}, argmax agreement ${argmaxAgreement(ours.logits, logits, 19)}`);
      assert.ok(diff <= 1e-4, `logits differ by ${diff}`);
      assert.ok(maxAbs(ours.x1, out.x1!.data as Float32Array) <= 1e-4);
      assert.ok(maxAbs(ours.x2, out.x2!.data as Float32Array) <= 1e-4);
      assert.ok(argmaxAgreement(ours.logits, logits, 19) >= 0.9999);
      // a digitscapes scene (11 classes in the demo; the model here has 19 outputs, which changes nothing about parity)
      const s = digitscapesSample('target', 3);
      const d = await both(m, { data: s.rgb, width: s.width, height: s.height }, { size: [s.width, s.height] });
      assert.ok(maxAbs(d.ours.logits, d.out.logits!.data as Float32Array) <= 1e-4);
      assert.ok(argmaxAgreement(d.ours.logits, d.out.logits!.data as Float32Array, 19) >= 0.9999);
    } finally { m.G.dispose(); }
  });
}

test('export: an HRDA network is refused in one line (no ONNX translation of its sliding detail windows)', () => {
  const m = plausibleModel('hrda-mit-b0', 19, 1, [64, 64], 'imagenet');
  try {
    assert.throws(() => exportOnnx(m), /^ConfigError: export: module G \(HrdaSegmentor\) has no ONNX translation in deploy\/export\.ts$/);
  } finally { m.G.dispose(); }
});

test('export: dynamic size runs at two sizes; probs and labels outputs; opset 13 and 21; ImageNet normalisation', async (t) => {
  const dir = sharedFixtures(t);
  if (!dir) return;
  const m = plausibleModel('tiny', 19, 2, [96, 64], 'imagenet');
  try {
    for (const [w, h] of [[96, 64], [130, 70]] as [number, number][]) {
      const { out, ours } = await both(m, cityscapes(dir, w, h), { size: 'dynamic', opset: 13 });
      assert.ok(maxAbs(ours.logits, out.logits!.data as Float32Array) <= 1e-4);
    }
    const img = cityscapes(dir, 96, 64);
    const pr = await both(m, img, { output: 'probs', opset: 21 });
    const probs = pr.out.probs!.data as Float32Array;
    const n = 96 * 64;
    for (const i of [0, 77, n - 1]) {
      let s = 0;
      for (let c = 0; c < 19; c++) s += probs[c * n + i]!;
      assert.ok(Math.abs(s - 1) < 1e-5, `probabilities at pixel ${i} sum to ${s}`);
    }
    const lb = await both(m, img, { output: 'labels' });
    assert.equal(lb.out.labels!.type, 'uint8');
    const labels = lb.out.labels!.data as Uint8Array;
    let same = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let c = 1; c < 19; c++) if (lb.ours.logits[c * n + i]! > lb.ours.logits[best * n + i]!) best = c;
      if (labels[i] === best) same++;
    }
    assert.ok(same / n >= 0.9999, `labels agree on ${same} of ${n}`);
    const heads = await both(m, img, { output: 'heads' });
    assert.deepEqual(Object.keys(heads.out).sort(), ['x1', 'x2']);
  } finally { m.G.dispose(); }
});

test('export: metadata_props carry class names, palette, sizes, normalisation and the config hash', () => {
  const m = plausibleModel('micro', 5, 3, [64, 32]);
  try {
    const bytes = exportOnnx(m, { size: [80, 40], output: 'labels', configHash: configHash({ b: 1, a: [2] }) });
    const props = readMetadataProps(bytes, 'm.onnx');
    const info = parseInfo(props.clan, 'm.onnx');
    assert.deepEqual(info, onnxInfo(m, { size: [80, 40], output: 'labels', configHash: configHash({ a: [2], b: 1 }) }));
    assert.deepEqual(info.inputSize, [80, 40]);
    assert.deepEqual(info.evalSize, [64, 32]);
    assert.equal(props.input_size, '80x40');
    assert.deepEqual(JSON.parse(props.class_names!), m.classNames);
    assert.match(props.normalization!, /^caffe: BGR order, minus mean/);
    assert.equal(props.config_hash, configHash({ a: [2], b: 1 }));
    assert.equal(configHash({ b: 1, a: [2] }).length, 16);
    assert.notEqual(configHash({ a: [2], b: 1 }), configHash({ a: [2], b: 2 }));
  } finally { m.G.dispose(); }
});

test('export: a bad opset is one line naming the flag; BN is folded (no BatchNormalization node)', () => {
  const m = plausibleModel('micro', 3, 4, [32, 32]);
  try {
    assert.throws(() => exportOnnx(m, { opset: 12 }), /--opset must be an integer 13…21, got 12/);
    const text = Buffer.from(exportOnnx(m)).toString('latin1');
    assert.ok(!text.includes('BatchNormalization'));
    assert.ok(text.includes('Resize') && text.includes('align_corners'));
  } finally { m.G.dispose(); }
});
