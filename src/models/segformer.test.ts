// The MiT segmentors (src/models/segformer.ts): mit-b0 + DAFormer head against the PyTorch twin (an mmseg
// EncoderDecoder's names, logits, gradients), then the Segmentor contract (registry, x2, parameter groups, isHeadKey,
// replica, inference path) and one training step of every registered method that works with one classifier.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { loadFixture } from '../torch/torch.testing.js';
import { METHODS, createMethod } from '../methods/registry.js';
import { DEFAULT_METHOD_CONFIG } from '../methods/config.js';
import { BACKBONES, isMit } from './backbones.js';
import { createSegmentor } from './registry.js';
import { MitSegmentor } from './segformer.js';
import { SegFormerHead } from './heads.js';
import { predictHeads, predictLogits } from './segmentor.js';
import { assertNear, assertSummary, drawState, hashed, hashedLoss, namesDigest, type Summary } from './models.testing.js';

interface SegRecord { num_classes: number; keys: number; names_sha256: string; input_grad: Summary; param_grads: Record<string, Summary> }
const ex = loadFixture<{ input_shape: number[]; input_salt: number; input_bound: number; segmentor: SegRecord }>('mit/expected.json');

test('mit-b0 segmentor = the twin (mmseg EncoderDecoder names): logits within 1e-5, gradients of input and parameters', (t) => {
  const path = fixturePath('mit/heads.safetensors');
  if (!existsSync(path)) { if (process.env.CI === 'true') assert.fail(`${path} missing`); t.skip('run tools/reference/mit_parity.py'); return; }
  const rec = ex.segmentor;
  torch.manualSeed(0);
  const G = createSegmentor('mit-b0', rec.num_classes);
  try {
    assert.ok(G instanceof MitSegmentor);
    assert.equal(G.stateDict().size, rec.keys);
    assert.equal(namesDigest(G), rec.names_sha256, 'backbone.* and decode_head.* names, order and shapes');
    drawState(G);
    G.eval();
    torch.tidy(() => {
      const x = hashed(ex.input_shape, ex.input_salt, ex.input_bound).requiresGrad_(true);
      const [x1, x2] = G.forward(x);
      const rel = assertNear(x1, torch.fromHost(readSafetensorsFile(path).tensors.get('segmentor.b0.logits')!), 'x1');
      t.diagnostic(`mit-b0 + DAFormer head logits: max |ours − torch| = ${rel.toExponential(2)} × max |torch|`);
      assert.deepEqual(x2.shape, x1.shape);
      assert.equal(x2.abs().max().item(), 0, 'x2 is zeros');
      assert.equal(x2.requiresGrad, false, 'x2 carries no gradient');
      hashedLoss([x1], 6000).backward();
      assertSummary(x.grad!, rec.input_grad, 'd/dx');
      const params = new Map(G.namedParameters());
      for (const [k, s] of Object.entries(rec.param_grads)) assertSummary(params.get(k)!.grad!, s, `d/d${k}`);
    });
  } finally { for (const p of G.parameters()) p.grad = null; G.dispose(); }
});

test('the MiT Segmentor contract: registry, heads, parameter groups, isHeadKey, replica, the inference path', () => {
  for (const n of ['mit-b0', 'mit-b1', 'mit-b2', 'mit-b3', 'mit-b4', 'mit-b5']) assert.ok(isMit(BACKBONES.get(n)), n);
  assert.ok(!isMit(BACKBONES.get('resnet101')) && !isMit(BACKBONES.get('vgg16')));
  torch.manualSeed(0);
  const G = createSegmentor('mit-b0', 7);
  try {
    assert.ok(G instanceof MitSegmentor && G.singleHead === true && G.alignCorners === false);
    const names = G.namedParameters().map(([n]) => n);
    assert.ok(names.every((n) => n.startsWith('backbone.') || n.startsWith('decode_head.')));
    assert.deepEqual(G.backboneParameters(), G.namedParameters().filter(([n]) => !G.isHeadKey(n)).map(([, p]) => p));
    assert.deepEqual(G.headParameters(), G.namedParameters().filter(([n]) => G.isHeadKey(n)).map(([, p]) => p));
    assert.deepEqual(G.officialBackboneParameterList(), G.backboneParameters());
    const [c1, c2] = G.classifierParameters();
    assert.deepEqual(c1.map((p) => p.shape), [[7, 256, 1, 1], [7]], 'C1 = conv_seg');
    assert.deepEqual(c2, []);
    // no weight decay: the 4 patch-embedding, 4 stage and 8 × 2 block LayerNorms and the 6 sequence-reduction ones (b0)
    const noDecay = names.filter((n) => G.noWeightDecay(n));
    assert.equal(noDecay.length, 2 * (4 + 4 + 16 + 6));
    assert.ok(noDecay.every((n) => n.startsWith('backbone.') && /\.norm\d?\.(weight|bias)$|\.norm[12]\.(weight|bias)$/.test(n)), noDecay.join(', '));
    const before = torch.memoryStats().live;
    torch.tidy(() => {
      const x = torch.randn([2, 3, 45, 61]);
      const [x1] = G.forward(x);
      assert.deepEqual(x1.shape, [2, 7, 12, 16], 'stride 4 (⌈45/4⌉, ⌈61/4⌉)');
      G.eval();
      const logits = predictLogits(G, x, [45, 61]);
      assert.ok(logits.equal(torch.noGrad(() => torch.F.interpolate(G.forward(x)[0], [45, 61], { alignCorners: false }))), 'up(x1), align_corners=False');
      assert.ok(predictHeads(G, x, [45, 61]).logits.equal(logits));
      G.train();
    });
    assert.equal(torch.memoryStats().live, before, 'forward and inference leave no tensor behind');
    const R = G.replica();
    try {
      assert.deepEqual([...R.stateDict()].map(([k, v]) => [k, v.shape]), [...G.stateDict()].map(([k, v]) => [k, v.shape]));
      assert.notDeepEqual(R.backboneParameters()[0]!.toArray(), G.backboneParameters()[0]!.toArray(), 'freshly initialised');
    } finally { R.dispose(); }
  } finally { G.dispose(); }
});

