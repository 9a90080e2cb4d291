// SGD and Adam against torch.optim over 6 steps: momentum, weight decay, two groups at different lr, an lr
// change between steps, and (SGD) parameters listed several times like the official CLAN optimizer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';
import { assertClose, decode, loadFixture, type Encoded } from './torch.testing.js';

interface Run { init: Record<string, Encoded>; steps: { lrs: number[]; grads: Record<string, Encoded>; after: Record<string, Encoded> }[];
  state: Record<string, Record<string, Encoded | number>> }
const fx = loadFixture<{ sgd: Run; sgd_duplicates: Run; adam: Run }>('engine/optim.json');

function replay(run: Run, make: (w: Record<string, torch.Tensor>) => torch.Optimizer<{ lr: number }>,
  check: (opt: torch.Optimizer<{ lr: number }>, w: Record<string, torch.Tensor>) => void): void {
  torch.tidy(() => {
    const w = Object.fromEntries(Object.entries(run.init).map(([k, e]) => [k, torch.keep(decode(e).requiresGrad_())]));
    const opt = make(w);
    run.steps.forEach((s, i) => {
      s.lrs.forEach((lr, g) => opt.setLr(g, lr));
      for (const [k, g] of Object.entries(s.grads)) w[k]!.grad = torch.keep(decode(g));
      opt.step();
      for (const [k, e] of Object.entries(s.after)) assertClose(w[k]!, e, { rtol: 0, atol: 1e-6, what: `step ${i + 1} ${k}` });
    });
    check(opt, w);
    opt.dispose();
    for (const t of Object.values(w)) t.dispose();
  });
}

test('SGD (momentum 0.9, wd 5e-4, groups at lr 0.1 / 1.0, lr changed at step 4) equals torch.optim.SGD to 1e-6', () => {
  replay(fx.sgd, (w) => new torch.SGD([
    { params: [w.w1!, w.w3!], lr: 0.1, momentum: 0.9, weightDecay: 5e-4 },
    { params: [w.w2!], lr: 1.0, momentum: 0.9, weightDecay: 5e-4 }]), (opt, w) => {
    const sd = opt.stateDict();
    const order = ['w1', 'w3', 'w2'];
    order.forEach((k, i) => assertClose(sd.state[i]!.momentum_buffer as torch.Tensor, fx.sgd.state[k]!.momentum_buffer as Encoded, { rtol: 0, atol: 1e-6, what: `${k} momentum` }));
    void w;
  });
});

test('SGD legacy mode with duplicated parameters equals the PyTorch 1.0 loop the official CLAN code ran on', () => {
  replay(fx.sgd_duplicates, (w) => new torch.SGD([
    { params: [w.w1!, w.w1!, w.w1!, w.w3!], lr: 0.1, momentum: 0.9, weightDecay: 5e-4, legacy: true },
    { params: [w.w2!], lr: 1.0, momentum: 0.9, weightDecay: 5e-4, legacy: true }]), () => {});
});

test('Adam (betas 0.9/0.99, eps 1e-8, wd 5e-4, two groups) equals torch.optim.Adam to 1e-6, state included', () => {
  replay(fx.adam, (w) => new torch.Adam([
    { params: [w.w1!, w.w3!], lr: 0.01, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 5e-4 },
    { params: [w.w2!], lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 5e-4 }]), (opt) => {
    const sd = opt.stateDict();
    ['w1', 'w3', 'w2'].forEach((k, i) => {
      const ref = fx.adam.state[k]!;
      assert.equal(sd.state[i]!.step, ref.step);
      assertClose(sd.state[i]!.exp_avg as torch.Tensor, ref.exp_avg as Encoded, { rtol: 0, atol: 1e-6, what: `${k} exp_avg` });
      assertClose(sd.state[i]!.exp_avg_sq as torch.Tensor, ref.exp_avg_sq as Encoded, { rtol: 0, atol: 1e-6, what: `${k} exp_avg_sq` });
    });
  });
});

const fxw = loadFixture<{ adamw: Run }>('engine/adamw.json');

test('AdamW (decoupled decay 0.5, groups at lr 0.01 / 0.1 / 0.01 without decay, lr changed at step 4) equals torch.optim.AdamW to 1e-6', () => {
  replay(fxw.adamw, (w) => new torch.AdamW([
    { params: [w.w1!, w.w3!], lr: 0.01, weightDecay: 0.5 },
    { params: [w.w2!], lr: 0.1, weightDecay: 0.5 },
    { params: [w.w4!], lr: 0.01, weightDecay: 0 }]), (opt) => {
    const sd = opt.stateDict();
    ['w1', 'w3', 'w2', 'w4'].forEach((k, i) => {
      const ref = fxw.adamw.state[k]!;
      assert.equal(sd.state[i]!.step, ref.step);
      assertClose(sd.state[i]!.exp_avg as torch.Tensor, ref.exp_avg as Encoded, { rtol: 0, atol: 1e-6, what: `${k} exp_avg` });
      assertClose(sd.state[i]!.exp_avg_sq as torch.Tensor, ref.exp_avg_sq as Encoded, { rtol: 0, atol: 1e-6, what: `${k} exp_avg_sq` });
    });
  });
});

