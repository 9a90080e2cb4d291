// HRDA's iteration against its PyTorch twin (tools/reference/hrda_parity.py, test/fixtures/hrda/expected.json): the
// hashed hrda-mit-b0 at 64×64, batch 2, two iterations from a fixed seed (drop path and Dropout2d on in the student,
// CE, SGD with heads at 10×, τ lowered so half the teacher's pixels count), compared on the four losses, the lr, the
// crop positions, every weight delta, the EMA teacher, BN running statistics of G and the teacher, and SGD momentum.
// Then the pieces: mmseg's loss mean, the loss weights, and the one-line refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { loadFixture } from '../torch/torch.testing.js';
import { createSegmentor } from '../models/registry.js';
import { drawState, hashed, tinyHrda } from '../models/models.testing.js';
import type { CropBox } from '../models/hrda.js';
import { ClanError } from '../util/errors.js';
import { DEFAULT_METHOD_CONFIG, withHyper, type MethodConfig } from './config.js';
import { Hrda, segLossMean } from './hrda.js';
import { labelBlocks, sketchError, type Sketch } from './methods.testing.js';

interface Step {
  i: number; lr_G: number; seg: number; seg_detail: number; mix: number; mix_detail: number; source_box: CropBox; mix_box: CropBox;
  share: number; delta: Record<string, Sketch>; teacher?: Record<string, Sketch>; bn: Record<string, Sketch>;
  bn_teacher: Record<string, Sketch>; momentum?: Record<string, Sketch>;
}
interface Config {
  num_classes: number; batch: number; size: [number, number]; hr_loss_weight: number; lr_loss_weight: number; ema_alpha: number;
  pseudo_threshold: number; lambda_mix: number; lr_G: number; max_iter: number; warmup: number; power: number; momentum: number;
  weight_decay: number; seed: number; steps: number; image_salts: number[]; label_salts: number[];
}
const ex = loadFixture<{ config: Config; steps: Step[] }>('hrda/expected.json');

function parityConfig(c: Config): MethodConfig {
  return withHyper(DEFAULT_METHOD_CONFIG, {
    maxIter: c.max_iter, warmup: c.warmup, power: c.power, optimizerG: 'sgd', lrG: c.lr_G, headLrMult: 10, momentum: c.momentum,
    weightDecay: c.weight_decay, segLoss: 'ce',
    dacs: { emaAlpha: c.ema_alpha, pseudoThreshold: c.pseudo_threshold, lambdaMix: c.lambda_mix, pseudoWeight: 'share' },
    hrda: { detailLossWeight: c.hr_loss_weight, contextLossWeight: c.lr_loss_weight },
  });
}

test('HRDA iteration = the PyTorch twin over 2 steps (losses, crops, Δw, EMA teacher, BN statistics, momentum)', (t) => {
  const c = ex.config;
  const [n, [h, w], K] = [c.batch, c.size, c.num_classes];
  torch.setNumThreads(1);
  torch.manualSeed(0);
  const G = createSegmentor('hrda-mit-b0', K);
  drawState(G);
  const m = new Hrda(G, parityConfig(c));
  const w0 = new Map(G.namedParameters().map(([k, p]) => [k, torch.keep(p.detach().clone())] as const));
  const names = new Map(G.namedParameters().map(([k, p]) => [p, k]));
  const errors: { what: string; rel: number }[] = [];
  const check = (rel: number, what: string, tol: number) => { errors.push({ what, rel }); assert.ok(rel <= tol, `${what}: relative error ${rel.toExponential(2)} > ${tol}`); };
  torch.manualSeed(c.seed);
  try {
    for (const [s, ref] of ex.steps.entries()) {
      const log = torch.tidy(() => {
        const xs = hashed([n, 3, h, w], c.image_salts[2 * s]!, 2), xt = hashed([n, 3, h, w], c.image_salts[2 * s + 1]!, 2);
        return m.trainStep(ref.i, { image: xs, label: labelBlocks(n, h, w, K, c.label_salts[s]!) }, { image: xt, size: [h, w] });
      });
      assert.deepEqual([m.lastCropBoxes.source, m.lastCropBoxes.mix], [ref.source_box, ref.mix_box], `step ${s + 1}: crop positions`);
      assert.ok(Math.abs(log.lrG - ref.lr_G) < 1e-15, `step ${s + 1}: lr`);
      const refLoss = ref as unknown as Record<string, number>;                    // step 2's follow step 1's update: 1e-3
      for (const k of m.lossKeys) check(Math.abs(log.losses[k]! - refLoss[k]!) / Math.abs(refLoss[k]!), `step ${s + 1} loss ${k}`, s > 0 ? 1e-3 : 1e-5);
      // Δw to 1e-2: on a second AVX-512 EPYC (CI's machine, 2026-12-05) the MiT's step-1 gradients differ from the twin's by
      // up to 4.9e-3 relative (LayerNorm parameters) where the first machine gave under 1e-4 — libtorch's CPU kernels sum in
      // another order there; the losses and BN statistics still agree to 1e-5, and a wrong formula misses by far more
      for (const [k, p] of G.namedParameters()) check(torch.tidy(() => sketchError(p.sub(w0.get(k)!), ref.delta[k]!, k)), `step ${s + 1} Δ${k}`, s > 0 ? 1e-1 : 1e-2);
      for (const [k, b] of G.namedBuffers()) if (/running_(mean|var)$/.test(k)) check(sketchError(b, ref.bn[k]!, k), `step ${s + 1} G ${k}`, s > 0 ? 1e-2 : 1e-5);
      for (const [k, b] of m.teacher.namedBuffers()) if (/running_(mean|var)$/.test(k)) check(sketchError(b, ref.bn_teacher[k]!, k), `step ${s + 1} teacher ${k}`, s > 0 ? 1e-2 : 1e-5);
      if (ref.teacher) for (const [k, p] of m.teacher.namedParameters()) check(torch.tidy(() => sketchError(p.sub(w0.get(k)!), ref.teacher![k]!, k)), `step ${s + 1} teacher − G₀ ${k}`, s > 0 ? 1e-2 : 1e-4);
    }
    const last = ex.steps.at(-1)!;
    m.optG.uniqueParams().forEach((p, idx) => {
      const k = names.get(p)!;
      check(sketchError(m.optG.stateDict().state[idx]!.momentum_buffer as torch.Tensor, last.momentum![k]!, k), `momentum ${k}`, 1e-1);  // after two steps: the step-2 gradients' machine rounding (6.6e-2 on CI's EPYC)
    });
    assert.equal(errors.filter((e) => e.what.startsWith('step 1 Δ')).length, G.parameters().length, 'every parameter compared');
    const worst = errors.reduce((a, b) => (b.rel > a.rel ? b : a));
    t.diagnostic(`${errors.length} values compared; worst ${worst.what}: ${worst.rel.toExponential(2)}`);
  } finally {
    m.dispose(); G.dispose();
    for (const x of w0.values()) x.dispose();
  }
});

