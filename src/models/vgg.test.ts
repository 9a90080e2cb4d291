// DeepLab-v2 VGG-16 (src/models/vgg.ts) against its PyTorch twin (tools/reference/vgg_parity.py: AdaptSegNet's
// deeplab_vgg.py with CLAN's two heads): names, shapes, parameter count, both heads' logits on a 65×97 input;
// then the Segmentor contract on a narrow copy, and one step of every registered method on it.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { loadFixture } from '../torch/torch.testing.js';
import { METHODS, createMethod } from '../methods/registry.js';
import { DEFAULT_METHOD_CONFIG, withHyper } from '../methods/config.js';
import { BACKBONES, isVgg } from './backbones.js';
import { createSegmentor } from './registry.js';
import { DeepLabVGG } from './vgg.js';

interface Expected {
  num_classes: number; input_shape: number[]; input_salt: number; input_sum: number; feature_shape: number[];
  parameters: number; state_dict: [string, number[]][]; sums: Record<string, number>;
}

/** Path of a test/fixtures/vgg file; skips (fails under CI=true) when the generator was not run. */
function fixture(t: TestContext, name: string): string | undefined {
  const path = fixturePath(`vgg/${name}`);
  if (existsSync(path)) return path;
  const msg = `fixture ${path} missing (run tools/reference/vgg_parity.py)`;
  if (process.env.CI === 'true') assert.fail(msg);
  t.skip(msg);
  return undefined;
}

/** tools/reference/vgg_parity.py hash_uniform, bit for bit: lowbias32 of i·0x9E3779B1 + (salt+1)·0x85EBCA77. */
export function hashUniform(n: number, salt: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  const s = Math.imul(salt + 1, 0x85ebca77);
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + s) >>> 0;
    h ^= h >>> 16; h = Math.imul(h, 0x7feb352d) >>> 0;
    h ^= h >>> 15; h = Math.imul(h, 0x846ca68b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0; // ^ gives an int32: back to uint32 before scaling
    out[i] = (h / 4294967296 * 2 - 1) * bound;
  }
  return out;
}

/** vgg_parity.py bound_of: He-uniform trunk, half-variance heads, biases 0.1. */
function boundOf(name: string, shape: readonly number[]): number {
  if (name.endsWith('.bias')) return 0.1;
  const fanIn = shape[1]! * shape[2]! * shape[3]!;
  return Math.sqrt(/^layer[56]\./.test(name) ? 3 : 6) / Math.sqrt(fanIn);
}

const sum64 = (a: Float32Array): number => a.reduce((s, v) => s + v, 0);
const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

test('vgg16 = the PyTorch twin: names, shapes, parameter count, both heads within 1e-4 of its logits', (t) => {
  const path = fixture(t, 'parity.safetensors');
  if (path === undefined) return;
  const ex = loadFixture<Expected>('vgg/expected.json');
  const ref = readSafetensorsFile(path).tensors;
  const G = createSegmentor('vgg16', ex.num_classes);
  try {
    assert.ok(G instanceof DeepLabVGG);
    const sd = G.stateDict();
    assert.deepEqual([...sd].map(([k, v]) => [k, v.shape]), ex.state_dict, 'state-dict names, order and shapes');
    const count = G.parameters().reduce((a, p) => a + p.numel, 0);
    assert.equal(count, ex.parameters, 'parameter count = the twin\'s');
    assert.equal(count, 30_273_496, '14,714,688 VGG-16 convs + fc6 4,719,616 + fc7 9,438,208 + 2 heads × 700,492');
    // The twin's weights, drawn here; the sums tell a drawing difference from a network one.
    const draw = new Map<string, HostTensor>();
    [...sd].forEach(([k, v], salt) => {
      const data = hashUniform(v.numel, salt, boundOf(k, v.shape));
      const want = ex.sums[k]!;
      assert.ok(Math.abs(sum64(data) - want) <= 1e-9 * v.numel, `${k}: drawn sum ${sum64(data)} vs the twin's ${want}`);
      draw.set(k, { dtype: 'float32', shape: [...v.shape], data });
    });
    G.loadStateDict(draw, true, 'hash draw');
    const xData = hashUniform(numel(ex.input_shape), ex.input_salt, 1);
    assert.ok(Math.abs(sum64(xData) - ex.input_sum) < 1e-6, 'input drawn as the twin');
    torch.tidy(() => {
      const x = torch.fromTypedArray(xData, ex.input_shape);
      assert.deepEqual(torch.noGrad(() => G.features(x)).shape, ex.feature_shape, 'OS 8 with floor pooling: 65×97 → 8×12');
      for (const mode of ['eval', 'train'] as const) { // no BN, no dropout: the same network either way
        G[mode]();
        const [x1, x2] = torch.noGrad((): [torch.Tensor, torch.Tensor] => G.forward(x));
        for (const [name, ours] of [['x1', x1], ['x2', x2]] as const) {
          const r = torch.fromHost(ref.get(name)!);
          assert.deepEqual(ours.shape, r.shape, `${name} shape`);
          const scale = r.abs().max().item();
          const err = ours.sub(r).abs().max().item();
          assert.ok(scale > 0.5, `${name}: the reference is not trivially small (${scale})`);
          assert.ok(err <= 1e-4 * scale, `${name} (${mode}): max |ours − torch| = ${err}, max |torch| = ${scale}`);
          t.diagnostic(`${name} ${mode}: max |ours − torch| ${err.toExponential(2)} = ${(err / scale).toExponential(2)} × max |torch| (${scale.toFixed(3)})`);
        }
      }
    });
  } finally { G.dispose(); }
});

