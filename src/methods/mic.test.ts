// MIC's iteration on DACS against its PyTorch twin (tools/reference/mic_parity.py, test/fixtures/mic/expected.json): the
// micro DeepLab from the CLAN parity fixture's weights on its inputs (source 72×104, target 64×96 resized to it), batch
// 2, three iterations from a fixed seed (CE, SGD with heads at 10×, τ lowered so a fifth to a third of the teacher's
// pixels count, blocks of 9 px: the default 64 px × 72/512; the masked batch colour-jittered and blurred, 'separatetrgaug':
// the seed draws both at step 1, neither at step 2, blur alone at step 3), compared on the three losses, the lr, every weight delta,
// the EMA teacher, BN running statistics of G and the teacher, and SGD momentum; the same for the twin's variant
// (expected-variant.json: a masked-loss threshold of its own through a second EMA teacher, BN statistics kept). Then
// the pieces: λ_mask = 0 is the base method bit for bit (on DACS and on HRDA), and MIC on HRDA's network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { loadFixture } from '../torch/torch.testing.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { stripPrefix } from '../util/prefix.js';
import { createSegmentor } from '../models/registry.js';
import { tinyHrda, tinyMit } from '../models/models.testing.js';
import type { Segmentor } from '../models/segmentor.js';
import { DEFAULT_METHOD_CONFIG, withHyper, type MethodConfig } from './config.js';
import { Dacs } from './dacs.js';
import { Hrda } from './hrda.js';
import { Mic, MicDaformer, MicHrda } from './mic.js';
import { Daformer } from './daformer.js';
import type { SourceBatch, TargetBatch } from './uda.js';

type Sketch = number[];  // [‖t‖, Σt, max |t|, t at the probes k·2654435761 mod numel]
interface Step {
  i: number; lr_G: number; seg: number; mix: number; masked: number; share: number; kept: number;
  delta: Record<string, Sketch>; bn: Record<string, Sketch>; bn_teacher: Record<string, Sketch>;
  teacher?: Record<string, Sketch>; momentum?: Record<string, Sketch>;
}
interface Config {
  num_classes: number; batch: number; ema_alpha: number; pseudo_threshold: number; lambda_mix: number; mask_ratio: number;
  mask_block_size: number; mask_lambda: number; mask_mode: 'separatetrgaug' | 'separatetrg'; jitter_p: number; jitter_s: number;
  blur: boolean; lr_G: number; max_iter: number; warmup: number; power: number; momentum: number;
  weight_decay: number; seed: number;
  mask_pseudo_threshold?: number; bn_stats?: 'keep';  // expected-variant.json: MIC's own threshold, BN statistics kept
}
type Twin = { config: Config; steps: Step[] };
const ex = loadFixture<Twin>('mic/expected.json');

/** Ours against the twin's sketch (as hrda.test.ts): the norm and every probe within `tol` of the reference's scale. */
function sketchError(t: torch.Tensor, ref: Sketch, what: string): number {
  const a = torch.tidy(() => t.detach().to('float64').flatten().toTypedArray<'float64'>());
  const norm = Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  const [refNorm, , refMax] = ref as [number, number, number];
  if (refNorm === 0) { assert.ok(norm <= 1e-12, `${what}: zero in the reference, ${norm} here`); return 0; }
  let worst = Math.abs(norm - refNorm) / refNorm;
  ref.slice(3).forEach((v, k) => { worst = Math.max(worst, Math.abs(a[(k * 2654435761) % a.length]! - v) / refMax); });
  return worst;
}

function parityConfig(c: Config): MethodConfig {
  return withHyper(DEFAULT_METHOD_CONFIG, {
    maxIter: c.max_iter, warmup: c.warmup, power: c.power, optimizerG: 'sgd', lrG: c.lr_G, headLrMult: 10, momentum: c.momentum,
    weightDecay: c.weight_decay, segLoss: 'ce',
    dacs: { emaAlpha: c.ema_alpha, pseudoThreshold: c.pseudo_threshold, lambdaMix: c.lambda_mix, pseudoWeight: 'share' },
    mic: { ratio: c.mask_ratio, blockSize: null, lambda: c.mask_lambda,   // null: 9 px at 72×104, the twin's
      mode: c.mask_mode, colorJitterP: c.jitter_p, colorJitterS: c.jitter_s, blur: c.blur,
      pseudoThreshold: c.mask_pseudo_threshold ?? null, bnStats: c.bn_stats ?? 'update' },
  });
}

