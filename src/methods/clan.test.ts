// CLAN's G step with and without the gradient through M (hyper.clan.detachM, docs/method.md §2.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import type { DeepLabSegmentor } from '../models/deeplab.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { Clan } from './clan.js';
import { DEFAULT_METHOD_CONFIG, withHyper, type MethodConfig } from './config.js';
import { disagreementMap } from '../models/segmentor.js';

const K = 5;
const SIZE: [number, number] = [32, 32];
const I = 3; // past the preheat (1): the weighted losses are on
const CFG: MethodConfig = withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10, warmup: 0, adversarial: { lambdaAdv: 0.5 },
  clan: { preheat: 1, lambdaLocal: 40, epsilon: 0.4 } });

/** The same G and D every call (seeded), so two runs differ only in the option under test. */
function nets(): { G: DeepLabSegmentor; D: FCDiscriminator } {
  torch.manualSeed(0);
  const G = createSegmentor('micro', K);
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
  const m = new Clan(G, withHyper(CFG, { clan: { detachM } }), D);
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
    l.mul(disagreementMap(x1, x2)).mean().mul(CFG.adversarial.lambdaAdv * damping * CFG.clan.lambdaLocal).backward();
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

test('CLAN with 1×1 convolutions through oneDNN (setPointwiseOnednn) moves the weights no more than a rounding of the input does', () => {
  // A random-init ResNet's first step is ill-conditioned (batch-1 BN backward cancels): swapping OpenBLAS's Haswell
  // kernels for SkylakeX ones changes this step's weight deltas by 1.2 % (measured, docs/speed.md). So the yardstick
  // is the same step with every source pixel moved by a float32 rounding (relative ±2⁻²⁴, random signs; a uniform
  // scale would be normalised away by the stem's BN): oneDNN's sums may move the step no more than 5× that
  // (measured: 1.5 % vs 0.6 %; OpenBLAS SkylakeX for Haswell: 1.2 %).
  torch.setNumThreads(1);
  const run = (on: boolean, nudge = false) => {
    torch.setPointwiseOnednn(on);
    torch.manualSeed(0);
    const G = createSegmentor('resnet50', K);
    const D = new FCDiscriminator(K, 16);
    const m = new Clan(G, { ...CFG, lrG: 1e-3 }, D);
    const w0 = G.parameters().map((p) => torch.keep(p.detach().clone()));
    torch.manualSeed(1);
    const x0 = torch.randn([1, 3, 96, 128]); const ys = torch.keep(torch.randint(0, K, [1, 96, 128]));
    const xt = torch.keep(torch.randn([1, 3, 96, 128]));
    const xs = torch.keep(nudge ? x0.mul(torch.rand([1, 3, 96, 128]).lt(0.5).to('float32').mul(2 ** -23).add(1 - 2 ** -24)) : x0);
    const losses = m.trainStep(I, { image: xs, label: ys }, { image: xt, size: [96, 128] }).losses;
    const deltas = G.parameters().map((p, k) => torch.keep(p.detach().sub(w0[k]!)));
    m.dispose(); G.dispose();
    for (const t of [xs, ys, xt, ...w0]) t.dispose();
    return { losses, deltas };
  };
  const off = run(false);
  const on = run(true);
  const nudged = run(false, true);
  torch.setPointwiseOnednn(false);
  const worst = (x: typeof off) => {
    let w = 0;
    for (const [k, d] of off.deltas.entries()) {
      const n = torch.tidy(() => d.norm().item());
      if (n > 0) w = Math.max(w, torch.tidy(() => x.deltas[k]!.sub(d).norm().item() / n));
    }
    return w;
  };
  for (const key of Object.keys(off.losses)) {
    const a = on.losses[key]!; const b = off.losses[key]!;
    assert.ok(Math.abs(a - b) <= 1e-5 * Math.abs(b) + 1e-7, `${key}: ${a} vs ${b}`);
  }
  const kernel = worst(on); const rounding = worst(nudged);
  assert.ok(kernel > 0 && rounding > 0, `both change something: ${kernel}, ${rounding}`);
  assert.ok(kernel <= 5 * rounding, `oneDNN moves the weight deltas by ${kernel}, a rounding of the input by ${rounding}`);
  for (const t of [...off.deltas, ...on.deltas, ...nudged.deltas]) t.dispose();
});

test('dFullSize false: the adversarial losses at D\'s own size, CLAN\'s weight map area-averaged to it (recomputed)', () => {
  const S: [number, number] = [64, 96]; // D's output: 2×3
  const make = (dFullSize: boolean) => {
    const { G, D } = nets();
    torch.manualSeed(7);
    const b = { src: { image: torch.keep(torch.randn([2, 3, ...S])), label: torch.keep(torch.randint(0, K, [2, ...S])) },
      tgt: torch.keep(torch.randn([2, 3, ...S])) };
    return { G, D, b, m: new Clan(G, withHyper(CFG, { adversarial: { dFullSize } }), D) };
  };
  // what the step's target forward computes, from the same weights (train-mode BN: batch statistics)
  const want = (() => {
    const { G, D, b, m } = make(false);
    G.train(); D.train();
    const r = torch.tidy(() => torch.noGrad(() => {
      const [a, c] = G.forward(b.tgt);
      const x1 = F.interpolate(a, S, { alignCorners: true }), x2 = F.interpolate(c, S, { alignCorners: true });
      const d = D.forward(F.softmax(x1.add(x2), 1));                              // [2, 1, 2, 3]: not upsampled
      assert.deepEqual(d.shape, [2, 1, 2, 3]);
      // CLAN's weight map ε + λ_local·M at full size, area-averaged to D's size (equal to weighting the averaged M up to rounding)
      const w = F.adaptiveAvgPool2d(disagreementMap(x1, x2).mul(CFG.clan.lambdaLocal).add(CFG.clan.epsilon), [2, 3]);
      return F.binaryCrossEntropyWithLogits(d, torch.zerosLike(d), { reduction: 'none' }).mul(w).mean().item();
    }));
    m.dispose(); D.dispose(); G.dispose();
    for (const t of [b.src.image, b.src.label, b.tgt]) t.dispose();
    return r;
  })();
  const adv = (dFullSize: boolean) => {
    const { G, D, b, m } = make(dFullSize);
    const log = m.trainStep(I, b.src, { image: b.tgt, size: S });
    m.dispose(); D.dispose(); G.dispose();
    for (const t of [b.src.image, b.src.label, b.tgt]) t.dispose();
    return log.losses.adv!;
  };
  const small = adv(false);
  assert.ok(Math.abs(small - want) <= 1e-6 * want, `${small} vs ${want}`);
  const full = adv(true);
  assert.ok(Math.abs(full - want) > 1e-6 * want, `the official full-size loss is another number: ${full} vs ${want}`);
});
