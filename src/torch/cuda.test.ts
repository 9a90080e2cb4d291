// The engine on CUDA against the engine on the CPU (which the other tests hold to PyTorch): forward and backward
// of the ops the networks use, pinned non-blocking copies, Module.to there and back, the caching allocator's
// statistics, autocast on the GPU. TF32 is off so float32 means float32. Skipped (and says why) without a GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';
import { F } from './index.js';
import { Conv2d } from './nn/layers.js';

const skip = torch.cudaDeviceCount() > 0 ? false : `no CUDA device in this build (${torch.buildInfo().build})`;

function close(a: torch.Tensor, b: torch.Tensor, what: string, rtol = 1e-4): void {
  torch.tidy(() => {
    const x = a.to('cpu'); const y = b.to('cpu');
    assert.deepEqual(x.shape, y.shape, `${what}: shape`);
    const err = x.sub(y).norm().item(); const ref = y.norm().item();
    assert.ok(err <= rtol * ref + 1e-6, `${what}: ‖cuda − cpu‖/‖cpu‖ = ${(err / ref).toExponential(2)}`);
  });
}

test('CUDA: ops and their gradients match the CPU (conv dilated, BN, pooling, bilinear, softmax, losses, norms)', { skip }, () => {
  const before = torch.getBackendFlags();
  torch.setBackendFlags({ allowTF32Cudnn: false, allowTF32Cublas: false });
  try {
    torch.manualSeed(0);
    const x0 = torch.keep(torch.randn([2, 4, 17, 23]));
    const w0 = torch.keep(torch.randn([6, 4, 3, 3]).mul(0.2));
    const lab0 = torch.keep(torch.randint(0, 6, [2, 33, 45]));
    const run = (dev: torch.Device) => torch.tidy(() => {
      const x = x0.to(dev).detach().requiresGrad_(true); const w = w0.to(dev).detach().requiresGrad_(true);
      const h = F.conv2d(x, w, null, { padding: [2, 2], dilation: [2, 2] });
      const bn = F.batchNorm(h, { training: true, momentum: 0.1, eps: 1e-5 });
      const p = F.maxPool2d(bn.relu(), [3, 3], { stride: [2, 2], padding: [1, 1], ceilMode: true });
      const up = F.interpolate(p, [33, 45], { alignCorners: true });
      const ce = F.crossEntropy(up, lab0.to(dev));
      const sm = F.softmax(up, 1);
      const bce = F.binaryCrossEntropyWithLogits(up, sm.detach(), { reduction: 'mean' });
      const cos = F.cosineSimilarity(up, sm, 1).mean();
      const loss = ce.add(bce).add(cos).add(sm.norm(2, [1]).mean());
      loss.backward();
      return { up: up.detach(), loss: loss.detach(), gx: x.grad!.clone(), gw: w.grad!.clone() };
    });
    const c = run('cpu'); const g = run('cuda');
    close(g.up, c.up, 'forward');
    close(g.loss, c.loss, 'loss', 1e-5);
    close(g.gx, c.gx, 'grad input');
    close(g.gw, c.gw, 'grad weight');
    for (const t of [...Object.values(c), ...Object.values(g), x0, w0, lab0]) t.dispose();
  } finally { torch.setBackendFlags(before); }
});

test('CUDA: pinned non-blocking copies, Module.to there and back, memory statistics, autocast', { skip }, () => {
  const host = torch.keep(torch.arange(0, 1 << 20, 1, { dtype: 'float32' }));
  const pinned = torch.keep(host.pinMemory());
  assert.equal(pinned.isPinned, true);
  const dev = torch.keep(pinned.to('cuda', { nonBlocking: true }));
  assert.match(dev.device, /^cuda/);
  torch.synchronize('cuda');
  assert.ok(torch.tidy(() => dev.to('cpu').equal(host)));

  const conv = new Conv2d(3, 8, 3, { padding: 1 });
  const w = conv.weight;
  const values = w.toArray();
  conv.to('cuda');
  assert.equal(conv.weight, w, 'same Tensor object after the move');
  assert.equal(conv.device, 'cuda:0');
  assert.equal(w.requiresGrad, true);
  conv.to('cpu');
  assert.deepEqual(w.toArray(), values, 'values survive the round trip');
  conv.to('cuda');

  torch.resetPeakMemoryStats('cuda');
  const base = torch.cudaMemoryStats('cuda').allocated;
  const big = torch.zeros([64, 1 << 18], { device: 'cuda' });   // 64 MiB
  const s = torch.cudaMemoryStats('cuda');
  assert.ok(s.allocated - base >= 64 * 2 ** 20, `allocated grew by ${s.allocated - base}`);
  assert.ok(s.peakAllocated >= s.allocated && s.reserved >= s.allocated);
  big.dispose();
  assert.ok(torch.cudaMemoryStats('cuda').allocated < s.allocated, 'dispose() returns the block to the allocator');
  assert.ok(torch.cudaMemoryStats('cuda').peakAllocated >= s.allocated, 'the peak stays');

  const x = torch.keep(torch.randn([1, 3, 16, 16], { device: 'cuda' }));
  for (const [dt, name] of [['bfloat16', 'bfloat16'], ['float16', 'float16']] as const) {
    assert.equal(torch.autocast('cuda', dt, () => torch.tidy(() => conv.forward(x).dtype)), name);
    assert.equal(torch.autocast('cuda', dt, () => torch.tidy(() => F.softmax(conv.forward(x), 1).dtype)), 'float32', 'softmax runs in float32 under autocast');
  }
  assert.equal(torch.tidy(() => conv.forward(x).dtype), 'float32');
  const info = torch.cudaDeviceInfo('cuda');
  assert.ok(info.name.length > 0 && info.major >= 3 && info.totalMemory > 2 ** 30);
  const v = torch.cudaVersions();
  assert.ok(v.cuda !== null && v.cuda > 10000, `CUDA runtime version ${v.cuda}`);
  for (const t of [host, pinned, dev, x]) t.dispose();
  conv.dispose();
});
