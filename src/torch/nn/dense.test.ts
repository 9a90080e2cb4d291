// The transformer ops and layers against stored PyTorch outputs and gradients (tools/reference/mit_ops.py): linear,
// layer norm, GELU, depthwise and strided convolutions, the attention core, softmax over the last dim, and the random
// ops (dropout, dropout2d, drop path) drawn from the same seeded generator as PyTorch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../index.js';
import { F, tidy } from '../index.js';
import { assertClose, decode, loadFixture, type Encoded } from '../torch.testing.js';
import type { Tensor } from '../tensor.js';

interface Case { inputs: Record<string, Encoded>; output: Encoded; upstream?: Encoded; grads?: Record<string, Encoded>; seed?: number }
const fx = loadFixture<{ torch: string; cases: Record<string, Case> }>('mit/ops.json');

/** MiT's attention core: softmax(q·kᵀ/√d) over the keys, times v. q [B, h, N, d], k, v [B, h, M, d]. */
function attention(q: Tensor, k: Tensor, v: Tensor): Tensor {
  return F.softmax(q.matmul(k.transpose(-2, -1)).mul(q.size(-1) ** -0.5), -1).matmul(v);
}

type Fn = (i: Record<string, Tensor>) => Tensor;
const OPS: Record<string, Fn> = {
  linear_3d: ({ x, w, b }) => F.linear(x!, w!, b!),
  linear_nobias: ({ x, w }) => F.linear(x!, w!),
  'layer_norm_eps1e-6': ({ x, w, b }) => F.layerNorm(x!, [6], w!, b!, 1e-6),
  layer_norm_2dims: ({ x, w, b }) => F.layerNorm(x!, [3, 4], w!, b!),
  gelu: ({ x }) => F.gelu(x!),
  conv2d_depthwise: ({ x, w, b }) => F.conv2d(x!, w!, b!, { padding: 1, groups: 6 }),
  conv2d_depthwise_dil2: ({ x, w }) => F.conv2d(x!, w!, null, { padding: 2, dilation: 2, groups: 4 }),
  conv2d_sr_k4s4: ({ x, w, b }) => F.conv2d(x!, w!, b!, { stride: 4 }),
  attention: ({ q, k, v }) => attention(q!, k!, v!),
  softmax_last: ({ x }) => F.softmax(x!, -1),
  dropout_p03: ({ x }) => F.dropout(x!, 0.3, true),
  dropout2d_p01: ({ x }) => F.dropout2d(x!, 0.1, true),
  drop_path_p04: ({ x }) => F.dropPath(x!, 0.4, true),
};

for (const [name, c] of Object.entries(fx.cases)) {
  test(`${name} matches PyTorch ${fx.torch} (value and input gradients)`, () => tidy(() => {
    const fn = OPS[name];
    assert.ok(fn, `no TS op for fixture case ${name}`);
    const ins: Record<string, Tensor> = {};
    for (const [k, e] of Object.entries(c.inputs)) ins[k] = decode(e).requiresGrad_(c.grads?.[k] !== undefined);
    if (c.seed !== undefined) torch.manualSeed(c.seed);
    const out = fn(ins);
    assertClose(out, c.output, { what: `${name} output` });
    if (c.grads) {
      out.mul(decode(c.upstream!)).sum().backward();
      for (const [k, g] of Object.entries(c.grads)) assertClose(ins[k]!.grad!, g, { what: `${name} d/d${k}`, atol: 1e-5 });
    }
  }));
}

test('the random ops drop what they should: dropout2d whole channels, drop path whole samples, all scaled by 1/keep', () => tidy(() => {
  torch.manualSeed(3);
  const x = torch.ones([64, 8, 2, 2]);
  const d2 = F.dropout2d(x, 0.25, true).toArray();
  for (let c = 0; c < 64 * 8; c++) {
    const ch = d2.slice(c * 4, c * 4 + 4);
    assert.ok(ch.every((v) => v === 0) || ch.every((v) => Math.abs(v - 1 / 0.75) < 1e-6), `channel ${c}: ${ch.join(', ')}`);
  }
  const dp = F.dropPath(x, 0.5, true).toArray();
  for (let n = 0; n < 64; n++) {
    const s = dp.slice(n * 32, n * 32 + 32);
    assert.ok(s.every((v) => v === 0) || s.every((v) => v === 2), `sample ${n}`);
  }
  const kept = dp.filter((v) => v !== 0).length / 32;
  assert.ok(kept > 16 && kept < 48, `about half the samples kept, got ${kept} of 64`);
  // eval mode and p = 0: the identity (drop path returns x itself, dropout a copy with the same values)
  assert.equal(F.dropPath(x, 0.5, false), x);
  assert.equal(F.dropPath(x, 0, true), x);
  assert.ok(F.dropout2d(x, 0.25, false).equal(x));
  assert.ok(F.dropout(x, 0.25, false).equal(x));
}));

test('the layers: Linear and LayerNorm keep torch.nn names, shapes and default init; errors name the shapes', () => {
  torch.manualSeed(0);
  const lin = new torch.Linear(40, 3);
  const ln = new torch.LayerNorm(3, 1e-6);
  try {
    assert.deepEqual([...lin.stateDict()].map(([k, v]) => [k, v.shape]), [['weight', [3, 40]], ['bias', [3]]]);
    assert.deepEqual([...ln.stateDict()].map(([k, v]) => [k, v.shape]), [['weight', [3]], ['bias', [3]]]);
    const bound = 1 / Math.sqrt(40);
    const w = lin.weight.toArray();
    assert.ok(w.every((v) => Math.abs(v) <= bound) && Math.max(...w.map(Math.abs)) > 0.9 * bound, 'U(±1/√in)');
    assert.deepEqual(ln.weight.toArray(), [1, 1, 1]);
    tidy(() => {
      const y = ln.forward(lin.forward(torch.randn([2, 7, 40])));
      assert.deepEqual(y.shape, [2, 7, 3]);
      // normalised over the last dim: each row has mean 0 and (biased) variance 1 − ε-ish
      const rows = y.reshape(14, 3);
      assert.ok(rows.mean(1).abs().max().item() < 1e-5);
      assert.ok(rows.pow(2).mean(1).sub(1).abs().max().item() < 1e-3);
      assert.throws(() => lin.forward(torch.randn([2, 39])), /linear: input \[2, 39\] does not end in the weight's 40 input features/);
      assert.throws(() => F.layerNorm(torch.randn([2, 4]), [3]), /layerNorm: input \[2, 4\] does not end in the normalized shape \[3\]/);
      assert.throws(() => F.dropout(torch.randn([2]), 1.5, true), /dropout: p must be in \[0, 1\]/);
    });
  } finally { lin.dispose(); ln.dispose(); }
});
