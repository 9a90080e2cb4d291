// DACS's pieces against hand-made values: the ClassMix mask (half of each image's classes, never 'ignore'), the mixed
// batch, the mean teacher's EMA (= G at step 0, then α = 1 − 1/(i+1)), and the one-line error for unequal sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { DEFAULT_METHOD_CONFIG } from './config.js';
import { Dacs, classMixMask, mixBatch } from './dacs.js';
import { ClanError } from '../util/errors.js';

const K = 6;

test('classMixMask: per image ⌈n/2⌉ of its n classes (255 excluded), their pixels; the same seed gives the same mask', () => {
  // image 0: classes 0, 3, 5 and an ignored column; image 1: class 2 only
  const rows = [[0, 0, 3, 255], [5, 5, 3, 255]];
  const labels = torch.keep(torch.tensor([rows, [[2, 2, 2, 2], [2, 2, 2, 2]]]).to('int64'));
  for (let seed = 0; seed < 6; seed++) {
    torch.manualSeed(seed);
    const m = torch.tidy(() => torch.keep(classMixMask(labels, K)));
    torch.manualSeed(seed);
    const again = torch.tidy(() => torch.keep(classMixMask(labels, K)));
    assert.deepEqual(m.toArray(), again.toArray());
    const v = m.toArray().map(Number);
    const img0 = v.slice(0, 8); const img1 = v.slice(8);
    const chosen = [0, 3, 5].filter((c) => rows.flat().some((l, k) => l === c && img0[k] === 1));
    assert.equal(chosen.length, 2, `image 0 takes 2 of its 3 classes (seed ${seed}): ${img0}`);
    rows.flat().forEach((l, k) => assert.equal(img0[k], chosen.includes(l) ? 1 : 0, `pixel ${k} (class ${l})`));
    assert.deepEqual(img1, [1, 1, 1, 1, 1, 1, 1, 1], 'one class: ⌈1/2⌉ = 1, all of it');
    m.dispose(); again.dispose();
  }
  labels.dispose();
});

test('mixBatch: source pixels where the mask is set (weight 1), target pixels and pseudo-labels elsewhere (confident share, or per pixel)', () => {
  const src = { image: torch.keep(torch.full([1, 3, 1, 4], 1)), label: torch.keep(torch.tensor([[[7, 7, 7, 7]]]).to('int64')) };
  const tgt = torch.keep(torch.full([1, 3, 1, 4], -1));
  const mask = torch.keep(torch.tensor([[[1, 0, 1, 0]]]).to('bool'));
  const pseudo = torch.keep(torch.tensor([[[2, 3, 4, 5]]]).to('int64'));
  const confident = torch.keep(torch.tensor([[[1, 1, 1, 0]]]).to('bool'));          // 3 of 4 → share 0.75
  const m = torch.tidy(() => {
    const r = mixBatch(src, tgt, mask, pseudo, confident);
    return { image: torch.keep(r.image), label: torch.keep(r.label), weight: torch.keep(r.weight) };
  });
  assert.deepEqual(m.image.toArray(), [1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1]);
  assert.deepEqual(m.label.toArray(), [7, 3, 7, 5]);
  assert.deepEqual(m.weight.toArray(), [1, 0.75, 1, 0.75]);
  const px = torch.tidy(() => torch.keep(mixBatch(src, tgt, mask, pseudo, confident, 'pixel').weight));
  assert.deepEqual(px.toArray(), [1, 1, 1, 0], 'pixel weighting: 1 on a confident target pixel, 0 on the unconfident one');
  px.dispose();
  for (const t of [src.image, src.label, tgt, mask, pseudo, confident, m.image, m.label, m.weight]) t.dispose();
});

test('the mean teacher: G itself at step 0 (after --init), then α = 1 − 1/(i+1) of itself; batches must pair up', () => {
  torch.manualSeed(0);
  const G = createSegmentor('micro', K);
  const cfg = { ...DEFAULT_METHOD_CONFIG, maxIter: 10, warmup: 0, optimizerG: 'adam' as const, lrG: 1e-2 };
  const m = new Dacs(G, cfg);
  const host = (ps: torch.Tensor[]) => ps.map((p) => Float32Array.from(p.toArray()));
  torch.manualSeed(1);
  const src = { image: torch.keep(torch.randn([2, 3, 32, 32])), label: torch.keep(torch.randint(0, K, [2, 32, 32])) };
  const tgt = { image: torch.keep(torch.randn([2, 3, 32, 32])), size: [32, 32] as [number, number] };
  const g0 = host(G.parameters());
  const log = m.trainStep(0, src, tgt);
  assert.ok(log.losses.seg! > 0 && log.losses.mix! > 0);
  const t0 = host(m.teacher.parameters());
  t0.forEach((t, k) => assert.deepEqual(t, g0[k], `teacher parameter ${k} = G's before step 0`));
  const g1 = host(G.parameters());
  assert.ok(g1.some((p, k) => p.some((v, j) => v !== g0[k]![j])), 'G moved');
  m.trainStep(1, src, tgt);                                                          // α = 1 − 1/2
  host(m.teacher.parameters()).forEach((t, k) => t.forEach((v, j) => {
    const want = 0.5 * g0[k]![j]! + 0.5 * g1[k]![j]!;
    assert.ok(Math.abs(v - want) <= 1e-6 * (1 + Math.abs(want)), `parameter ${k}[${j}]: ${v} vs ${want}`);
  }));
  assert.ok(m.teacher.parameters().every((p) => !p.requiresGrad), 'the teacher does not train');
  assert.ok(Object.keys(m.parts().modules ?? {}).includes('EMA'), 'checkpointed as EMA.*');
  const wide = torch.keep(torch.randn([2, 3, 40, 48]));                             // another size: resized to the label's
  assert.ok(Number.isFinite(m.trainStep(2, src, { image: wide, size: [40, 48] }).losses.mix!));
  const three = torch.keep(torch.randn([3, 3, 32, 32]));
  assert.throws(() => m.trainStep(3, src, { image: three, size: [32, 32] }),
    (e: unknown) => e instanceof ClanError && /dacs mixes source and target images in pairs: the batches must be equal, got 2 source and 3 target images/.test((e as Error).message));
  three.dispose();
  m.dispose(); G.dispose();
  for (const t of [src.image, src.label, tgt.image, wide]) t.dispose();
});
