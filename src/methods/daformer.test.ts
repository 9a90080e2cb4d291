// DAFormer's pieces against hand-computed values: mmcv's warm-up + poly schedule, the colour jitter (kornia's HSV
// conversions), the blur kernel and border, the label scale-down and the thing-class feature distance; AdamW's groups;
// the one-line refusals. The iteration against its PyTorch twin is the last test (test/fixtures/daformer/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { drawState, hashed, tinyMit } from '../models/models.testing.js';
import { loadFixture } from '../torch/torch.testing.js';
import { createSegmentor } from '../models/registry.js';
import { ClanError } from '../util/errors.js';
import { DEFAULT_METHOD_CONFIG, withHyper } from './config.js';
import { mmcvPolyWarmAt } from './schedule.js';
import { blurKernelSize, colorJitter, fromUnit, gaussianBlur, hsvToRgb, rgbToHsv, toUnit } from './augment.js';
import { Daformer, downscaleLabel, thingFeatureDistance } from './daformer.js';
import { adamwGroups } from './uda.js';
import { labelBlocks, sketchError, type Sketch } from './methods.testing.js';
import type { StrongAugDraws } from './augment.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);
const px = (r: number, g: number, b: number) => torch.tensor([r, g, b]).view(1, 3, 1, 1);
const rounded = (t: torch.Tensor, digits: number) => t.toArray().map((v) => +v.toFixed(digits));

test('mmcv poly with linear warm-up (DAFormer poly10warm: 6e-5, 1500 warm-up, ratio 1e-6, power 1, 40k)', () => {
  const s = { maxIter: 40000, warmup: 1500, power: 1, warmupRatio: 1e-6 };
  close(mmcvPolyWarmAt(6e-5, 0, s), 6e-11, 1e-20, 'i = 0: ratio × poly(0)');
  // i = 750: poly 6e-5·(1 − 750/40000) = 5.8875e-5, × (1 − 0.5·(1 − 1e-6)) = 0.5000005
  close(mmcvPolyWarmAt(6e-5, 750, s), 5.8875e-5 * 0.5000005, 1e-18, 'i = 750');
  close(mmcvPolyWarmAt(6e-5, 1500, s), 6e-5 * 0.9625, 1e-18, 'i = 1500: poly only');
  close(mmcvPolyWarmAt(6e-5, 20000, { ...s, power: 0.9 }), 6e-5 * 0.5 ** 0.9, 1e-18, 'power 0.9');
  assert.equal(mmcvPolyWarmAt(6e-5, 40000, s), 0);
  close(mmcvPolyWarmAt(1, 2000, { ...s, minLr: 0.1 }), 0.9 * 0.95 + 0.1, 1e-12, 'min_lr');
});

test('colour jitter: brightness adds b − 1, contrast multiplies, both clamp to [0, 1]; order matters', () => torch.tidy(() => {
  const u = px(0.5, 0.2, 0.9);
  assert.deepEqual(rounded(colorJitter(u, [1.2, 1, 1, 0], [0]), 6), [0.7, 0.4, 1]);
  assert.deepEqual(rounded(colorJitter(u, [1, 1.2, 1, 0], [1]), 6), [0.6, 0.24, 1]);
  // brightness then contrast: (0.9 + 0.2 → 1) × 0.8 = 0.8; contrast then brightness: 0.72 + 0.2 = 0.92
  close(colorJitter(u, [1.2, 0.8, 1, 0], [0, 1]).toArray()[2]!, 0.8, 1e-6, 'b then c');
  close(colorJitter(u, [1.2, 0.8, 1, 0], [1, 0]).toArray()[2]!, 0.92, 1e-6, 'c then b');
}));

test('HSV as kornia: red, green, blue hues 0, 2π/3, 4π/3; s = Δ/(v + 1e-6); a hue shift of 1/3 turn maps red to green', () => torch.tidy(() => {
  const hue = (r: number, g: number, b: number) => rgbToHsv(px(r, g, b))[0].item();
  close(hue(1, 0, 0), 0, 1e-6, 'red'); close(hue(0, 1, 0), 2 * Math.PI / 3, 1e-6, 'green'); close(hue(0, 0, 1), 4 * Math.PI / 3, 1e-6, 'blue');
  close(hue(1, 0, 1), 5 * Math.PI / 3, 1e-6, 'magenta');
  const [h, s, v] = rgbToHsv(px(0.8, 0.4, 0.2));
  close(s.item(), 0.6 / (0.8 + 1e-6), 1e-6, 's'); close(v.item(), 0.8, 1e-7, 'v');
  close(h.item(), 2 * Math.PI * (0.2 / 0.6) / 6, 1e-6, 'orange: (g − b)/Δ/6 of a turn');
  assert.deepEqual(rounded(hsvToRgb(h, s, v), 5), [0.8, 0.4, 0.2], 'round trip');
  assert.deepEqual(rounded(colorJitter(px(1, 0, 0), [1, 1, 1, 1 / 3], [3]), 5), [0, 1, 0]);
  assert.deepEqual(rounded(colorJitter(px(0, 1, 0), [1, 1, 1, -1 / 3], [3]), 5), [1, 0, 0], 'a negative shift wraps');
  // saturation ×0.5 of orange: s 0.75 → 0.375, min = v·(1 − s) = 0.5; hue f = 1/3 keeps g = v·(1 − (1 − f)·s) = 0.6
  assert.deepEqual(rounded(colorJitter(px(0.8, 0.4, 0.2), [1, 1, 0.5, 0], [2]), 4), [0.8, 0.6, 0.5]);
}));