/** The CLAN parity fixture's micro G and its inputs of step s (1-based). */
function clanFixture(): { G: Segmentor; batch: (s: number) => [SourceBatch, TargetBatch] } {
  const init = readSafetensorsFile(fixturePath('clan/init.safetensors')).tensors;
  const inputs = readSafetensorsFile(fixturePath('clan/inputs.safetensors')).tensors;
  const G = createSegmentor('micro', ex.config.num_classes);
  G.loadStateDict(stripPrefix(init, 'G.'), true, 'init.safetensors G');
  const input = (name: string) => torch.fromHost(inputs.get(name)!);
  return { G, batch: (s) => [{ image: input(`source_image_step${s}`), label: input(`source_label_step${s}`) }, { image: input(`target_image_step${s}`), size: [64, 96] }] };
}

/** Ours against a twin's record over its steps; returns the diagnostic line. */
function checkTwin(ex: Twin): string {
  torch.setNumThreads(1);
  const { G, batch } = clanFixture();
  const m = new Mic(G, parityConfig(ex.config));
  const w0 = new Map(G.namedParameters().map(([k, p]) => [k, torch.keep(p.detach().clone())] as const));
  const names = new Map(G.namedParameters().map(([k, p]) => [p, k]));
  const errors: { what: string; rel: number }[] = [];
  const check = (rel: number, what: string, tol: number) => { errors.push({ what, rel }); assert.ok(rel <= tol, `${what}: relative error ${rel.toExponential(2)} > ${tol}`); };
  torch.manualSeed(ex.config.seed);
  try {
    for (const [s, ref] of ex.steps.entries()) {
      const log = torch.tidy(() => m.trainStep(ref.i, ...batch(s + 1)));
      assert.deepEqual(Object.keys(log.losses), ['seg', 'mix', 'masked']);
      assert.ok(Math.abs(log.lrG - ref.lr_G) < 1e-15, `step ${s + 1}: lr`);
      for (const k of ['seg', 'mix', 'masked'] as const) check(Math.abs(log.losses[k]! - ref[k]) / Math.abs(ref[k]), `step ${s + 1} loss ${k}`, 1e-5);
      for (const [k, p] of G.namedParameters()) if (ref.delta[k]) check(torch.tidy(() => sketchError(p.sub(w0.get(k)!), ref.delta[k]!, k)), `step ${s + 1} Δ${k}`, 1e-4);
      for (const [k, b] of G.namedBuffers()) if (/running_(mean|var)$/.test(k)) check(sketchError(b, ref.bn[k]!, k), `step ${s + 1} G ${k}`, 1e-5);
      for (const [k, b] of m.teacher.namedBuffers()) if (/running_(mean|var)$/.test(k)) check(sketchError(b, ref.bn_teacher[k]!, k), `step ${s + 1} teacher ${k}`, 1e-5);
      if (ref.teacher) for (const [k, p] of m.teacher.namedParameters()) if (ref.teacher[k]) check(torch.tidy(() => sketchError(p.sub(w0.get(k)!), ref.teacher![k]!, k)), `step ${s + 1} teacher − G₀ ${k}`, 1e-4);
    }
    const last = ex.steps.at(-1)!;
    m.optG.uniqueParams().forEach((p, idx) => {
      const k = names.get(p)!;
      check(sketchError(m.optG.stateDict().state[idx]!.momentum_buffer as torch.Tensor, last.momentum![k]!, k), `momentum ${k}`, 1e-4);
    });
    const trainable = G.namedParameters().filter(([, p]) => p.requiresGrad).length;
    assert.equal(Object.keys(ex.steps[0]!.delta).length, trainable, 'every trainable parameter in the fixture');
    assert.equal(errors.filter((e) => e.what.startsWith('step 1 Δ')).length, trainable, 'every trainable parameter compared');
    assert.equal(errors.filter((e) => e.what.includes('teacher − G₀')).length, trainable, 'the EMA teacher compared');
    const worst = errors.reduce((a, b) => (b.rel > a.rel ? b : a));
    return `${errors.length} values compared; worst ${worst.what}: ${worst.rel.toExponential(2)}`;
  } finally {
    m.dispose(); G.dispose();
    for (const x of w0.values()) x.dispose();
  }
}