test('vgg16 initialises as deeplab_vgg.py without pretrained weights: torchvision convs, default fc6/fc7, N(0, 0.01) heads', () => {
  torch.manualSeed(0);
  const G = createSegmentor('vgg16', 19);
  try {
    const sd = G.stateDict();
    const stats = (k: string): { std: number; max: number } => torch.tidy(() => {
      const w = sd.get(k)!.to('float64');
      const c = w.sub(w.mean().item());
      return { std: Math.sqrt(c.mul(c).mean().item()), max: w.abs().max().item() };
    });
    // torchvision VGG: kaiming_normal_(fan_out, relu) → std √(2 / (out·9)), bias 0 (conv1_2 and conv5_3 here).
    for (const [k, out] of [['features.2', 64], ['features.27', 512]] as const) {
      const s = stats(`${k}.weight`);
      assert.ok(Math.abs(s.std / Math.sqrt(2 / (out * 9)) - 1) < 0.02, `${k}: std ${s.std}`);
      assert.equal(stats(`${k}.bias`).max, 0, `${k}: bias 0`);
    }
    // fc6/fc7: PyTorch's default Conv2d init, U(±1/√fan_in) for weight and bias.
    for (const [k, fanIn] of [['features.29', 512 * 9], ['features.31', 1024 * 9]] as const) {
      const b = 1 / Math.sqrt(fanIn);
      const s = stats(`${k}.weight`);
      assert.ok(s.max <= b * (1 + 1e-6) && s.max > 0.99 * b, `${k}: max |w| ${s.max} vs bound ${b}`);
      assert.ok(Math.abs(s.std / (b / Math.sqrt(3)) - 1) < 0.01, `${k}: std ${s.std} of U(±${b})`);
    }
    const h = stats('layer6.conv2d_list.3.weight');
    assert.ok(Math.abs(h.std / 0.01 - 1) < 0.02, `head std ${h.std}`);
  } finally { G.dispose(); }
});

const K = 5;
/** A narrow vgg16 (width 4: 4…32 channels, 64 into the heads) for the contract tests. */
const narrow = (): DeepLabVGG => new DeepLabVGG({ arch: 'vgg16', width: 4, numClasses: K });