test('SegFormer\'s head as the decoder: its unused conv_seg stays out of the groups; every grouped parameter trains', () => {
  const spec = BACKBONES.get('mit-b0');
  assert.ok(isMit(spec));
  torch.manualSeed(0);
  const G = new MitSegmentor({ ...spec, decoder: 'segformer', segformerEmbed: 256, numClasses: 4 });
  try {
    assert.ok(G.decodeHead instanceof SegFormerHead);
    const grouped = new Set([...G.backboneParameters(), ...G.headParameters()]);
    const left = G.namedParameters().filter(([, p]) => !grouped.has(p)).map(([n]) => n);
    assert.deepEqual(left, ['decode_head.conv_seg.weight', 'decode_head.conv_seg.bias']);
    assert.deepEqual(G.classifierParameters()[0].map((p) => p.shape), [[4, 256, 1, 1], [4]], 'C1 = linear_pred');
    torch.tidy(() => { G.forward(torch.randn([2, 3, 32, 32]))[0].pow(2).mean().backward(); });
    assert.ok([...grouped].every((p) => p.grad !== null), 'a gradient for every grouped parameter');
    for (const p of G.parameters()) p.grad = null;
  } finally { G.dispose(); }
});

// CLAN's weight discrepancy and co-training's C1/C2 exchange need two different classifiers (Segmentor.singleHead).
const TWO_HEADS = new Set(['clan', 'clan-cotrain', 'cotrain']);
// hrda and mic-hrda train HRDA's own network (hrda-mit-b*; src/methods/hrda.test.ts) and refuse this one.
const OWN_NETWORK = new Set(['hrda', 'mic-hrda']);

test('every one-classifier method trains a mit-b0 unchanged: finite losses, moved weights, nothing left behind', async (t) => {
  const cfg = { ...DEFAULT_METHOD_CONFIG, maxIter: 10, warmup: 0, preheat: 1, ndf: 8 };
  for (const name of METHODS.names().filter((n) => !TWO_HEADS.has(n) && !OWN_NETWORK.has(n))) {
    torch.manualSeed(0);
    const image = torch.keep(torch.randn([2, 3, 32, 32]));
    const label = torch.keep(torch.randint(0, 5, [2, 32, 32]));
    const before = torch.memoryStats().live;
    const G = createSegmentor('mit-b0', 5);
    const w0 = G.backboneParameters()[0]!.toArray();
    // daformer's feature distance anchors to the --init network: say one was given (here, G's random start)
    const m = await createMethod(name, G, name.includes('daformer') ? { ...cfg, initWeights: true } : cfg);
    const log = m.trainStep(3, { image, label }, { image, size: [32, 32] });
    assert.deepEqual(Object.keys(log.losses), [...m.lossKeys], name);
    for (const [k, v] of Object.entries(log.losses)) assert.ok(Number.isFinite(v), `${name} ${k} = ${v}`);
    assert.notDeepEqual(G.backboneParameters()[0]!.toArray(), w0, `${name}: patch_embed1 moved`);
    m.dispose(); G.dispose();
    assert.equal(torch.memoryStats().live, before, `${name}: nothing left behind`);
    image.dispose(); label.dispose();
    t.diagnostic(`${name}: ${Object.entries(log.losses).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
  }
});
