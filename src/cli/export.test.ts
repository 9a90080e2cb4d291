// `clan export`: the ONNX file and the web folder from a weights file, the model's metadata, and each bad flag as
// one usage line. (Parity of the graph: deploy/export.test.ts; the ONNX engine: predict.test.ts, deploy/web.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetadataProps } from '../deploy/onnx.js';
import { parseInfo } from '../deploy/onnx-meta.js';
import { writePlausibleWeights } from '../deploy/deploy.testing.js';
import { exportCommand as exportCmd } from './export.js';

test('export: OUT.onnx with its metadata, --web DIR with the page, and one usage line per bad flag', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-export-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ckpt = join(dir, 'w.safetensors');
  writePlausibleWeights(ckpt, 'micro', 19, 3);
  const out = join(dir, 'sub', 'm.onnx'); // the folder is created
  assert.equal(await exportCmd.run([ckpt, out, '--size', '128x64', '--output', 'probs', '--opset', '18']), 0);
  const info = parseInfo(readMetadataProps(readFileSync(out), out).clan, out);
  assert.deepEqual([info.backbone, info.numClasses, info.inputSize, info.evalSize, info.output, info.configHash, info.source],
    ['micro', 19, [128, 64], [1024, 512], 'probs', null, 'w.safetensors']);
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['m.onnx'], 'no temp file left behind');

  assert.equal(await exportCmd.run([ckpt, '--web', join(dir, 'web'), '--size', '64x32']), 0);
  const web = readdirSync(join(dir, 'web')).sort();
  for (const f of ['index.html', 'model.onnx', 'model.json', 'ort-wasm-simd-threaded.wasm', 'host-ops.js', 'resize.js']) assert.ok(web.includes(f), f);
  assert.equal(JSON.parse(readFileSync(join(dir, 'web', 'model.json'), 'utf8')).output, 'heads');

  const bad: [string[], RegExp][] = [
    [[ckpt], /^export: expected CKPT and OUT\.onnx, got 1 argument/],
    [[ckpt, join(dir, 'x.pt')], /OUT must end in \.onnx/],
    [[ckpt, out, '--size', '64'], /--size expects WxH/],
    [[ckpt, out, '--size', '64x32', '--dynamic'], /--size and --dynamic exclude each other/],
    [[ckpt, out, '--output', 'logit'], /^export: --output expects logits, probs, labels or heads, got 'logit' \(did you mean 'logits'\?\)$/],
    [[ckpt, '--web', join(dir, 'w2'), '--dynamic'], /--web writes a fixed-size model with output heads/],
  ];
  for (const [argv, re] of bad) await assert.rejects(async () => exportCmd.run(argv), (e: Error) => e.name === 'UsageError' && re.test(e.message));
  await assert.rejects(async () => exportCmd.run([ckpt, out, '--opset', '12']), /export: --opset expects an integer ≥ 13, got '12'$/);
});