test('the Segmentor contract: registry entry, heads, parameter groups, isHeadKey, no BN anywhere', () => {
  assert.ok(BACKBONES.names().includes('vgg16'));
  assert.ok(isVgg(BACKBONES.get('vgg16')) && !isVgg(BACKBONES.get('resnet101')));
  torch.manualSeed(0);
  const G = narrow();
  try {
    assert.equal(G.featureChannels, 64);
    const names = G.namedParameters().map(([n]) => n);
    const convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 23, 25, 27, 29, 31];
    assert.deepEqual(names.filter((n) => !G.isHeadKey(n)), convs.flatMap((i) => [`features.${i}.weight`, `features.${i}.bias`]));
    assert.deepEqual(names.filter((n) => G.isHeadKey(n)), ['layer5', 'layer6'].flatMap((h) => [0, 1, 2, 3].flatMap((i) => [`${h}.conv2d_list.${i}.weight`, `${h}.conv2d_list.${i}.bias`])));
    assert.equal(G.namedBuffers().length, 0, 'no BN buffers');
    assert.ok(!G.namedModules().some(([, m]) => m instanceof torch.BatchNorm2d), 'no BatchNorm2d');
    torch.convertSyncBatchNorm(G); // the trainer's syncBN conversion: nothing to convert, nothing breaks
    const [c1, c2] = G.classifierParameters();
    assert.deepEqual([c1.length, c2.length], [8, 8]);
    assert.deepEqual(G.headParameters(), [...c1, ...c2]);
    const backbone = G.backboneParameters();
    assert.equal(backbone.length, 30);
    assert.deepEqual(G.officialBackboneParameterList(), backbone, 'no official VGG optimizer: each parameter once');
    assert.equal(new Set([...backbone, ...G.headParameters()]).size, G.parameters().length, 'the groups split G');
    assert.ok(G.parameters().every((p) => p.requiresGrad), 'nothing frozen');
    // Shapes and gradients: 37×45 → 4×5 (floor pools), every parameter gets a gradient, scopes free everything.
    const before = torch.memoryStats().live;
    torch.tidy(() => {
      const [x1, x2] = G.forward(torch.randn([2, 3, 37, 45]));
      assert.deepEqual([x1.shape, x2.shape], [[2, K, 4, 5], [2, K, 4, 5]]);
      x1.mul(x1).add(x2.mul(x2)).mean().backward();
    });
    assert.ok(G.parameters().every((p) => p.grad !== null && torch.tidy(() => p.grad!.abs().sum().item()) > 0), 'a gradient everywhere');
    for (const p of G.parameters()) p.grad = null;
    assert.equal(torch.memoryStats().live, before, 'forward/backward leave no tensor behind');
  } finally { G.dispose(); }
});

test('every registered method trains a vgg16 unchanged: finite losses, and dispose() frees what it made', async (t) => {
  const cfg = withHyper(DEFAULT_METHOD_CONFIG, { maxIter: 10, warmup: 0, clan: { preheat: 1 }, adversarial: { ndf: 8 } });
  // hrda and daformer (and MIC on them) train their own networks: HRDA's, a MiT (src/methods/hrda.test.ts, daformer.test.ts)
  for (const name of METHODS.names().filter((n) => !['hrda', 'mic-hrda', 'daformer', 'mic-daformer'].includes(n))) {
    torch.manualSeed(0);
    const image = torch.keep(torch.randn([2, 3, 32, 32]));
    const label = torch.keep(torch.randint(0, K, [2, 32, 32]));
    const before = torch.memoryStats().live;
    const G = narrow();
    const w0 = G.backboneParameters()[0]!.toArray();
    const m = await createMethod(name, G, cfg);
    const pseudo = m.targetLabels ? { label: torch.cat([label, label], 1) } : {}; // cotrain: stacked pseudo-labels
    const log = m.trainStep(3, { image, label }, { image, size: [32, 32], ...pseudo });
    if (m.targetLabels) pseudo.label!.dispose();
    assert.deepEqual(Object.keys(log.losses), [...m.lossKeys], name);
    for (const [k, v] of Object.entries(log.losses)) assert.ok(Number.isFinite(v), `${name} ${k} = ${v}`);
    assert.notDeepEqual(G.backboneParameters()[0]!.toArray(), w0, `${name}: conv1_1 moved`);
    m.dispose(); G.dispose();
    assert.equal(torch.memoryStats().live, before, `${name}: nothing left behind`);
    image.dispose(); label.dispose();
    t.diagnostic(`${name}: ${Object.entries(log.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
  }
});
