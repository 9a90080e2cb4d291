// CLAN's G step with and without the gradient through M (hyper.detachM, docs/method.md §2.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { createGenerator } from '../models/registry.js';
import type { DeepLabGenerator } from '../models/deeplab.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { Clan } from './clan.js';
import { DEFAULT_METHOD_CONFIG, type MethodConfig } from './config.js';
import { disagreementMap } from '../models/segmentor.js';

const K = 5;
const SIZE: [number, number] = [32, 32];
const I = 3; // past the preheat (1): the weighted losses are on
const CFG: MethodConfig = { ...DEFAULT_METHOD_CONFIG, maxIter: 10, warmup: 0, preheat: 1, lambdaAdv: 0.5, lambdaLocal: 40, epsilon: 0.4 };

/** The same G and D every call (seeded), so two runs differ only in the option under test. */
function nets(): { G: DeepLabGenerator; D: FCDiscriminator } {
  torch.manualSeed(0);
  const G = createGenerator('micro', K);
  torch.manualSeed(1);
  return { G, D: new FCDiscriminator(K, 8) };
}

function batches(): { src: { image: torch.Tensor; label: torch.Tensor }; tgt: torch.Tensor } {
  torch.manualSeed(7);
  return { src: { image: torch.randn([2, 3, ...SIZE]), label: torch.randint(0, K, [2, ...SIZE]) }, tgt: torch.randn([2, 3, ...SIZE]) };
}

/** G's gradient after one trainStep (the optimizer step keeps .grad). */
function gGrads(detachM: boolean): Float32Array[] {
  const { G, D } = nets();
  const m = new Clan(G, { ...CFG, detachM }, D);
  const b = batches();
  const log = m.trainStep(I, b.src, { image: b.tgt, size: SIZE });
  assert.equal(log.weighted, true);
  assert.ok(log.m! > 0 && log.m! < 1, `mean M ${log.m}`);
  const g = G.parameters(true).map((p) => Float32Array.from(p.grad!.toArray()));
  m.dispose(); D.dispose(); G.dispose();
  b.src.image.dispose(); b.src.label.dispose(); b.tgt.dispose();
  return g;
}

test('detachM: the G gradient loses exactly ∇ λ_adv·damping·λ_local·mean(ℓ·M), ℓ held constant', () => {
  const attached = gGrads(false);
  const detached = gGrads(true);
  // The term through M alone, at the initial weights: ℓ = BCE(D(softmax(x1 + x2)), source) detached, M attached.
  const { G, D } = nets();
  G.train(); D.train();
  const b = batches();
  torch.tidy(() => {
    const [a, c] = G.forward(b.tgt);
    const x1 = F.interpolate(a, SIZE, { alignCorners: true }), x2 = F.interpolate(c, SIZE, { alignCorners: true });
    const d = F.interpolate(D.forward(F.softmax(x1.add(x2), 1)), SIZE, { alignCorners: true });
    const l = F.binaryCrossEntropyWithLogits(d, torch.zerosLike(d), { reduction: 'none' }).detach();
    const damping = 1 - I / CFG.maxIter;
    l.mul(disagreementMap(x1, x2)).mean().mul(CFG.lambdaAdv * damping * CFG.lambdaLocal).backward();
  });
  const expected = G.parameters(true).map((p) => Float32Array.from(p.grad!.toArray()));
  let big = 0;
  attached.forEach((ga, k) => {
    const gd = detached[k]!, e = expected[k]!;
    for (let j = 0; j < ga.length; j++) {
      const diff = ga[j]! - gd[j]!;
      // float32: the difference of two full gradients carries their rounding (~1e-6 relative to them)
      assert.ok(Math.abs(diff - e[j]!) <= 1e-5 * (Math.abs(ga[j]!) + Math.abs(gd[j]!)) + 1e-3 * Math.abs(e[j]!) + 1e-7, `param ${k}[${j}]: attached − detached ${diff}, expected ${e[j]}`);
      if (Math.abs(e[j]!) > 1e-6) big++;
    }
  });
  assert.ok(big > 100, `the M term reached only ${big} entries`);
  D.dispose(); G.dispose();
  b.src.image.dispose(); b.src.label.dispose(); b.tgt.dispose();
});
