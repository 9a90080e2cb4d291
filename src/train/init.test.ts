// --init: converted PyTorch weights (here the DeepLab init format, legacy .pth) start a run's backbone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCommand as convert } from '../cli/convert.js';
import { fixturePath } from '../util/paths.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { createSegmentor } from '../models/registry.js';
import { loadInit } from '../infer/init-weights.js';
import * as torch from '../torch/index.js';

test('clan convert (deeplab-init) then --init loads every backbone tensor and leaves the heads at init', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-init-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'init.safetensors');
  const code = await convert.run([fixturePath('official/deeplab_init_legacy.pth'), out, '--backbone', 'micro', '--num-classes', '11', '--json']);
  assert.equal(code, 0);
  const file = readSafetensorsFile(out).tensors;
  const G = createSegmentor('micro', 11);
  const heads0 = G.layer5.convs.at(0).weight.toArray();
  const logs: string[] = [];
  loadInit(out, G, 'backbone', (l) => logs.push(l));
  assert.match(logs[0]!, /loaded \d+ tensors \(backbone\)/);
  let compared = 0;
  for (const [k, t] of G.stateDict()) {
    const src = file.get(`G.${k}`);
    if (!src || /^layer[56]\./.test(k) || k.endsWith('num_batches_tracked')) continue;
    torch.tidy(() => assert.ok(t.equal(torch.fromHost(src)), k));
    compared++;
  }
  assert.ok(compared >= 30, `compared ${compared} backbone tensors`);
  assert.deepEqual(G.layer5.convs.at(0).weight.toArray(), heads0, 'heads untouched');
  G.dispose();
});
