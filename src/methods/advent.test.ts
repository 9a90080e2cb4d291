// ADVENT's conventions on the shared iteration (docs/method.md §9.1): hyper.adversarial.damping and hyper.adversarial.halveDLoss default to
// the method's own (null), and an explicit value overrides it for any method; AdvEnt's D sees the self-information map.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { Adversarial } from './adversarial.js';
import { AdvEnt } from './advent.js';
import { MinEnt } from './minent.js';
import { DEFAULT_METHOD_CONFIG, withHyper, type MethodConfig, type MethodConfigPatch } from './config.js';
import { selfInformation } from './losses.js';
import type { StepLog } from './uda.js';

const K = 5;
const SIZE: [number, number] = [32, 32];
const I = 3;                 // damping(3) = 1 − 3/10 = 0.7
const CFG: MethodConfig = withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10, warmup: 0, clan: { preheat: 1 }, adversarial: { ndf: 8 } });

/** One step at i = I from the same seeded G, D and batch. */
function step(kind: 'adversarial' | 'advent' | 'minent', hyper: MethodConfigPatch = {}): StepLog {
  torch.manualSeed(0);
  const G = createSegmentor('micro', K);
  torch.manualSeed(1);
  const D = new FCDiscriminator(K, 8);
  torch.manualSeed(7);
  const [image, label] = [torch.randn([2, 3, ...SIZE]), torch.randint(0, K, [2, ...SIZE])];
  const cfg = withHyper(CFG, hyper);
  const m = kind === 'minent' ? new MinEnt(G, cfg) : new (kind === 'advent' ? AdvEnt : Adversarial)(G, cfg, D);
  const log = m.trainStep(I, { image, label }, { image, size: SIZE });
  m.dispose(); G.dispose(); D.dispose(); image.dispose(); label.dispose();
  return log;
}

test('damping and D-loss halving: null = the method\'s own (advent: ½, undamped; adversarial: whole, damped); values override', () => {
  const adv = step('adversarial'); const advHalf = step('adversarial', { adversarial: { halveDLoss: true, damping: false } });
  const ent = step('advent'); const entWhole = step('advent', { adversarial: { halveDLoss: false, damping: true } });
  assert.equal(adv.damping, 0.7); assert.equal(advHalf.damping, 1);
  assert.equal(ent.damping, 1); assert.equal(entWhole.damping, 0.7);
  // D is frozen until its own losses and its inputs are the same in each pair: the halves are exact
  assert.equal(advHalf.losses.d_s, adv.losses.d_s! / 2); assert.equal(advHalf.losses.d_t, adv.losses.d_t! / 2);
  assert.equal(ent.losses.d_s, entWhole.losses.d_s! / 2); assert.equal(ent.losses.d_t, entWhole.losses.d_t! / 2);
  assert.equal(ent.weighted, false, 'AdvEnt never weights by M');
  assert.notEqual(ent.losses.adv, adv.losses.adv, 'AdvEnt\'s D sees something other than p');
  assert.equal(step('minent').damping, 1);
  assert.equal(step('minent', { minent: { damping: true } }).damping, 0.7);
});

test('AdvEnt\'s G adversarial loss is BCE(up(D(I(softmax(x1 + x2)))), source) before any update', () => {
  const log = step('advent');
  // the same G, D and target image, by hand
  torch.manualSeed(0);
  const G = createSegmentor('micro', K);
  torch.manualSeed(1);
  const D = new FCDiscriminator(K, 8);
  torch.manualSeed(7);
  const image = torch.randn([2, 3, ...SIZE]);
  G.train(); D.train();
  const expected = torch.tidy(() => {
    G.forward(image);   // the source forward comes first: BN's running statistics, not the batch statistics, change
    const [a, b] = G.forward(image).map((x) => F.interpolate(x, SIZE, { alignCorners: true })) as [torch.Tensor, torch.Tensor];
    const d = F.interpolate(D.forward(selfInformation(F.softmax(a.add(b), 1))), SIZE, { alignCorners: true });
    return F.binaryCrossEntropyWithLogits(d, torch.zerosLike(d)).item();
  });
  assert.equal(log.losses.adv, expected);
  G.dispose(); D.dispose(); image.dispose();
});
