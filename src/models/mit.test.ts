// The Mix Transformer backbones mit-b0…b5 (src/models/mit.ts) against their PyTorch twin (tools/reference/mit_parity.py):
// state-dict names, order and shapes, parameter counts, the four stage outputs and the gradients of a scalar loss
// w.r.t. the input and a few parameters, in eval mode; mit-b0 also in train mode, where drop path draws its masks
// from the same seeded generator. Weights and input are drawn from the same integer hash on both sides.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { loadFixture } from '../torch/torch.testing.js';
import { BACKBONES, isMit } from './backbones.js';
import { MixVisionTransformer, dropPathRates } from './mit.js';
import { assertNear, assertSummary, drawState, hashed, hashedLoss, namesDigest, type Summary } from './models.testing.js';

interface MitRecord {
  keys: number; parameters: number; names_sha256: string; state_dict?: [string, number[]][];
  outputs: Summary[]; input_grad: Summary; param_grads: Record<string, Summary>;
}
interface Expected { input_shape: number[]; input_salt: number; input_bound: number; loss_salt: number; train_seed: number;
  mit: Record<string, MitRecord> }

function fixture(t: TestContext, name: string): string | undefined {
  const path = fixturePath(`mit/${name}`);
  if (existsSync(path)) return path;
  const msg = `fixture ${path} missing (run tools/reference/mit_parity.py)`;
  if (process.env.CI === 'true') assert.fail(msg);
  t.skip(msg);
  return undefined;
}

const ex = loadFixture<Expected>('mit/expected.json');

/** A registered MiT's backbone with the twin's hashed weights. */
function drawnBackbone(name: string): MixVisionTransformer {
  const spec = BACKBONES.get(name);
  assert.ok(isMit(spec), `${name} is a MiT`);
  torch.manualSeed(0);
  const m = new MixVisionTransformer(spec.mit);
  drawState(m);
  return m;
}

for (const name of ['mit-b0', 'mit-b1', 'mit-b2', 'mit-b3', 'mit-b4', 'mit-b5']) {
  test(`${name} = the PyTorch twin: names, shapes, parameter count, four outputs and gradients within 1e-5`, (t) => {
    const rec = ex.mit[name]!;
    const m = drawnBackbone(name);
    try {
      assert.equal(m.stateDict().size, rec.keys, 'state-dict entries');
      assert.equal(namesDigest(m), rec.names_sha256, 'state-dict names, order and shapes (SHA-256 of the twin\'s)');
      if (rec.state_dict) assert.deepEqual([...m.stateDict()].map(([k, v]) => [k, v.shape]), rec.state_dict);
      assert.equal(m.parameters().reduce((a, p) => a + p.numel, 0), rec.parameters, 'parameter count');
      m.eval();
      let worst = 0;
      torch.tidy(() => {
        const x = hashed(ex.input_shape, ex.input_salt, ex.input_bound).requiresGrad_(true);
        const outs = m.forward(x);
        outs.forEach((o, s) => { worst = Math.max(worst, assertSummary(o, rec.outputs[s]!, `${name} out${s}`)); });
        hashedLoss(outs, ex.loss_salt).backward();
        worst = Math.max(worst, assertSummary(x.grad!, rec.input_grad, `${name} d/dx`));
        const params = new Map(m.namedParameters());
        for (const [k, s] of Object.entries(rec.param_grads)) worst = Math.max(worst, assertSummary(params.get(k)!.grad!, s, `${name} d/d${k}`));
      });
      for (const p of m.parameters()) p.grad = null;
      t.diagnostic(`${name}: ${rec.parameters} parameters; worst probed |ours − torch| / max |torch| = ${worst.toExponential(2)}`);
    } finally { m.dispose(); }
  });
}

test('mit-b0 in full: eval outputs and input gradient, and train mode (drop path, seeded) = the twin\'s', (t) => {
  const path = fixture(t, 'mit-b0.safetensors');
  if (path === undefined) return;
  const ref = readSafetensorsFile(path).tensors;
  const m = drawnBackbone('mit-b0');
  try {
    torch.tidy(() => {
      const x = hashed(ex.input_shape, ex.input_salt, ex.input_bound).requiresGrad_(true);
      m.eval();
      const outs = m.forward(x);
      outs.forEach((o, s) => assertNear(o, torch.fromHost(ref.get(`b0.eval.out${s}`)!), `eval out${s}`));
      hashedLoss(outs, ex.loss_salt).backward();
      assertNear(x.grad!, torch.fromHost(ref.get('b0.eval.input_grad')!), 'd/dx');
      m.train();
      torch.manualSeed(ex.train_seed);
      const train = torch.noGrad(() => m.forward(x.detach()));
      let differs = false;
      train.forEach((o, s) => {
        assertNear(o, torch.fromHost(ref.get(`b0.train.out${s}`)!), `train out${s}`);
        differs ||= !o.equal(outs[s]!.detach());
      });
      assert.ok(differs, 'drop path changed the train-mode outputs');
    });
  } finally { for (const p of m.parameters()) p.grad = null; m.dispose(); }
});