test('MIC on DACS = the PyTorch twin over 3 steps (losses, Δw, EMA teacher, BN statistics, momentum)', (t) => {
  t.diagnostic(checkTwin(ex));
});

test('MIC with a masked-loss threshold of its own and BN statistics kept = the twin (a second EMA teacher, buffers put back)', (t) => {
  const variant = loadFixture<Twin>('mic/expected-variant.json');
  assert.deepEqual([variant.config.mask_pseudo_threshold, variant.config.bn_stats], [0.25, 'keep']);
  t.diagnostic(checkTwin(variant));
});

/** One step of `Method` on G from seed 0 with `patch`: the losses, G's parameters and buffers after it (host copies). */
function oneStep(Method: typeof Dacs, G: Segmentor, patch: Parameters<typeof withHyper>[1],
  size: number): { losses: Record<string, number>; w: Float32Array[]; bn: Float64Array[] } {
  const m = new Method(G, withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10, warmup: 0, segLoss: 'ce', ...patch }));
  torch.manualSeed(1);
  const log = torch.tidy(() => m.trainStep(0, { image: torch.randn([2, 3, size, size]), label: torch.randint(0, 4, [2, size, size]) },
    { image: torch.randn([2, 3, size, size]), size: [size, size] }));
  const w = G.parameters().map((p) => Float32Array.from(p.toArray()));
  const bn = G.namedBuffers().map(([, b]) => Float64Array.from(b.toArray(), Number));
  m.dispose(); G.dispose();
  return { losses: log.losses, w, bn };
}

test('λ_mask = 0: the base method\'s step bit for bit (DACS and HRDA), the masked loss 0; MIC draws after the base', () => {
  const dacs = (Method: typeof Dacs, lambda: number) => { torch.manualSeed(0); return oneStep(Method, createSegmentor('micro', 4), { dacs: { pseudoThreshold: 0.2 }, mic: { lambda } }, 32); };
  const [base, off, on] = [dacs(Dacs, 1), dacs(Mic, 0), dacs(Mic, 1)];
  assert.equal(off.losses.masked, 0);
  assert.deepEqual([off.losses.seg, off.losses.mix], [base.losses.seg, base.losses.mix]);
  off.w.forEach((p, k) => assert.deepEqual(p, base.w[k], `micro parameter ${k}`));
  assert.ok(on.losses.masked! > 0, `masked ${on.losses.masked}`);
  assert.ok(on.w.some((p, k) => p.some((v, j) => v !== base.w[k]![j])), 'λ_mask = 1 moves G further');
  const hrda = (Method: typeof Dacs, lambda: number) => {
    torch.manualSeed(0);
    return oneStep(Method, tinyHrda(4), { dacs: { pseudoThreshold: 0.2 }, mic: { lambda } }, 32);
  };
  const [hBase, hOff] = [hrda(Hrda, 1), hrda(MicHrda, 0)];
  assert.deepEqual(Object.keys(hOff.losses), ['seg', 'seg_detail', 'mix', 'mix_detail', 'masked']);
  assert.equal(hOff.losses.masked, 0);
  hOff.w.forEach((p, k) => assert.deepEqual(p, hBase.w[k], `hrda parameter ${k}`));
});

test('bnStats keep: G\'s BN running statistics after a MIC step are DACS\'s bit for bit, its weights are not; update moves them', () => {
  const step = (Method: typeof Dacs, bnStats: 'update' | 'keep') => {
    torch.manualSeed(0);
    return oneStep(Method, createSegmentor('micro', 4), { dacs: { pseudoThreshold: 0.2 }, mic: { bnStats } }, 32);
  };
  const [base, keep, update] = [step(Dacs, 'keep'), step(Mic, 'keep'), step(Mic, 'update')];
  assert.ok(base.bn.length >= 4, `${base.bn.length} buffers`);
  keep.bn.forEach((b, k) => assert.deepEqual(b, base.bn[k], `buffer ${k}`));
  assert.ok(update.bn.some((b, k) => b.some((v, j) => v !== base.bn[k]![j])), 'update: the masked batch moves the running statistics');
  assert.deepEqual([keep.losses.seg, keep.losses.mix, keep.losses.masked], [update.losses.seg, update.losses.mix, update.losses.masked], 'same losses');
  keep.w.forEach((p, k) => assert.deepEqual(p, update.w[k], `parameter ${k}: the gradients do not depend on the running statistics`));
  assert.ok(keep.w.some((p, k) => p.some((v, j) => v !== base.w[k]![j])), 'the masked loss still moves G');
});

