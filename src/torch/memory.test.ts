// Ownership: 500 training steps of the probe net (SGD) plus a small second net (Adam) keep the live-tensor
// count and RSS flat, and scopes — not GC finalizers — free every intermediate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';
import { F } from './index.js';
import { ProbeNet, smallDisc } from '../bench/probe-net.js';

test('500 steps at 128×256: live tensors equal at 50 and 500, RSS growth ≤ 30 MB, nothing freed by finalizers', () => {
  torch.setNumThreads(1);
  torch.manualSeed(0);
  const net = new ProbeNet();
  const disc = smallDisc();
  const sgd = new torch.SGD([{ params: net.parameters(), lr: 0.01, momentum: 0.9, weightDecay: 5e-4 }]);
  const adam = new torch.Adam([{ params: disc.parameters(), lr: 1e-4, beta1: 0.9, beta2: 0.99 }]);
  const x = torch.keep(torch.randn([1, 3, 128, 256]));
  const y = torch.keep(torch.randint(0, 8, [1, 128, 256]));
  const before = torch.memoryStats().finalized;
  let live50 = 0; let rss50 = 0; let first = 0; let last = 0;
  for (let step = 1; step <= 500; step++) {
    const loss = torch.tidy(() => {
      sgd.zeroGrad(); adam.zeroGrad();
      const logits = net.forward(x);
      const l = F.crossEntropy(logits, y, { ignoreIndex: 255 });
      l.backward();
      const d = disc.forward(F.softmax(logits.detach(), 1));
      F.binaryCrossEntropyWithLogits(d, torch.zerosLike(d)).backward();
      sgd.step(); adam.step();
      return l.item();
    });
    if (step === 1) first = loss;
    last = loss;
    if (step === 50) { live50 = torch.memoryStats().live; rss50 = process.memoryUsage().rss; }
  }
  const live500 = torch.memoryStats().live;
  const growthMb = (process.memoryUsage().rss - rss50) / 2 ** 20;
  assert.equal(live500, live50, 'live tensors at step 500 vs 50');
  assert.ok(growthMb <= 30, `RSS grew ${growthMb.toFixed(1)} MB between step 50 and 500`);
  assert.equal(torch.memoryStats().finalized - before, 0, 'tensors freed by GC finalizers');
  assert.ok(last < first, `the probe net trains: loss ${first} → ${last}`);
});