test('normalisation round trip: caffe (BGR − mean) and imagenet ((x/255 − mean)/std) to RGB in [0, 1] and back', () => torch.tidy(() => {
  const caffe = torch.tensor([255 - 104.00698793, 0 - 116.66876762, 51 - 122.67891434]).view(1, 3, 1, 1);   // B 255, G 0, R 51
  assert.deepEqual(rounded(toUnit(caffe, 'caffe'), 5), [0.2, 0, 1]);
  close(fromUnit(toUnit(caffe, 'caffe'), 'caffe').sub(caffe).abs().max().item(), 0, 1e-4, 'caffe back');
  const im = torch.tensor([(0.5 - 0.485) / 0.229, (0.25 - 0.456) / 0.224, (1 - 0.406) / 0.225]).view(1, 3, 1, 1);
  assert.deepEqual(rounded(toUnit(im, 'imagenet'), 5), [0.5, 0.25, 1]);
}));

test('blur: DAFormer\'s kernel sides (⌈0.1·n⌉ made odd), a normalised Gaussian, reflect border', () => torch.tidy(() => {
  assert.deepEqual([512, 1024, 64, 32, 720, 1280].map(blurKernelSize), [51, 103, 7, 3, 71, 127]);
  const flat = torch.full([1, 3, 32, 20], 0.7);
  close(gaussianBlur(flat, 0.8).sub(0.7).abs().max().item(), 0, 1e-6, 'a constant image stays constant (border too)');
  // a unit impulse at (0, 0) of a 32×32 image (kernel 3×3): reflect puts its mirror at none (−1 ↦ 1), so out(0,0) = g0²,
  // out(1, 0) = g1·g0 + g1·g0 (the impulse and its reflection at row −1 ↦ row 1 contribute to row 0 only)
  const sigma = 0.5, e = Math.exp(-1 / (2 * sigma ** 2)), g0 = 1 / (1 + 2 * e), g1 = e / (1 + 2 * e);
  const imp = torch.zeros([1, 1, 32, 32]); imp.slice(2, 5, 6).slice(3, 7, 8).fill_(1);
  const out = gaussianBlur(imp, sigma);
  close(out.slice(2, 5, 6).slice(3, 7, 8).item(), g0 * g0, 1e-7, 'centre');
  close(out.slice(2, 4, 5).slice(3, 7, 8).item(), g1 * g0, 1e-7, 'above');
  close(out.slice(2, 4, 5).slice(3, 6, 7).item(), g1 * g1, 1e-7, 'diagonal');
  const edge = torch.zeros([1, 1, 32, 32]); edge.slice(2, 1, 2).slice(3, 7, 8).fill_(1);
  close(gaussianBlur(edge, sigma).slice(2, 0, 1).slice(3, 7, 8).item(), 2 * g1 * g0, 1e-7, 'row 0 sees row 1 and its reflection');
}));

test('downscaleLabel: the block majority (255 a class of its own) when it covers ≥ minRatio, else 255; feature distance over thing pixels', () => torch.tidy(() => {
  // 4×4 → 2×2 blocks: [3,3,3,1] 0.75 → 3; [2,2,255,255] 0.5 → 255; [255,255,255,0] 0.75 ignore → 255; [1,1,1,1] → 1
  const label = torch.tensor([[[3, 3, 2, 2], [3, 1, 255, 255], [255, 255, 1, 1], [255, 0, 1, 1]]]).to('int64');
  assert.deepEqual(downscaleLabel(label, 2, 0.75, 4).toArray(), [3, 255, 255, 1]);
  assert.deepEqual(downscaleLabel(label, 2, 0.5, 4).toArray(), [3, 2, 255, 1], 'ties: the lower class (2 before 255)');
  const f0 = torch.zeros([1, 2, 2, 2]);
  const f = torch.tensor([3, 0, 0, 1, 4, 0, 0, 0]).view(1, 2, 2, 2);        // ‖·‖ per pixel: 5, 0, 0, 1
  close(thingFeatureDistance(f, f0, label, { classes: [3, 1], minRatio: 0.75, numClasses: 4 }).item(), 3, 1e-6, 'mean of 5 and 1');
  close(thingFeatureDistance(f, f0, label, { classes: [3], minRatio: 0.75, numClasses: 4 }).item(), 5, 1e-6, 'class 3 only');
  close(thingFeatureDistance(f, f0, label, { classes: null, minRatio: 0.75, numClasses: 4 }).item(), 1.5, 1e-6, 'every pixel');
  assert.equal(thingFeatureDistance(f, f0, label, { classes: [2], minRatio: 0.75, numClasses: 4 }).item(), 0, 'no thing pixel: 0, not NaN');
}));