test('mic.pseudoThreshold: null is the base method\'s τ bit for bit; a lower one weighs more pixels (per-pixel weight)', () => {
  const run = (mic: Record<string, unknown>) => { torch.manualSeed(0); return oneStep(Mic, createSegmentor('micro', 4), { dacs: { pseudoThreshold: 0.4, pseudoWeight: 'pixel' }, mic }, 32); };
  const [same, explicit, low, all] = [run({}), run({ pseudoThreshold: 0.4 }), run({ pseudoThreshold: 0.3 }), run({ pseudoThreshold: 0 })];
  assert.deepEqual(explicit.losses, same.losses);
  explicit.w.forEach((p, k) => assert.deepEqual(p, same.w[k], `parameter ${k}`));
  assert.deepEqual([low.losses.seg, low.losses.mix], [same.losses.seg, same.losses.mix], 'the mixed loss keeps DACS\'s τ');
  assert.ok(same.losses.masked! < low.losses.masked! && low.losses.masked! < all.losses.masked!,
    `masked: τ 0.4 ${same.losses.masked}, 0.3 ${low.losses.masked}, 0 ${all.losses.masked}`);
});

test('mic.pseudoWeight: null is the base method\'s weighting bit for bit; share and pixel agree where every pixel is confident', () => {
  const run = (tau: number, mic: Record<string, unknown>) => {
    torch.manualSeed(0);
    return oneStep(Mic, createSegmentor('micro', 4), { dacs: { pseudoThreshold: 0.4, pseudoWeight: 'pixel' }, mic: { pseudoThreshold: tau, ...mic } }, 32);
  };
  const [same, pixel, share] = [run(0.4, {}), run(0.4, { pseudoWeight: 'pixel' }), run(0.4, { pseudoWeight: 'share' })];
  assert.deepEqual(pixel.losses, same.losses);
  pixel.w.forEach((p, k) => assert.deepEqual(p, same.w[k], `parameter ${k}`));
  assert.deepEqual([share.losses.seg, share.losses.mix], [same.losses.seg, same.losses.mix], 'the mixed loss keeps DACS\'s weighting');
  // share puts the batch's share of confident pixels on every pixel, so it also trains the unconfident ones
  assert.notEqual(share.losses.masked, pixel.losses.masked);
  // at τ_m 0 every pixel is confident: the share is 1 and both weights are 1 everywhere
  const [allPixel, allShare] = [run(0, { pseudoWeight: 'pixel' }), run(0, { pseudoWeight: 'share' })];
  assert.equal(allShare.losses.masked, allPixel.losses.masked);
});

test('MIC on DAFormer: λ_mask = 0 is DAFormer\'s step bit for bit (feature distance, jitter and blur on), λ_mask = 1 adds the masked loss', () => {
  // every pixel in the feature distance (K = 4 has no Cityscapes thing class); --init given, as the method requires
  const patch = (lambda: number) => ({ initWeights: true, dacs: { pseudoThreshold: 0.2 }, daformer: { fdClasses: null }, mic: { lambda } });
  const daf = (Method: typeof Dacs, lambda: number) => { torch.manualSeed(0); return oneStep(Method, tinyMit(4), patch(lambda), 32); };
  const [base, off, on] = [daf(Daformer, 1), daf(MicDaformer, 0), daf(MicDaformer, 1)];
  assert.deepEqual(Object.keys(off.losses), ['seg', 'fd', 'mix', 'masked']);
  assert.equal(off.losses.masked, 0);
  assert.deepEqual([off.losses.seg, off.losses.fd, off.losses.mix], [base.losses.seg, base.losses.fd, base.losses.mix]);
  off.w.forEach((p, k) => assert.deepEqual(p, base.w[k], `mit parameter ${k}`));
  assert.ok(on.losses.masked! > 0, `masked ${on.losses.masked}`);
  assert.ok(on.w.some((p, k) => p.some((v, j) => v !== base.w[k]![j])), 'λ_mask = 1 moves G further');
});

