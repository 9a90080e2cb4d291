// Devices on any build: the device-string checks and their one-line errors, the backend flags, autocast regions
// (the CPU's bf16 autocast exercises the same binding CUDA uses), Module.to keeping tensor identities, and the
// version formatting doctor prints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';
import { Conv2d } from './nn/layers.js';
import { TensorError } from '../util/errors.js';

test('parseDevice: cpu passes; malformed strings and CUDA on a CPU-only build are one-line errors naming the build', () => {
  assert.equal(torch.parseDevice('cpu'), 'cpu');
  for (const bad of ['gpu', 'cuda:', 'cpu:0', 'cuda:-1', 'CUDA', ' cuda']) {
    assert.throws(() => torch.parseDevice(bad, '--device'), (e: Error) => e instanceof TensorError && e.message === `--device: expected cpu, cuda or cuda:N, got '${bad}'`);
  }
  const info = torch.buildInfo();
  if (!info.cuda) {
    assert.throws(() => torch.parseDevice('cuda:1', 'device'), (e: Error) =>
      e.message.startsWith("device 'cuda:1': the addon is built against libtorch ") && e.message.includes('(CPU only)') && !e.message.includes('\n'));
    assert.equal(torch.cudaDeviceCount(), 0);
  } else {
    const n = torch.cudaDeviceCount();
    assert.throws(() => torch.parseDevice(`cuda:${n}`), new RegExp(`only ${n} GPU|no GPU`));
  }
});

test('backend flags round-trip (torch.backends.cudnn.benchmark / deterministic / allow_tf32)', () => {
  const before = torch.getBackendFlags();
  try {
    torch.setBackendFlags({ cudnnBenchmark: true, cudnnDeterministic: true, allowTF32Cudnn: false });
    assert.deepEqual({ ...torch.getBackendFlags(), allowTF32Cublas: before.allowTF32Cublas },
      { cudnnBenchmark: true, cudnnDeterministic: true, allowTF32Cudnn: false, allowTF32Cublas: before.allowTF32Cublas });
    torch.setBackendFlags({ cudnnBenchmark: false });
    assert.equal(torch.getBackendFlags().cudnnBenchmark, false);
    assert.equal(torch.getBackendFlags().cudnnDeterministic, true, 'flags not named stay as they are');
  } finally { torch.setBackendFlags(before); }
});

test('autocast: a conv computes in bf16 inside the region, float32 outside; regions nest and restore', () => {
  torch.manualSeed(0);
  const conv = new Conv2d(3, 4, 3, { padding: 1 });
  torch.init.normal_(conv.weight, 0, 0.1);
  const x = torch.keep(torch.randn([1, 3, 8, 8]));
  assert.equal(torch.isAutocastEnabled('cpu'), false);
  const inside = torch.autocast('cpu', 'bfloat16', () => {
    assert.equal(torch.isAutocastEnabled('cpu'), true);
    const nested = torch.autocast('cpu', 'bfloat16', () => conv.forward(x).dtype);
    assert.equal(torch.isAutocastEnabled('cpu'), true, 'leaving an inner region keeps the outer one on');
    const y = conv.forward(x);
    return { dtype: y.dtype, nested, y: y.to('float32').toArray() };
  });
  assert.equal(inside.dtype, 'bfloat16');
  assert.equal(inside.nested, 'bfloat16');
  assert.equal(torch.isAutocastEnabled('cpu'), false);
  const y32 = torch.tidy(() => conv.forward(x).toArray());
  // bf16 keeps 8 bits of mantissa: close to fp32 (relative 2^-8 per product, accumulated), not equal
  let worst = 0; let differ = 0;
  y32.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - inside.y[i]!)); if (v !== inside.y[i]) differ++; });
  assert.ok(worst < 0.05, `bf16 conv within 0.05 of fp32, worst ${worst}`);
  assert.ok(differ > 0, 'the region really computed in bf16');
  assert.equal(torch.autocast('cpu', null, () => conv.forward(x).dtype), 'float32', 'dtype null runs fn as it is');
  assert.throws(() => torch.autocast('cpu', 'bfloat16', () => { throw new Error('boom'); }), /boom/);
  assert.equal(torch.isAutocastEnabled('cpu'), false, 'an exception still leaves the region');
  conv.dispose(); x.dispose();
});

test('Module.to keeps parameter objects (optimizers, layers still hold them), values and requiresGrad', () => {
  const conv = new Conv2d(2, 3, 1);
  const w = conv.weight;
  w.requiresGrad = true;
  const before = w.toArray();
  const live = torch.memoryStats().live;
  assert.equal(conv.to('cpu'), conv);
  assert.equal(conv.weight, w);
  assert.deepEqual(w.toArray(), before);
  assert.equal(w.requiresGrad, true);
  assert.equal(conv.device, 'cpu');
  assert.equal(torch.memoryStats().live, live, 'no tensor leaked by the move');
  // _adopt is the primitive: a tensor takes over another's storage, the other ends disposed
  const a = torch.keep(torch.zeros([2])).requiresGrad_(true);
  const b = torch.keep(torch.ones([2]));
  a._adopt(b);
  assert.deepEqual(a.toArray(), [1, 1]);
  assert.equal(a.requiresGrad, true);
  assert.equal(b.isDisposed, true);
  a.dispose(); conv.dispose();
});

test('formatVersion reads libtorch\'s integer versions as doctor prints them', () => {
  assert.equal(torch.formatVersion('cuda', 13000), '13.0');
  assert.equal(torch.formatVersion('cuda', 12080), '12.8');
  assert.equal(torch.formatVersion('cudnn', 91000), '9.10.0');
  assert.equal(torch.formatVersion('cudnn', 8907), '8.9.7');
  assert.equal(torch.formatVersion('nccl', 22703), '2.27.3');
  assert.equal(torch.formatVersion('nccl', null), null);
  const v = torch.cudaVersions();
  if (!torch.buildInfo().cuda) assert.deepEqual([v.cuda, v.cudnn], [null, null]);
});
