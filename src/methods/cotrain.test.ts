// cotrain: the target loss is λ_pseudo·(L(x1, labels for C1) + L(x2, labels for C2)) on the stacked maps, each head
// on its own half — recomputed here from the same network; an all-ignored batch adds 0; no pseudo-labels is an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { DEFAULT_METHOD_CONFIG, withHyper } from './config.js';
import { CoTrain } from './cotrain.js';
import { ceLoss, focalLoss } from './losses.js';
import { ClanError } from '../util/errors.js';

const K = 5;

for (const segLoss of ['focal', 'ce'] as const) test(`cotrain (${segLoss}): each head learns its own half of the stacked pseudo-labels`, () => {
  torch.manualSeed(1);
  const image = torch.keep(torch.randn([2, 3, 32, 32]));
  const label = torch.keep(torch.randint(0, K, [2, 32, 32]));
  const forC1 = torch.keep(torch.randint(0, K, [2, 32, 32]).maskedFill(torch.rand([2, 32, 32]).lt(0.5), 255));
  const forC2 = torch.keep(torch.randint(0, K, [2, 32, 32]).maskedFill(torch.rand([2, 32, 32]).lt(0.5), 255));
  const stacked = torch.keep(torch.cat([forC1, forC2], 1));
  const G = createSegmentor('micro', K);
  const m = new CoTrain(G, withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10, warmup: 0, segLoss, cotrain: { lambdaPseudo: 0.7 } }));
  const loss = segLoss === 'focal' ? (x: torch.Tensor, l: torch.Tensor) => focalLoss(x, l, 2) : ceLoss;
  // Train-mode BN uses the batch's statistics: this forward gives what the step's target forward will.
  G.train();
  const want = torch.tidy(() => torch.noGrad(() => {
    const [a, b] = G.forward(image);
    const up = (t: torch.Tensor) => F.interpolate(t, [32, 32], { alignCorners: true });
    return loss(up(a), forC1).add(loss(up(b), forC2)).mul(0.7).item();
  }));
  const swapped = torch.tidy(() => torch.noGrad(() => {
    const [a, b] = G.forward(image);
    const up = (t: torch.Tensor) => F.interpolate(t, [32, 32], { alignCorners: true });
    return loss(up(a), forC2).add(loss(up(b), forC1)).mul(0.7).item();
  }));
  const log = m.trainStep(2, { image, label }, { image, size: [32, 32], label: stacked });
  assert.ok(Math.abs(log.losses.pseudo! - want) < 1e-6 * Math.max(1, want), `${log.losses.pseudo} vs ${want}`);
  assert.ok(Math.abs(want - swapped) > 1e-4, 'the halves matter (a swap gives another loss)');
  // All pixels ignored: the target adds nothing (not NaN).
  const none = torch.keep(torch.full([2, 64, 32], 255, { dtype: 'int64' }));
  assert.equal(m.trainStep(3, { image, label }, { image, size: [32, 32], label: none }).losses.pseudo, 0);
  assert.throws(() => m.trainStep(4, { image, label }, { image, size: [32, 32] }), (e: unknown) => e instanceof ClanError && /run it through clan selftrain/.test((e as Error).message));
  m.dispose(); G.dispose();
  for (const t of [image, label, forC1, forC2, stacked, none]) t.dispose();
});