test('AdamW state save/load resumes exactly, and its decay is decoupled (Adam with the same decay differs)', () => torch.tidy(() => {
  const mk = () => torch.keep(torch.tensor([1, -2, 3]).requiresGrad_());
  const [a, b, c] = [mk(), mk(), mk()];
  const oa = new torch.AdamW([{ params: [a], lr: 0.1, weightDecay: 0.1 }]);
  const ob = new torch.AdamW([{ params: [b], lr: 0.1, weightDecay: 0.1 }]);
  const adam = new torch.Adam([{ params: [c], lr: 0.1, weightDecay: 0.1 }]);
  const g = torch.keep(torch.tensor([0.5, 0.25, -1]));
  for (let i = 0; i < 3; i++) { a.grad = g.clone(); oa.step(); b.grad = g.clone(); ob.step(); c.grad = g.clone(); adam.step(); }
  const oc = new torch.AdamW([{ params: [b], lr: 0.5, weightDecay: 0 }]);
  oc.loadStateDict(ob.stateDict());
  assert.equal(oc.getLr(), 0.1);
  for (let i = 0; i < 2; i++) { a.grad = g.clone(); oa.step(); b.grad = g.clone(); oc.step(); }
  assert.deepEqual(b.toArray(), a.toArray());
  // First step of both: Adam's L2 decay is normalised away (|Δ| = lr); AdamW's shrinks p by lr·wd on top.
  assert.notDeepEqual(c.toArray(), a.toArray());
  for (const t of [oa, ob, oc, adam]) t.dispose();
  for (const t of [a, b, c, g]) t.dispose();
}));

test('optimizer state save/load resumes exactly', () => torch.tidy(() => {
  const mk = () => torch.keep(torch.tensor([1, -2, 3]).requiresGrad_());
  const a = mk(); const b = mk();
  const oa = new torch.Adam([{ params: [a], lr: 0.1 }]);
  const ob = new torch.Adam([{ params: [b], lr: 0.1 }]);
  const g = torch.keep(torch.tensor([0.5, 0.25, -1]));
  for (let i = 0; i < 3; i++) { a.grad = g.clone(); oa.step(); b.grad = g.clone(); ob.step(); }
  const saved = oa.stateDict();
  const oc = new torch.Adam([{ params: [b], lr: 0.5 }]);
  oc.loadStateDict(saved);
  assert.equal(oc.getLr(), 0.1);
  for (let i = 0; i < 2; i++) { a.grad = g.clone(); oa.step(); b.grad = g.clone(); oc.step(); }
  assert.deepEqual(b.toArray(), a.toArray());
  assert.throws(() => oc.loadStateDict({ groups: [], state: [] }), /optimizer state has 0 parameter groups, this optimizer has 1/);
  oa.dispose(); ob.dispose(); oc.dispose(); a.dispose(); b.dispose(); g.dispose();
}));

test('Module state dict: PyTorch key order, strict load lists every mismatch', () => torch.tidy(() => {
  const net = new torch.Sequential(new torch.Conv2d(3, 4, 3, { bias: false }), new torch.BatchNorm2d(4), new torch.ReLU());
  assert.deepEqual([...net.stateDict().keys()], ['0.weight', '1.weight', '1.bias', '1.running_mean', '1.running_var', '1.num_batches_tracked']);
  const sd = new Map<string, torch.Tensor>([['0.weight', torch.zeros([4, 3, 2, 2])], ['extra', torch.zeros([1])]]);
  assert.throws(() => net.loadStateDict(sd), (e: unknown) => {
    const m = (e as Error).message;
    return /0\.weight: expected \[4, 3, 3, 3\], got \[4, 3, 2, 2\]/.test(m) && /missing keys: 1\.weight, 1\.bias/.test(m) && /unexpected keys: extra/.test(m);
  });
  const other = new torch.Sequential(new torch.Conv2d(3, 4, 3, { bias: false }), new torch.BatchNorm2d(4), new torch.ReLU());
  net.loadStateDict(other.stateDict());
  assert.ok(net.stateDict().get('0.weight')!.equal(other.stateDict().get('0.weight')!));
  net.dispose(); other.dispose();
}));