test('AdamW groups as DAFormer\'s paramwise_cfg: backbone norms and pos_block without decay, the head at 10× with decay', () => {
  const G = tinyMit(3);
  const groups = adamwGroups(G, { weightDecay: 0.01, headLrMult: 10 });
  const keyOf = new Map(G.namedParameters().map(([k, p]) => [p, k]));
  const keys = groups.map((g) => g.params.map((p) => keyOf.get(p)!));
  assert.deepEqual(groups.map((g) => [g.lrMult, g.weightDecay]), [[1, 0.01], [1, 0], [10, 0.01]]);
  // MiT has no pos_block (its position comes from the Mix-FFN's depthwise conv): the norms alone, 8 LayerNorms × 2 here
  assert.ok(keys[1]!.every((k) => /^backbone\..*norm/.test(k)) && keys[1]!.length === 32, keys[1]!.join(' '));
  assert.ok(keys[0]!.every((k) => k.startsWith('backbone.') && !/norm|pos_block/.test(k)));
  assert.ok(keys[2]!.every((k) => k.startsWith('decode_head.')));
  assert.equal(keys.flat().length, G.parameters().length, 'every parameter once');
  const m = new Daformer(G, withHyper(DEFAULT_METHOD_CONFIG, { optimizerG: 'adamw', lrG: 6e-5, weightDecay: 0.01, maxIter: 40000, warmup: 1500, power: 1, daformer: { fdLambda: 0 } }));
  assert.ok(m.optG instanceof torch.AdamW);
  assert.deepEqual(m.optG.groups.map((g) => g.hp.weightDecay), [0.01, 0, 0.01]);
  assert.deepEqual([...m.lossKeys], ['seg', 'mix'], 'no fd key without the feature distance');
  m.dispose(); G.dispose();
});

test('daformer refuses in one line: another network, the feature distance without --init', () => {
  const micro = createSegmentor('micro', 3);
  assert.throws(() => new Daformer(micro, DEFAULT_METHOD_CONFIG), (e: unknown) => e instanceof ClanError && /pass --backbone mit-b5/.test((e as Error).message));
  micro.dispose();
  const G = tinyMit(3);
  assert.throws(() => new Daformer(G, DEFAULT_METHOD_CONFIG), /feature distance \(hyper\.daformer\.fdLambda\) .* pass --init .* or --set hyper\.daformer\.fdLambda=0/);
  G.dispose();
});

/** daformer_parity.py comparable: the value half of a MiT kv.bias (the key half's gradient is rounding noise, see there). */
const comparable = (k: string, t: torch.Tensor) => (k.endsWith('attn.kv.bias') ? t.slice(0, t.size(0) / 2, t.size(0)) : t);

interface Step {
  i: number; lr_G: number; seg: number; fd: number; mix: number; share: number; fd_pixels: number; aug: Sketch;
  draws: StrongAugDraws; delta: Record<string, Sketch>; teacher?: Record<string, Sketch>; bn: Record<string, Sketch>;
  bn_teacher: Record<string, Sketch>; adam?: Record<string, [Sketch, Sketch]>;
}
interface Config {
  num_classes: number; batch: number; size: [number, number]; ema_alpha: number; pseudo_threshold: number; lambda_mix: number;
  lr_G: number; head_lr_mult: number; weight_decay: number; betas: [number, number]; max_iter: number; warmup: number; power: number;
  warmup_ratio: number; jitter_p: number; jitter_s: number; blur: boolean; fd_lambda: number; fd_classes: number[]; fd_min_ratio: number;
  normalize: 'imagenet'; seed: number; image_salts: number[]; label_salts: number[];
}