test('drop path rates rise linearly over all blocks (torch.linspace(0, 0.1, n) in float32); block 0 has none', () => {
  assert.deepEqual(dropPathRates(0.1, 5), [0, 0.025, 0.05, 0.075, 0.1].map(Math.fround));
  torch.manualSeed(0);
  const spec = BACKBONES.get('mit-b2');
  assert.ok(isMit(spec));
  const m = new MixVisionTransformer(spec.mit);
  try {
    const rates = m.blocks.flatMap((b) => b.items.map((blk) => blk.dropPath.p));
    assert.equal(rates.length, 16);
    assert.equal(rates[0], 0);
    assert.equal(rates[15], Math.fround(0.1));
    assert.ok(rates.every((r, i) => i === 0 || r > rates[i - 1]!));
  } finally { m.dispose(); }
});

test('MiT init from scratch (mmseg _init_weights): Linear N(0, 0.02) biases 0, LayerNorm 1/0, convs N(0, 2/fan_out)', () => {
  torch.manualSeed(0);
  const spec = BACKBONES.get('mit-b1');
  assert.ok(isMit(spec));
  const m = new MixVisionTransformer(spec.mit);
  try {
    const sd = m.stateDict();
    const std = (k: string): number => torch.tidy(() => sd.get(k)!.to('float64').pow(2).mean().sqrt().item());
    assert.ok(Math.abs(std('block3.0.mlp.fc1.weight') / 0.02 - 1) < 0.02, 'fc1 std 0.02');
    assert.ok(Math.abs(std('patch_embed1.proj.weight') / Math.sqrt(2 / (7 * 7 * 64)) - 1) < 0.05, 'patch embed: fan_out = 7·7·64');
    assert.ok(Math.abs(std('block1.0.mlp.dwconv.dwconv.weight') / Math.sqrt(2 / 9) - 1) < 0.05, 'depthwise: fan_out = 3·3·256/256');
    assert.equal(std('block1.0.attn.q.bias'), 0);
    assert.deepEqual(sd.get('norm4.weight')!.toArray(), new Array(512).fill(1));
    // LayerNorm eps (below the parity tests' resolution): the patch embeddings' and the sequence reduction's are
    // nn.LayerNorm's default 1e-5, the blocks' and stages' are mit_b*'s norm_layer, eps 1e-6
    const eps = new Map(m.namedModules().filter(([, l]) => l instanceof torch.LayerNorm).map(([n, l]) => [n, (l as torch.LayerNorm).eps]));
    assert.equal(eps.size, 4 + 4 + 8 * 2 + 6); // patch embeds, stage norms, 8 blocks × (norm1, norm2), the 6 blocks with sr > 1
    for (const [n, e] of eps) assert.equal(e, /^patch_embed\d\.norm$|\.attn\.norm$/.test(n) ? 1e-5 : 1e-6, n);
  } finally { m.dispose(); }
});

test('a MiT forward and backward free every intermediate; stage sizes are ⌈H/4⌉, ⌈H/8⌉, … for odd inputs', () => {
  const m = drawnBackbone('mit-b0');
  try {
    const before = torch.memoryStats().live;
    torch.tidy(() => {
      const outs = m.forward(torch.randn([2, 3, 45, 67]));
      assert.deepEqual(outs.map((o) => o.shape), [[2, 32, 12, 17], [2, 64, 6, 9], [2, 160, 3, 5], [2, 256, 2, 3]]);
      outs.reduce((a, o) => a.add(o.mean()), torch.scalar(0)).backward();
    });
    assert.ok(m.parameters().every((p) => p.grad !== null), 'every parameter gets a gradient');
    for (const p of m.parameters()) p.grad = null;
    assert.equal(torch.memoryStats().live, before, 'no tensor left behind');
  } finally { m.dispose(); }
});
