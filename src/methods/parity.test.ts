// Parity with the PyTorch reference of the CLAN iteration (tools/reference/clan_parity.py, checks in ./methods.testing.ts):
// identical initial weights and inputs, 3 iterations with every term active (warm-up 1, preheat 1, lr ×100,
// batch 2), compared on all five losses, every weight delta, BN running statistics, SGD momentum and Adam moments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { loadFixture } from '../torch/torch.testing.js';
import { createSegmentor } from '../models/registry.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { checkAnyRecord, parityRecords } from './methods.testing.js';

// Each libtorch version compares with its own PyTorch's records (parityRecords: 1.13's in test/fixtures/clan, 2.x's
// in test/fixtures/torch-2.x/clan and its other CPU kernel sets clan-*); the live test of parity-cuda.test.ts runs
// the reference beside us (CLAN_PARITY_LIVE=1).
const records = parityRecords(['clan'], 'clan');

test('CLAN iteration equals the PyTorch reference over 3 steps (losses, Δw, BN stats, SGD and Adam state)', { skip: 'skip' in records ? records.skip : false }, (t) => {
  const tol = [1e-4, 1e-4, 1e-4];
  t.diagnostic(checkAnyRecord('dirs' in records ? records.dirs : [], { device: 'cpu', lossTol: 1e-5, deltaTol: tol, bnTol: 1e-5, stateTol: tol }));
});

test('the full resnet101 G and D map 1:1 onto the official key names and shapes (§1.1)', () => {
  const official = loadFixture<{ G: [string, number[]][]; D: [string, number[]][] }>('clan/official_keys.json');
  const G = createSegmentor('resnet101', 19);
  const D = new FCDiscriminator(19, 64);
  const ours = (m: torch.Module) => [...m.stateDict()].map(([k, t]) => [k, t.shape] as [string, number[]]);
  assert.deepEqual(ours(G), official.G);
  assert.deepEqual(ours(D), official.D);
  assert.equal(G.backboneParameters().length, 104, 'unique trainable backbone tensors (§3)');
  assert.equal(G.officialBackboneParameterList().length, 314, 'entries of the official optimizer list (§3)');
  const w5 = G.layer5.parameters().reduce((a, p) => a + p.numel, 0);
  assert.equal(w5, 1400908, 'C1 parameter count (§2.2)');
  G.dispose(); D.dispose();
});
