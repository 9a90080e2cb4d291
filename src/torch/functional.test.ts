// setPointwiseOnednn: the same 1×1 convolutions (values and gradients to float32 rounding) through oneDNN instead of
// THNN, seen in the profile; 3×3, grouped and small convolutions keep their own kernels; off restores the default.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from './index.js';
import { opTable, readTrace } from './profiler.js';

const dir = mkdtempSync(join(tmpdir(), 'clan-pw-'));
after(() => { torch.setPointwiseOnednn(false); rmSync(dir, { recursive: true, force: true }); });

test('setPointwiseOnednn: 1×1 convolutions through oneDNN, same values and gradients; others untouched', () => {
  torch.setNumThreads(1);
  torch.manualSeed(0);
  const x = torch.keep(torch.randn([1, 64, 20, 24]));              // 30720 values: oneDNN takes it
  const small = torch.keep(torch.randn([1, 16, 20, 24]));          // 7680: stays on THNN either way
  const w1 = torch.keep(torch.randn([48, 64, 1, 1]).mul(0.1));
  const w3 = torch.keep(torch.randn([48, 48, 3, 3]).mul(0.05));
  const ws = torch.keep(torch.randn([8, 16, 1, 1]).mul(0.1));
  const params = [w1, w3, ws];
  const run = (on: boolean) => {
    torch.setPointwiseOnednn(on);
    assert.equal(torch.getPointwiseOnednn(), on);
    for (const p of params) { p.requiresGrad_(true); p.grad = null; }
    const f = join(dir, `${on}.json`);
    const y = torch.profile(f, () => torch.tidy(() => {
      const a = torch.F.conv2d(torch.F.conv2d(x, w1).relu(), w3, null, { padding: 1 });
      const b = torch.F.conv2d(small, ws);
      const out = torch.keep(torch.cat([a.flatten(), b.flatten()]));
      out.mul(out).sum().backward();
      return out;
    }));
    const ops = Object.fromEntries(opTable(readTrace(f)).map((r) => [r.op, r.calls]));
    const grads = params.map((p) => torch.keep(p.grad!.clone()));
    return { y, ops, grads };
  };
  const off = run(false);
  const on = run(true);
  torch.setPointwiseOnednn(false);
  // off: the two 1×1 convolutions on THNN, the 3×3 one on oneDNN; on: the big 1×1 one moves to oneDNN
  assert.equal(off.ops['aten::_slow_conv2d_forward'], 2); assert.equal(off.ops['aten::mkldnn_convolution'], 1);
  assert.equal(on.ops['aten::_slow_conv2d_forward'], 1); assert.equal(on.ops['aten::mkldnn_convolution'], 2);
  assert.equal(on.ops['aten::slow_conv_dilated2d'], undefined);
  const rel = (a: torch.Tensor, b: torch.Tensor) => torch.tidy(() => a.sub(b).norm().item() / b.norm().item());
  assert.ok(rel(on.y, off.y) < 1e-6, `outputs differ by ${rel(on.y, off.y)}`);
  on.grads.forEach((g, k) => assert.ok(rel(g, off.grads[k]!) < 1e-5, `gradient ${k} differs by ${rel(g, off.grads[k]!)}`));
  assert.ok(rel(on.y, off.y) > 0 || rel(on.grads[0]!, off.grads[0]!) > 0, 'another kernel: the rounding differs somewhere');
  for (const p of params) p.grad = null;
  for (const t of [x, small, ...params, off.y, on.y, ...off.grads, ...on.grads]) t.dispose();
});

test('adaptiveAvgPool2d: each cell the mean of the input cells it covers (start ⌊i·H/h⌋, end ⌈(i+1)·H/h⌉), with its gradient', () => {
  // 1×1×2×5 → 1×1×1×2: columns [0, 3) and [2, 5) (overlapping at 2), both rows
  const x = torch.keep(torch.tensor([[[[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]]]).to('float32').requiresGrad_(true));
  const y = torch.tidy(() => torch.keep(torch.F.adaptiveAvgPool2d(x, [1, 2])));
  assert.deepEqual(y.toArray(), [(1 + 2 + 3 + 6 + 7 + 8) / 6, (3 + 4 + 5 + 8 + 9 + 10) / 6]);
  torch.tidy(() => y.sum().backward());
  assert.deepEqual(x.grad!.toArray(), [1, 1, 2, 1, 1, 1, 1, 2, 1, 1].map((v) => Math.fround(v / 6)));
  x.grad = null; x.dispose(); y.dispose();
});