test('MIC on HRDA: the masked images take HRDA\'s loss on a detail crop of their own; a refusal names the backbone', () => {
  torch.manualSeed(0);
  const G = tinyHrda(4);
  const m = new MicHrda(G, withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10, warmup: 0, segLoss: 'ce', dacs: { pseudoThreshold: 0.2 } }));
  torch.manualSeed(2);
  const log = torch.tidy(() => m.trainStep(0, { image: torch.randn([2, 3, 32, 32]), label: torch.randint(0, 4, [2, 32, 32]) },
    { image: torch.randn([2, 3, 32, 32]), size: [32, 32] }));
  const box = (m as unknown as Hrda).lastCropBoxes.masked;
  assert.ok(box !== null && box[1] - box[0] === 16 && box[3] - box[2] === 16, `the masked batch's detail crop: ${JSON.stringify(box)}`);
  assert.ok(Number.isFinite(log.losses.masked) && log.losses.masked! > 0, `masked ${log.losses.masked}`);
  m.dispose(); G.dispose();
  const micro = createSegmentor('micro', 4);
  assert.throws(() => new MicHrda(micro, DEFAULT_METHOD_CONFIG), /pass --backbone hrda-mit-b5/);
  micro.dispose();
});

/** Two steps of `Method` (on `net()` from seed 2) from seed 0 on fixed batches: each step's losses, G's parameters and
 * the generator's state after. */
function twoSteps(Method: typeof Dacs, net: () => Segmentor, patch: Parameters<typeof withHyper>[1]): {
  losses: Record<string, number>[]; w: Float32Array[]; rng: Uint8Array;
} {
  torch.manualSeed(2);
  const G = net();
  torch.manualSeed(1);
  const [source, target] = [{ image: torch.randn([2, 3, 32, 32]), label: torch.randint(0, 4, [2, 32, 32]) },
    { image: torch.randn([2, 3, 32, 32]), size: [32, 32] as [number, number] }];
  torch.manualSeed(0);
  const m = new Method(G, withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10, warmup: 0, segLoss: 'ce', ...patch }));
  const losses = [0, 1].map((i) => torch.tidy(() => m.trainStep(i, source, target)).losses);
  const out = { losses, w: G.parameters().map((p) => Float32Array.from(p.toArray())), rng: torch.getRngState() };
  m.dispose(); G.dispose();
  for (const t of [source.image, source.label, target.image]) t.dispose();
  return out;
}

test('mic.draws own: the base method\'s draws are a run of it alone (λ_mask = 0 is DACS bit for bit over two steps); shared shifts them', () => {
  const run = (Method: typeof Dacs, mic: Record<string, unknown>) =>
    twoSteps(Method, () => createSegmentor('micro', 4), { dacs: { pseudoThreshold: 0.2 }, mic });
  // bnStats keep: else the masked batch's BN statistics (λ_mask = 0 or not) reach the teacher's pseudo-labels at step 2
  const [base, ownOff, own, shared] = [run(Dacs, {}), run(Mic, { draws: 'own', lambda: 0, bnStats: 'keep' }), run(Mic, { draws: 'own' }), run(Mic, {})];
  ownOff.w.forEach((p, k) => assert.deepEqual(p, base.w[k], `parameter ${k}`));
  assert.deepEqual(ownOff.losses.map((l) => [l.seg, l.mix]), base.losses.map((l) => [l.seg, l.mix]));
  assert.deepEqual(own.rng, base.rng, 'own: the generator after two MIC steps is where two DACS steps leave it');
  assert.notDeepEqual(shared.rng, base.rng, 'shared: MIC\'s draws move the generator on');
  assert.ok(own.losses.every((l) => l.masked! > 0), `masked ${own.losses.map((l) => l.masked).join(', ')}`);
  // the first step's losses come before any of MIC's draws: the same in both modes; the masks differ (own stream)
  assert.deepEqual([own.losses[0]!.seg, own.losses[0]!.mix], [shared.losses[0]!.seg, shared.losses[0]!.mix]);
  assert.notEqual(own.losses[0]!.masked, shared.losses[0]!.masked);
  // on HRDA the masked batch's detail crop is drawn from MIC's stream too
  const hrda = (Method: typeof Dacs, mic: Record<string, unknown>) =>
    twoSteps(Method, () => tinyHrda(4), { dacs: { pseudoThreshold: 0.2 }, mic });
  assert.deepEqual(hrda(MicHrda, { draws: 'own' }).rng, hrda(Hrda, {}).rng, 'HRDA: the generator where HRDA alone leaves it');
});
