// clan-cotrain = the CLAN iteration + cotrain's pseudo-label loss on the same target forward. Checked against the two
// methods it combines, from identical weights and batches: with λ_pseudo = 0 G and D move exactly as CLAN's; with
// CLAN's G terms off (λ_adv = λ_weight = 0) G moves as cotrain's; its pseudo loss is cotrain's; no labels is an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { DEFAULT_METHOD_CONFIG, withHyper, type MethodConfig, type MethodConfigPatch } from './config.js';
import { Clan } from './clan.js';
import { ClanCoTrain } from './clan-cotrain.js';
import { CoTrain } from './cotrain.js';
import type { UDAMethod } from './uda.js';
import { ClanError } from '../util/errors.js';

const K = 5;

function batches(): {
  src: { image: torch.Tensor; label: torch.Tensor }; tgt: { image: torch.Tensor; size: [number, number]; label: torch.Tensor };
} {
  torch.manualSeed(3);
  const image = torch.keep(torch.randn([2, 3, 32, 32]));
  const label = torch.keep(torch.randint(0, K, [2, 32, 32]));
  const timage = torch.keep(torch.randn([2, 3, 32, 32]));
  const stacked = torch.keep(torch.randint(0, K, [2, 64, 32]).maskedFill(torch.rand([2, 64, 32]).lt(0.5), 255));
  return { src: { image, label }, tgt: { image: timage, size: [32, 32], label: stacked } };
}

/** Two steps of `make` from seed-7 weights; returns the losses and G's and D's parameters (host copies). */
function run(make: (G: ReturnType<typeof createSegmentor>, D: FCDiscriminator) => UDAMethod): {
  losses: Record<string, number>[]; G: Float32Array[]; D: Float32Array[];
} {
  torch.manualSeed(7);
  const G = createSegmentor('micro', K);
  const D = new FCDiscriminator(K, 8);
  const m = make(G, D);
  const { src, tgt } = batches();
  const losses = [2, 3].map((i) => m.trainStep(i, src, tgt).losses);
  const host = (ps: torch.Tensor[]) => ps.map((p) => Float32Array.from(p.toArray()));
  const out = { losses, G: host(G.parameters()), D: host(D.parameters()) };
  m.dispose(); G.dispose();
  for (const t of [src.image, src.label, tgt.image, tgt.label]) t.dispose();
  return out;
}

const maxDiff = (a: Float32Array[], b: Float32Array[]): number => {
  assert.equal(a.length, b.length);
  let d = 0;
  a.forEach((x, k) => x.forEach((v, j) => { d = Math.max(d, Math.abs(v - b[k]![j]!)); }));
  return d;
};

const base = (over: MethodConfigPatch): MethodConfig => withHyper(withHyper(DEFAULT_METHOD_CONFIG,
  { maxIter: 10, warmup: 0, lrG: 1e-2, clan: { preheat: 0 }, adversarial: { lrD: 1e-3, lambdaAdv: 0.1, ndf: 8 } }), over);

test('clan-cotrain with λ_pseudo = 0 trains G and D exactly as CLAN', () => {
  const cfg = base({ cotrain: { lambdaPseudo: 0 } });
  const a = run((G, D) => new ClanCoTrain(G, cfg, D));
  const b = run((G, D) => new Clan(G, cfg, D));
  assert.equal(maxDiff(a.G, b.G), 0);
  assert.equal(maxDiff(a.D, b.D), 0);
  for (const k of ['seg', 'adv', 'weight', 'd_s', 'd_t']) assert.equal(a.losses[1]![k], b.losses[1]![k], k);
  assert.equal(a.losses[0]!.pseudo, 0);
});

test('clan-cotrain with CLAN\'s G terms off trains G as cotrain, and logs cotrain\'s pseudo loss', () => {
  const cfg = base({ cotrain: { lambdaPseudo: 0.7 }, adversarial: { lambdaAdv: 0 }, clan: { lambdaWeight: 0 } });
  const a = run((G, D) => new ClanCoTrain(G, cfg, D));
  const b = run((G) => new CoTrain(G, cfg));
  const d = maxDiff(a.G, b.G);
  assert.ok(d < 1e-6, `G differs from cotrain's by ${d}`);
  assert.ok(Math.abs(a.losses[0]!.pseudo! - b.losses[0]!.pseudo!) < 1e-6 * b.losses[0]!.pseudo!, `${a.losses[0]!.pseudo} vs ${b.losses[0]!.pseudo}`);
  assert.ok(b.losses[0]!.pseudo! > 0.1, 'the pseudo loss is not trivially 0');
  // and the combination differs from both once every term is on
  const c = run((G, D) => new ClanCoTrain(G, base({ cotrain: { lambdaPseudo: 0.7 } }), D));
  assert.ok(maxDiff(c.G, b.G) > 1e-5 && maxDiff(c.G, run((G, D) => new Clan(G, base({ cotrain: { lambdaPseudo: 0.7 } }), D)).G) > 1e-5);
});

test('clan-cotrain without pseudo-labels: one line naming clan selftrain', () => {
  torch.manualSeed(7);
  const G = createSegmentor('micro', K);
  const m = new ClanCoTrain(G, base({}));
  const { src, tgt } = batches();
  assert.throws(() => m.trainStep(0, src, { image: tgt.image, size: tgt.size }),
    (e: unknown) => e instanceof ClanError && /method clan-cotrain trains on pseudo-labels: run it through clan selftrain/.test((e as Error).message));
  assert.throws(() => m.trainStep(0, src, { ...tgt, size: [16, 32] }), (e: unknown) => e instanceof ClanError && /expected 32x32/.test((e as Error).message));
  m.dispose(); G.dispose();
  for (const t of [src.image, src.label, tgt.image, tgt.label]) t.dispose();
});
