// GradScaler against hand-computed values: unscaled gradients equal the plain ones (power-of-two scales are
// exact), an inf/NaN gradient skips the step and halves the scale, clean iterations grow it, state round-trips.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';

function setup(values: number[]) {
  const p = torch.keep(torch.tensor(values)).requiresGrad_(true);
  const opt = new torch.SGD([{ params: [p], lr: 0.5 }]);
  return { p, opt };
}

test('scaled backward then step gives the unscaled SGD update exactly', () => {
  const { p, opt } = setup([1, -2, 3]);
  const scaler = new torch.GradScaler({ initScale: 1024 });
  torch.tidy(() => {
    const loss = p.mul(p).sum();                      // d/dp = 2p
    const scaled = scaler.scaleLoss(loss);
    assert.equal(scaled.item(), 1024 * 14);
    scaled.backward();
    assert.deepEqual(p.grad!.toArray(), [2048, -4096, 6144]);
  });
  assert.equal(scaler.step(opt), true);
  assert.deepEqual(p.grad!.toArray(), [2, -4, 6], 'gradients unscaled in place');
  assert.deepEqual(p.toArray(), [0, 0, 0], 'p − 0.5·2p');
  scaler.update();
  assert.equal(scaler.scale, 1024);
  assert.deepEqual(scaler.stateDict(), { scale: 1024, growthTracker: 1 });
  opt.dispose(); p.dispose();
});

test('an inf or NaN gradient skips the step and halves the scale; growthInterval clean steps double it', () => {
  const { p, opt } = setup([1, 1]);
  const scaler = new torch.GradScaler({ initScale: 8, growthInterval: 2 });
  for (const [bad, expectScale, expectTracker] of [[Infinity, 4, 0], [NaN, 2, 0], [0, 2, 1], [0, 4, 0]] as const) {
    opt.zeroGrad();
    torch.tidy(() => scaler.scaleLoss(p.mul(torch.tensor([1, bad])).sum()).backward());
    const before = p.toArray();
    const stepped = scaler.step(opt);
    assert.equal(stepped, !(bad !== 0), `step taken for gradient factor ${bad}`);
    if (!stepped) assert.deepEqual(p.toArray(), before, 'parameters untouched on a skipped step');
    scaler.update();
    assert.deepEqual(scaler.stateDict(), { scale: expectScale, growthTracker: expectTracker });
  }
  const s2 = new torch.GradScaler();
  s2.loadStateDict({ scale: 32, growthTracker: 7 });
  assert.deepEqual(s2.stateDict(), { scale: 32, growthTracker: 7 });
  opt.dispose(); p.dispose();
});
