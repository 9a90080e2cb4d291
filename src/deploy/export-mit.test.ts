// The MiT segmentors' ONNX graph (deploy/export-mit.ts) against our libtorch forward, through onnxruntime-node, on
// inputs of any size: LayerNormalization (opset ≥ 17) or its decomposition (13–16), Gelu (opset ≥ 20) or its erf form,
// attention with sequence reduction, depthwise convs, the DAFormer and SegFormer heads, align_corners=False upsampling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { predictLogits } from '../models/segmentor.js';
import { BACKBONES, isMit } from '../models/backbones.js';
import { MitSegmentor } from '../models/segformer.js';
import { plausibleInit } from '../models/plausible.js';
import { defaultPalette, type InferenceModel } from '../infer/model.js';
import { exportOnnx } from './export.js';
import { rawChw } from './host-ops.js';
import { importOrt } from './ort.js';

const ort = await importOrt(); // deploy/ort.ts: the optional package, typed without its own declarations

function model(decoder: 'daformer' | 'segformer'): InferenceModel {
  const spec = BACKBONES.get('mit-b0');
  assert.ok(isMit(spec));
  const G = new MitSegmentor({ ...spec, decoder, segformerEmbed: 128, numClasses: 6 });
  plausibleInit(G, 5);
  G.eval();
  return { G, path: '/tmp/mit.ckpt', backbone: 'mit-b0', numClasses: 6, classNames: Array.from({ length: 6 }, (_, i) => `c${i}`),
    palette: defaultPalette(6), normalize: 'imagenet', evalSize: [64, 48], step: 0, config: null };
}

/** A smooth RGB image (values 0…255) of w×h with some structure, deterministic. */
function image(w: number, h: number): Uint8Array {
  const px = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    px[(y * w + x) * 3 + c] = Math.round(127.5 + 127.5 * Math.sin(0.21 * x * (c + 1) + 0.13 * y * (3 - c) + c));
  }
  return px;
}

/** Ours: the same normalisation as the graph's (ImageNet mean/std on 0…255), then predictLogits. */
function ours(m: InferenceModel, px: Uint8Array, w: number, h: number): Float32Array {
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const chw = rawChw(px, w, h);
  const n = w * h;
  for (let c = 0; c < 3; c++) for (let i = 0; i < n; i++) chw[c * n + i] = (chw[c * n + i]! - mean[c]! * 255) * (1 / (255 * std[c]!));
  return torch.tidy(() => predictLogits(m.G, torch.fromTypedArray(chw, [1, 3, h, w]), [h, w]).toTypedArray<'float32'>());
}

function compare(a: Float32Array, b: Float32Array, k: number): { diff: number; agree: number; spread: number } {
  let diff = 0, spread = 0, same = 0;
  const n = a.length / k;
  for (let i = 0; i < a.length; i++) { diff = Math.max(diff, Math.abs(a[i]! - b[i]!)); spread = Math.max(spread, Math.abs(b[i]!)); }
  for (let i = 0; i < n; i++) {
    let ia = 0, ib = 0;
    for (let c = 1; c < k; c++) { if (a[c * n + i]! > a[ia * n + i]!) ia = c; if (b[c * n + i]! > b[ib * n + i]!) ib = c; }
    if (ia === ib) same++;
  }
  return { diff, agree: same / n, spread };
}

for (const decoder of ['daformer', 'segformer'] as const) {
  test(`export mit-b0 + ${decoder} head: onnxruntime = libtorch at two sizes, opsets 13, 17 and 21`, async (t) => {
    const m = model(decoder);
    try {
      for (const opset of [13, 17, 21]) {
        const bytes = exportOnnx(m, { size: 'dynamic', opset });
        const text = Buffer.from(bytes).toString('latin1');
        assert.equal(text.includes('LayerNormalization'), opset >= 17, `opset ${opset}: LayerNormalization node`);
        assert.equal(text.includes('Gelu'), opset >= 20, `opset ${opset}: Gelu node`);
        assert.ok(text.includes('pytorch_half_pixel'), 'align_corners=False resizes (the logits below would differ otherwise)');
        const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
        for (const [w, h] of [[64, 48], [77, 41]] as [number, number][]) {
          const px = image(w, h);
          const out = await s.run({ image: new ort.Tensor('float32', rawChw(px, w, h), [1, 3, h, w]) });
          const r = compare(out.logits!.data as Float32Array, ours(m, px, w, h), 6);
          t.diagnostic(`${decoder} opset ${opset} ${w}×${h}: max |logit| ${r.spread.toFixed(2)}, max abs diff ${r.diff.toExponential(2)}, argmax agreement ${r.agree}`);
          assert.ok(r.spread > 1, `logits too small to test anything (${r.spread})`);
          assert.ok(r.diff <= 1e-4, `logits differ by ${r.diff}`);
          assert.ok(r.agree >= 0.999, `labels agree on ${r.agree}`);
          assert.equal(Math.max(...(out.x2!.data as Float32Array).map(Math.abs)), 0, 'x2 is zeros');
        }
        await s.release();
      }
    } finally { m.G.dispose(); }
  });
}
