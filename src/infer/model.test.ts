// Loading a model to evaluate: converted weights must hold all of G (never random heads with exit 0) and pass
// their seal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../torch/dtype.js';
import { createSegmentor } from '../models/registry.js';
import { writeSafetensorsFile } from '../io/safetensors.js';
import { sealedMetadata } from '../io/checkpoint.js';
import { loadInferenceModel } from './model.js';

test('converted weights: whole G loads with equal weights; no heads, no G, or a broken seal are refused naming the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-infer-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const G = createSegmentor('micro', 5);
  const all = new Map<string, HostTensor>([...G.stateDict()].map(([k, v]) => [`G.${k}`, v.toHost()]));
  const write = (name: string, ts: Map<string, HostTensor>, meta: Record<string, string> = {}) => {
    const path = join(dir, name);
    writeSafetensorsFile(path, ts, { ...sealedMetadata(ts, { format: 'clan-weights', backbone: 'micro', num_classes: '5' }), ...meta });
    return path;
  };
  const m = loadInferenceModel(write('whole.safetensors', all));
  const w = 'layer5.conv2d_list.0.weight';
  assert.deepEqual(Array.from(m.G.stateDict().get(w)!.toTypedArray<'float32'>()), Array.from(G.stateDict().get(w)!.toTypedArray<'float32'>()));
  m.G.dispose();
  const noHeads = write('backbone.safetensors', new Map([...all].filter(([k]) => !/^G\.layer[56]\./.test(k))));
  assert.throws(() => loadInferenceModel(noHeads), new RegExp(`^CheckpointError: ${noHeads}: has no classifier heads \\(layer5, layer6\\): a backbone init for --init, not a model to evaluate$`));
  const noG = write('d-only.safetensors', new Map([['D.conv1.weight', { dtype: 'float32', shape: [1], data: new Float32Array([1]) }]]));
  assert.throws(() => loadInferenceModel(noG), /holds no G\.\* tensors; expected converted weights of a whole model/);
  const forged = write('forged.safetensors', all, { num_classes: '5', backbone: 'micro', source: 'edited after sealing' });
  assert.throws(() => loadInferenceModel(forged), /forged\.safetensors failed its SHA-256 check/);
  const huge = join(dir, 'huge.safetensors');
  writeSafetensorsFile(huge, all, sealedMetadata(all, { format: 'clan-weights', backbone: 'micro', num_classes: '1e9' }));
  assert.throws(() => loadInferenceModel(huge), /huge\.safetensors: num_classes "1e9": expected an integer from 1 to 1000/);
  G.dispose();
});