// Step 1 is compared as hrda.test.ts compares (Δw to 1e-4 of its scale); step 2's Δw only to 5e-2: AdamW's second step
// divides m̂ by √v̂ of two gradients that often nearly cancel, so rounding-level differences of the first step (float
// sums in another order) come out of it magnified — a wrong formula or draw still misses by far more. The same holds in
// step 1 for the dilation-18 ASPP branch (on a 16×16 map only its centre tap sees data, through BN its gradients are
// ~1e-8, AdamW's eps): 1e-3 there.
test('DAFormer iteration = the PyTorch twin over 2 steps (draws, losses, lr, Δw, EMA teacher, BN statistics, AdamW moments)', (t) => {
  const ex = loadFixture<{ config: Config; steps: Step[] }>('daformer/expected.json');
  const c = ex.config;
  const [n, [h, w], K] = [c.batch, c.size, c.num_classes];
  torch.setNumThreads(1);
  torch.manualSeed(0);
  const G = createSegmentor('mit-b0', K);
  drawState(G);
  const m = new Daformer(G, withHyper(DEFAULT_METHOD_CONFIG, {
    maxIter: c.max_iter, warmup: c.warmup, power: c.power, optimizerG: 'adamw', lrG: c.lr_G, headLrMult: c.head_lr_mult,
    weightDecay: c.weight_decay, beta1G: c.betas[0], beta2G: c.betas[1], segLoss: 'ce', normalize: c.normalize, initWeights: true,
    dacs: { emaAlpha: c.ema_alpha, pseudoThreshold: c.pseudo_threshold, lambdaMix: c.lambda_mix, pseudoWeight: 'share' },
    daformer: { colorJitterP: c.jitter_p, colorJitterS: c.jitter_s, blur: c.blur, warmupRatio: c.warmup_ratio, fdLambda: c.fd_lambda,
      fdClasses: c.fd_classes, fdScaleMinRatio: c.fd_min_ratio },
  }));
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
      const d = m.lastDraws!;
      assert.deepEqual([d.jitter, d.blur, d.orders], [ref.draws.jitter, ref.draws.blur, ref.draws.orders], `step ${s + 1}: augmentation switches and orders`);
      assert.deepEqual([d.factors, d.sigmas], [ref.draws.factors, ref.draws.sigmas], `step ${s + 1}: jitter factors and σ, the same doubles`);
      assert.ok(Math.abs(log.lrG - ref.lr_G) < 1e-15, `step ${s + 1}: lr ${log.lrG} vs ${ref.lr_G}`);
      // step 2's losses to 1e-3: they follow step 1's AdamW update, whose rounding differs by machine (1.4e-4 on CI's EPYC)
      for (const k of ['seg', 'fd', 'mix'] as const) {
        check(Math.abs(log.losses[k]! - ref[k]) / Math.abs(ref[k]), `step ${s + 1} loss ${k}`, s > 0 ? 1e-3 : 1e-5);
      }
      for (const [k, p] of G.namedParameters()) check(torch.tidy(() => sketchError(comparable(k, p.sub(w0.get(k)!)), ref.delta[k]!, k)), `step ${s + 1} Δ${k}`, s > 0 ? 5e-2 : k.includes('aspp_modules.3.') ? 1e-3 : 1e-4);
      for (const [k, b] of G.namedBuffers()) if (/running_(mean|var)$/.test(k)) check(sketchError(b, ref.bn[k]!, k), `step ${s + 1} G ${k}`, 1e-5);
      for (const [k, b] of m.teacher.namedBuffers()) if (/running_(mean|var)$/.test(k)) check(sketchError(b, ref.bn_teacher[k]!, k), `step ${s + 1} teacher ${k}`, 1e-5);
      if (ref.teacher) for (const [k, p] of m.teacher.namedParameters()) check(torch.tidy(() => sketchError(comparable(k, p.sub(w0.get(k)!)), ref.teacher![k]!, k)), `step ${s + 1} teacher − G₀ ${k}`, 1e-4);
      if (ref.adam) {
        const sd = m.optG.stateDict();
        m.optG.uniqueParams().forEach((p, idx) => {
          const k = names.get(p)!;
          check(torch.tidy(() => sketchError(comparable(k, sd.state[idx]!.exp_avg as torch.Tensor), ref.adam![k]![0], k)), `step ${s + 1} exp_avg ${k}`, 1e-4);
          check(torch.tidy(() => sketchError(comparable(k, sd.state[idx]!.exp_avg_sq as torch.Tensor), ref.adam![k]![1], k)), `step ${s + 1} exp_avg_sq ${k}`, 1e-4);
        });
      }
    }
    assert.equal(errors.filter((e) => e.what.startsWith('step 1 Δ')).length, G.parameters().length, 'every parameter compared');
    assert.ok(ex.steps.every((r) => r.draws.jitter && r.draws.blur && r.fd_pixels > 0), 'the fixture exercises jitter, blur and the feature distance');
    const worst = errors.reduce((a, b) => (b.rel > a.rel ? b : a));
    t.diagnostic(`${errors.length} values compared; worst ${worst.what}: ${worst.rel.toExponential(2)}`);
  } finally {
    m.dispose(); G.dispose();
    for (const x of w0.values()) x.dispose();
  }
});
