// The FLOP counter (bench/flops.ts): hand-computed convs, pools and a bottleneck; the micro backbone and its D at
// 64×64 by hand arithmetic; and, independently of the walk, the convs hooked while a real CLAN iteration runs.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { Conv2d, type Tensor } from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { Bottleneck, Downsample } from '../models/deeplab.js';
import { DeepLabVGG } from '../models/vgg.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { Clan } from '../methods/clan.js';
import { DEFAULT_METHOD_CONFIG } from '../methods/config.js';
import { clanIterationFlops, convSites, outLength, passFlops, type Size } from './flops.js';

/** 2·Cin·k²·Cout·hw²: a square k×k conv (groups 1) with an hw×hw output, by hand. */
const c = (cin: number, cout: number, k: number, hw: number): number => 2 * cin * k * k * cout * hw * hw;
const only = (conv: Conv2d, size: Size) => convSites(conv, size).map((s) => [s.out, s.flops]);

test('a single conv: 2·Cin/groups·kh·kw·Cout·Hout·Wout, output size from stride and padding', () => {
  assert.deepEqual(only(new Conv2d(3, 8, 3, { padding: 1 }), [10, 10]), [[[10, 10], 2 * 3 * 9 * 8 * 100]]); // 43200
  // 3×5 kernel, stride (2, 1), padding (1, 2) on 11×7: ⌊(11 + 2 − 2 − 1)/2⌋ + 1 = 6, ⌊(7 + 4 − 4 − 1)/1⌋ + 1 = 7
  assert.deepEqual(only(new Conv2d(3, 8, [3, 5], { stride: [2, 1], padding: [1, 2] }), [11, 7]), [[[6, 7], 2 * 3 * 15 * 8 * 42]]);
  // groups 4: each output channel sees 8/4 = 2 input channels
  assert.deepEqual(only(new Conv2d(8, 8, 3, { padding: 1, groups: 4 }), [4, 4]), [[[4, 4], 2 * 2 * 9 * 8 * 16]]);
  // D's 4×4 stride-2 conv on 65: ⌊(65 + 2 − 3 − 1)/2⌋ + 1 = 32
  assert.deepEqual(only(new Conv2d(19, 64, 4, { stride: 2, padding: 1 }), [65, 64]), [[[32, 32], 2 * 19 * 16 * 64 * 32 * 32]]);
});

test('a module with no FLOP rule is an error naming it, not zero FLOPs', () => {
  class Mystery extends torch.Module {}
  assert.throws(() => convSites(new Mystery(), [8, 8]), /no FLOP rule for module '\(root\)' \(Mystery\)/);
});

test('a dilated conv: the kernel spans d·(k − 1) + 1', () => {
  assert.deepEqual(only(new Conv2d(16, 4, 3, { padding: 2, dilation: 2 }), [9, 9]), [[[9, 9], 93312]]); // 2·16·9·4·81
  assert.deepEqual(only(new Conv2d(16, 4, 3, { dilation: 2 }), [9, 9]), [[[5, 5], 28800]]);             // 9 − 4 = 5
  assert.deepEqual(only(new Conv2d(128, 19, 3, { padding: 24, dilation: 24 }), [9, 9]), [[[9, 9], c(128, 19, 3, 9)]]); // ASPP branch
});

test('pool arithmetic, floor and ceil mode, as PyTorch 1.13 gives it', () => {
  // the stem pool 3×3/2 pad 1 ceil: torch.nn.functional.max_pool2d(..., 3, 2, 1, ceil_mode=True) on 64, 65, 32, 9, 8
  assert.deepEqual([64, 65, 32, 9, 8].map((n) => outLength(n, 3, 2, 1, 1, true)), [33, 33, 17, 5, 5]);
  assert.equal(outLength(7, 3, 2, 1), 4);
  // ceil would start a last window inside the right padding (4 + 2·1 − 1 − 1 = 4, ⌈4/3⌉ + 1 = 3): PyTorch drops it → 2
  assert.equal(outLength(4, 2, 3, 1, 1, true), 2);
  assert.throws(() => outLength(2, 7, 1, 0), /does not fit an input of 2/);
});

test('a bottleneck: main path and shortcut on the block input; backward counts input and weight gradients', () => {
  // 8 → planes 4 → 16, stride 2 on the first 1×1 and on the shortcut: every conv outputs ⌊(9 − 1)/2⌋ + 1 = 5
  const b = new Bottleneck(8, 4, 2, 1, new Downsample(8, 16, 2));
  const sites = convSites(b, [9, 9]);
  assert.deepEqual(sites.map((s) => [s.name, s.out, s.flops, s.readsInput]), [
    ['conv1', [5, 5], 2 * 8 * 4 * 25, true],          // 1600
    ['conv2', [5, 5], 2 * 4 * 9 * 4 * 25, false],     // 7200
    ['conv3', [5, 5], 2 * 4 * 16 * 25, false],        // 3200
    ['downsample.0', [5, 5], 2 * 8 * 16 * 25, true],  // 6400
  ]);
  assert.deepEqual(passFlops(b, [9, 9], { backward: true, inputNeedsGrad: false, trainWeights: true }),
    { forward: 18400, inputGrad: 7200 + 3200, weightGrad: 18400 });
  assert.deepEqual(passFlops(b, [9, 9], { backward: true, inputNeedsGrad: true, trainWeights: false }),
    { forward: 18400, inputGrad: 18400, weightGrad: 0 });
  b.conv2.weight.requiresGrad = false; // a frozen weight gets no weight gradient
  assert.equal(passFlops(b, [9, 9], { backward: true, inputNeedsGrad: false, trainWeights: true }).weightGrad, 18400 - 7200);
  b.dispose();
});

