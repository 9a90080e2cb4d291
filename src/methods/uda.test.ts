// The G optimizer choice (optimizerG) and the OS-4 backbone the cpu preset uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { SourceOnly } from './source-only.js';
import { DEFAULT_METHOD_CONFIG, type MethodConfig } from './config.js';

function batch(): { image: torch.Tensor; label: torch.Tensor } {
  torch.manualSeed(3);
  return { image: torch.randn([2, 3, 32, 32]), label: torch.randint(0, 5, [2, 32, 32]) };
}

/** One source-only step at i = 1 (no warm-up: lr = lrG·(1 − 1/maxIter)^0.9); returns lr and every Δp with its grad. */
function oneStep(cfg: Partial<MethodConfig>): { lr: number; deltas: { d: Float32Array; g: Float32Array }[]; method: SourceOnly } {
  torch.manualSeed(0);
  const G = createSegmentor('micro', 5);
  const m = new SourceOnly(G, { ...DEFAULT_METHOD_CONFIG, maxIter: 10, warmup: 0, headLrMult: 1, weightDecay: 0, ...cfg });
  const params = [...G.backboneParameters(), ...G.headParameters()];
  const before = params.map((p) => Float32Array.from(p.toArray()));
  const b = batch();
  const log = m.trainStep(1, b);
  const deltas = params.map((p, k) => {
    const after = Float32Array.from(p.toArray());
    return { d: after.map((v, j) => v - before[k]![j]!), g: Float32Array.from(p.grad!.toArray()) };
  });
  b.image.dispose(); b.label.dispose();
  return { lr: log.lrG, deltas, method: m };
}

test("optimizerG 'adam': the first step moves every parameter by lr·g/(|g| + eps) (bias-corrected Adam)", () => {
  const { lr, deltas, method } = oneStep({ optimizerG: 'adam', lrG: 1e-3 });
  assert.ok(method.optG instanceof torch.Adam);
  assert.ok(Math.abs(lr - 1e-3 * 0.9 ** 0.9) < 1e-12);
  let checked = 0;
  for (const { d, g } of deltas) {
    for (let j = 0; j < d.length; j++) {
      const expected = -lr * g[j]! / (Math.abs(g[j]!) + 1e-8);
      assert.ok(Math.abs(d[j]! - expected) <= 1e-6 * lr + 2e-7 * Math.abs(expected) + 1e-9,
        `Δp ${d[j]} vs ${expected} (g ${g[j]})`);
      if (Math.abs(g[j]!) > 1e-6) checked++;
    }
  }
  assert.ok(checked > 1000, `only ${checked} entries had a gradient`);
  method.dispose();
});

test("optimizerG 'sgd' (official): the first step moves every parameter by −lr·g", () => {
  const { lr, deltas, method } = oneStep({ optimizerG: 'sgd', lrG: 1e-1 });
  assert.ok(method.optG instanceof torch.SGD);
  for (const { d, g } of deltas) {
    for (let j = 0; j < d.length; j++) assert.ok(Math.abs(d[j]! + lr * g[j]!) <= 1e-6 * Math.abs(lr * g[j]!) + 1e-8);
  }
  method.dispose();
});

test('tiny-os4 drops the stem max-pool: 64×64 → 16×16 features (tiny, ceil-mode pool: 9×9), same parameters', () => {
  const [a, b] = [createSegmentor('tiny', 11), createSegmentor('tiny-os4', 11)];
  const x = torch.zeros([1, 3, 64, 64]);
  const fa = torch.noGrad(() => a.features(x));
  const fb = torch.noGrad(() => b.features(x));
  assert.deepEqual(fa.shape, [1, 256, 9, 9]);
  assert.deepEqual(fb.shape, [1, 256, 16, 16]);
  assert.deepEqual(a.namedParameters().map(([n, p]) => [n, p.shape]), b.namedParameters().map(([n, p]) => [n, p.shape]));
  for (const t of [x, fa, fb]) t.dispose();
});