test('segLossMean: mmseg\'s mean over ALL pixels (ignored ones count 0), per-pixel weights, logits upsampled to the label', () => {
  torch.tidy(() => {
    // two classes, logits [0, ln 3] everywhere: CE of class 0 = ln 4, of class 1 = ln(4/3)
    const logits = torch.cat([torch.zeros([1, 1, 2, 2]), torch.full([1, 1, 2, 2], Math.log(3))], 1);
    const label = torch.tensor([[[0, 1, 255, 1], [0, 0, 1, 255], [1, 1, 1, 1], [0, 255, 0, 0]]]).to('int64');   // 4×4: upsampled logits
    const weight = torch.tensor([[[1, 0.5, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 2]]]);
    const [a, b] = [Math.log(4), Math.log(4 / 3)];
    const ce = { segLoss: 'ce' as const, gamma: 2 };
    assert.ok(Math.abs(segLossMean(ce, logits, label, null).item() - (6 * a + 7 * b) / 16) < 1e-6, '13 labelled of 16, mean over 16');
    assert.ok(Math.abs(segLossMean(ce, logits, label, weight).item() - (6 * a + a + 6.5 * b) / 16) < 1e-6, 'weighted (0.5 on a class-1 pixel, 2 on a class-0 one)');
  });
});

test('hrda: the fused loss takes 1 − λ_d; λ_d = 0 leaves no detail term; refusals name the fix', () => {
  const run = (detail: number) => {
    torch.manualSeed(0);
    const G = tinyHrda(4);
    const m = new Hrda(G, withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10, warmup: 0, segLoss: 'ce', hrda: { detailLossWeight: detail } }));
    torch.manualSeed(1);
    const log = torch.tidy(() => m.trainStep(0, { image: torch.randn([2, 3, 32, 32]), label: torch.randint(0, 4, [2, 32, 32]) },
      { image: torch.randn([2, 3, 32, 32]), size: [32, 32] }));
    m.dispose(); G.dispose();
    return log.losses;
  };
  const [a, b] = [run(0.1), run(0)];
  assert.equal(b.seg_detail, 0); assert.equal(b.mix_detail, 0);
  // same seed and crop: the fused CE is (seg − detail)/0.9 with λ_d = 0.1 and seg itself with λ_d = 0
  assert.ok(Math.abs((a.seg! - a.seg_detail!) / 0.9 - b.seg!) < 1e-5 * b.seg!, `${(a.seg! - a.seg_detail!) / 0.9} vs ${b.seg}`);
  const micro = createSegmentor('micro', 4);
  assert.throws(() => new Hrda(micro, DEFAULT_METHOD_CONFIG), (e: unknown) => e instanceof ClanError && /pass --backbone hrda-mit-b5/.test((e as Error).message));
  micro.dispose();
  const G = tinyHrda(4);
  assert.throws(() => new Hrda(G, withHyper(DEFAULT_METHOD_CONFIG, { hrda: { detailLossWeight: 0.6, contextLossWeight: 0.5 } })), /detailLossWeight \+ contextLossWeight = 1\.1/);
  const m = new Hrda(G, withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10 }));
  const odd = torch.keep(torch.randn([2, 3, 36, 36]));
  const lab = torch.keep(torch.randint(0, 4, [2, 36, 36]));
  assert.throws(() => m.trainStep(0, { image: odd, label: lab }, { image: odd, size: [36, 36] }), /hrda: the training crop 36×36 must have sides that are multiples of 8 \(set crop to e\.g\. 40x40\)/);
  odd.dispose(); lab.dispose();
  m.dispose(); G.dispose();
});