// micro (bottleneck, one block per stage, width 4, 19 classes) at 64×64: stem 7×7/2 → 32², pool → 17², layer1 at
// 17², layer2 (stride 2) and the dilated layer3/4 at 9², each block with its downsample; 2 heads × 4 ASPP branches.
const MICRO_G = c(3, 4, 7, 32)
  + c(4, 4, 1, 17) + c(4, 4, 3, 17) + c(4, 16, 1, 17) + c(4, 16, 1, 17)
  + c(16, 8, 1, 9) + c(8, 8, 3, 9) + c(8, 32, 1, 9) + c(16, 32, 1, 9)
  + c(32, 16, 1, 9) + c(16, 16, 3, 9) + c(16, 64, 1, 9) + c(32, 64, 1, 9)
  + c(64, 32, 1, 9) + c(32, 32, 3, 9) + c(32, 128, 1, 9) + c(64, 128, 1, 9)
  + 8 * c(128, 19, 3, 9);
// FCDiscriminator(19, ndf 64) at 64×64: 32², 16², 8², 4², 2²
const MICRO_D = c(19, 64, 4, 32) + c(64, 128, 4, 16) + c(128, 256, 4, 8) + c(256, 512, 4, 4) + c(512, 1, 4, 2);

test('micro at 64×64 by hand: G and D forwards, and the iteration total', () => {
  const G = createSegmentor('micro', 19); const D = new FCDiscriminator(19, 64);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  assert.equal(sum(convSites(G, [64, 64]).map((s) => s.flops)), MICRO_G); // 34 745 280
  assert.equal(sum(convSites(D, [64, 64]).map((s) => s.flops)), MICRO_D); // 241 238 016
  const it = clanIterationFlops(G, D, [64, 64], [64, 64]);
  // G: 2 passes of forward + weight gradients + input gradients but conv1's; D: the frozen pass (forward + input
  // gradients of all 5 convs), then 2 passes of forward + weight gradients + input gradients but conv1's
  assert.deepEqual(it.G, { forward: 2 * MICRO_G, inputGrad: 2 * (MICRO_G - c(3, 4, 7, 32)), weightGrad: 2 * MICRO_G });
  assert.deepEqual(it.D, { forward: 3 * MICRO_D, inputGrad: MICRO_D + 2 * (MICRO_D - c(19, 64, 4, 32)), weightGrad: 2 * MICRO_D });
  assert.equal(it.total, 2056275584);
  G.dispose(); D.dispose();
});

/** Forward FLOPs and output sizes of every Conv2d call while `fn` runs, from the real output tensors. */
function hookConvs(t: TestContext, fn: () => void): { flops: number; calls: string[] } {
  const forward = Conv2d.prototype.forward;
  let flops = 0; const calls: string[] = [];
  const hook = t.mock.method(Conv2d.prototype, 'forward', function (this: Conv2d, x: Tensor): Tensor {
    const y = forward.call(this, x);
    const [, cout, ho, wo] = y.shape as [number, number, number, number];
    const [, cinPerGroup, kh, kw] = this.weight.shape as [number, number, number, number];
    flops += 2 * cinPerGroup * kh * kw * cout * ho * wo;
    calls.push(`${ho}x${wo}`);
    return y;
  });
  try { fn(); } finally { hook.mock.restore(); }
  return { flops, calls };
}

test('the walk agrees with the convs hooked at run time: generator forwards (stem pool, no pool, VGG)', (t) => {
  torch.manualSeed(0);
  const nets: [string, torch.Module & { forward(x: Tensor): [Tensor, Tensor] }, Size][] = [
    ['micro', createSegmentor('micro', 19), [64, 64]],
    ['tiny-os4', createSegmentor('tiny-os4', 5), [37, 50]],
    ['vgg16 narrow', new DeepLabVGG({ arch: 'vgg16', width: 2, numClasses: 3 }), [45, 61]],
  ];
  for (const [name, G, [h, w]] of nets) {
    const x = torch.randn([1, 3, h, w]);
    const hooked = hookConvs(t, () => { torch.tidy(() => torch.noGrad(() => G.forward(x))); });
    const sites = convSites(G, [h, w]);
    assert.deepEqual(sites.map((s) => s.out.join('x')), hooked.calls, name);
    assert.equal(sites.reduce((a, s) => a + s.flops, 0), hooked.flops, name);
    const convs = G.namedModules().filter(([, m]) => m instanceof Conv2d).map(([n]) => n);
    assert.deepEqual(sites.map((s) => s.name).sort(), convs.sort(), `${name}: each conv once, by its state-dict name`);
    x.dispose(); G.dispose();
  }
});

test('the iteration\'s forward passes are the ones a real CLAN step runs (source 64×64, target 48×80)', (t) => {
  torch.manualSeed(0);
  const G = createSegmentor('micro', 19);
  const clan = new Clan(G, DEFAULT_METHOD_CONFIG);
  const xs = torch.randn([1, 3, 64, 64]); const ys = torch.randint(0, 19, [1, 64, 64]); const xt = torch.randn([1, 3, 48, 80]);
  const hooked = hookConvs(t, () => { clan.trainStep(6000, { image: xs, label: ys }, { image: xt, size: [48, 80] }); });
  const it = clanIterationFlops(G, clan.D, [64, 64], [48, 80]);
  assert.equal(hooked.flops, it.G.forward + it.D.forward);
  // G source, G target (25 convs each), then D (5 convs) on the target (frozen), the source and the target
  assert.equal(hooked.calls.length, 2 * convSites(G, [64, 64]).length + 3 * 5);
  clan.dispose(); G.dispose(); xs.dispose(); ys.dispose(); xt.dispose();
});
