// Tensor basics: dtypes, host copies, devices, autograd plumbing, scopes, and clear errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from './index.js';
import { F } from './index.js';
import { TensorError } from '../util/errors.js';

test('fromTypedArray/toTypedArray round-trip every dtype', () => torch.tidy(() => {
  const cases: [torch.DType, torch.HostArray][] = [
    ['float32', new Float32Array([1.5, -2, 3.25, 0, 7, 8])],
    ['float64', new Float64Array([1e-300, -2, 3, 4, 5, 6])],
    ['int64', new BigInt64Array([1n, -2n, 2n ** 40n, 4n, 5n, 6n])],
    ['int32', new Int32Array([1, -2, 3, 4, 5, 2 ** 30])],
    ['uint8', new Uint8Array([0, 1, 2, 3, 254, 255])],
    ['bool', new Uint8Array([0, 1, 1, 0, 1, 0])],
    ['float16', new Uint16Array([0x3c00, 0xc000, 0x4200, 0, 0x7bff, 0x0001])],   // 1, -2, 3, 0, 65504, 2^-24
    ['bfloat16', new Uint16Array([0x3f80, 0xc000, 0x4040, 0, 0x4080, 0x40a0])], // 1, -2, 3, 0, 4, 5
  ];
  for (const [dt, arr] of cases) {
    const t = torch.fromTypedArray(arr, [2, 3], dt);
    assert.equal(t.dtype, dt);
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(Array.from(t.toTypedArray() as ArrayLike<number | bigint>), Array.from(arr as ArrayLike<number | bigint>), dt);
  }
  const h = torch.fromTypedArray(new Uint16Array([0x3c00, 0xc000, 0x4200, 0, 0x7bff, 0x0001]), [6], 'float16').to('float32');
  assert.deepEqual(h.toArray(), [1, -2, 3, 0, 65504, 2 ** -24]);
  const b = torch.fromTypedArray(new Uint16Array([0x3f80, 0xc000, 0x4040, 0, 0x4080, 0x40a0]), [6], 'bfloat16').to('float32');
  assert.deepEqual(b.toArray(), [1, -2, 3, 0, 4, 5]);
}));

test('fromTypedArray copies; fromTypedArrayShared aliases the buffer', () => torch.tidy(() => {
  const a = new Float32Array([1, 2, 3, 4]);
  const copy = torch.fromTypedArray(a, [4]);
  const shared = torch.fromTypedArrayShared(a, [2, 2]);
  a[0] = 100;
  assert.equal(copy.toArray()[0], 1);
  assert.equal(shared.toArray()[0], 100);
  torch.noGrad(() => shared.mul_(2));
  assert.equal(a[3], 8);
}));

test('sizes and dtypes are validated in TS before any raw-buffer call', () => {
  assert.throws(() => torch.fromTypedArray(new Float32Array(5), [2, 3]), /5 elements of 4 bytes do not fill shape \[2, 3\] of float32/);
  assert.throws(() => torch.fromTypedArray(new Float32Array(6), [2, 3], 'int32'), /dtype int32 needs a Int32Array, got Float32Array/);
  assert.throws(() => torch.fromTypedArray(new Uint16Array(6), [6]), /pass the dtype explicitly/);
  assert.throws(() => torch.zeros([2, -1]), (e: unknown) => e instanceof TensorError && /non-negative integers/.test(e.message));
});

test('a failure inside libtorch becomes a one-line TensorError without C++ frames', () => torch.tidy(() => {
  const a = torch.ones([2, 3]);
  const b = torch.ones([2, 3]);
  assert.throws(() => a.matmul(b), (e: unknown) => {
    assert.ok(e instanceof TensorError);
    assert.match(e.message, /mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/);
    assert.doesNotMatch(e.message, /frame #|\n|Exception raised from/);
    return true;
  });
  assert.throws(() => a.add(torch.ones([4])), /size of tensor a \(3\) must match the size of tensor b \(4\)/);
  assert.throws(() => a.view(4), /invalid for input of size 6/);
}));

test('conv2d and cross_entropy shape errors name the shapes', () => torch.tidy(() => {
  assert.throws(() => F.conv2d(torch.ones([3, 8, 8]), torch.ones([4, 3, 3, 3])), /conv2d: input must be 4-D \[N, C, H, W\], got shape \[3, 8, 8\]/);
  assert.throws(() => F.crossEntropy(torch.ones([1, 3, 4, 4]), torch.zeros([1, 4, 4])), /target must be int64 class indices, got float32/);
  assert.throws(() => F.crossEntropy(torch.ones([1, 3, 4, 4]), torch.zeros([1, 4, 5], { dtype: 'int64' })), /target shape \[1, 4, 5\] does not match input \[1, 3, 4, 4\]/);
}));

test('a disposed tensor raises a clear error', () => {
  const t = torch.ones([2]);
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.throws(() => t.add(1), /tensor used after dispose\(\)/);
  assert.throws(() => t.shape, /tensor used after dispose\(\)/);
  t.dispose(); // idempotent
});

test('CUDA on a CPU-only build is an error naming the build, never a silent CPU fallback', () => {
  if (torch.buildInfo().cuda) return;
  assert.throws(() => torch.zeros([2], { device: 'cuda' }), /device 'cuda' requested but this libtorch .* \(CPU only\) has no CUDA support/);
  const t = torch.ones([1]);
  assert.throws(() => t.to('cuda'), /has no CUDA support/);
  t.dispose();
});

test('tidy frees everything except its result and kept tensors; nested scopes hand results up', () => {
  const live0 = torch.memoryStats().live;
  let kept: torch.Tensor | null = null;
  const out = torch.tidy(() => {
    const a = torch.ones([3]);
    const inner = torch.tidy(() => a.mul(2).add(1));
    kept = torch.keep(a.mul(10));
    return { inner, list: [a.sum()] };
  });
  assert.deepEqual(out.inner.toArray(), [3, 3, 3]);
  assert.equal(out.list[0]!.item(), 3);
  assert.equal(torch.memoryStats().live, live0 + 3);
  out.inner.dispose(); out.list[0]!.dispose(); kept!.dispose();
  assert.equal(torch.memoryStats().live, live0);
  assert.throws(() => torch.tidy((async () => 1) as unknown as () => number), /synchronous function/);
  assert.throws(() => torch.tidy(() => { torch.ones([1]); throw new Error('boom'); }), /boom/);
  assert.equal(torch.memoryStats().live, live0, 'tensors of a failed scope are freed');
});

test('autograd: backward with an explicit gradient, stable grad wrapper, noGrad', () => torch.tidy(() => {
  const x = torch.tensor([1, 2, 3]).requiresGrad_();
  const y = x.mul(x);                               // dy/dx = 2x
  y.backward(torch.tensor([1, 10, 100]));
  const g1 = x.grad!;
  assert.deepEqual(g1.toArray(), [2, 40, 600]);
  assert.equal(x.grad, g1, 'same wrapper while libtorch keeps the same gradient');
  x.mul(3).sum().backward();                        // accumulates in place
  assert.equal(x.grad, g1);
  assert.deepEqual(g1.toArray(), [5, 43, 603]);
  x.grad = null;
  assert.equal(x.grad, null);
  const z = torch.noGrad(() => x.mul(2));
  assert.equal(z.requiresGrad, false);
  assert.equal(torch.isGradEnabled(), true);
}));

test('in-place relu_ and add_ under autograd: the gradients of the out-of-place ops; a saved tensor modified is refused', () => torch.tidy(() => {
  const x = torch.tensor([-2, -0.5, 1, 3]).requiresGrad_();
  const r = torch.tensor([1, 1, -2, 0.5]);
  // y = relu(2x + r): 2x = [-4, -1, 2, 6], + r = [-3, 0, 0, 6.5] → relu [0, 0, 0, 6.5]
  const y = x.mul(2).add_(r).relu_();
  assert.deepEqual(y.toArray(), [0, 0, 0, 6.5]);
  y.backward(torch.tensor([1, 10, 100, 1000]));
  assert.deepEqual(x.grad!.toArray(), [0, 0, 0, 2000]);  // relu's gradient at 0 is 0, as out of place
  // sigmoid's backward reads its output: changing that output in place makes the backward a one-line error
  const s = x.sigmoid();
  s.relu_();
  assert.throws(() => s.sum().backward(), (e: Error) => e instanceof TensorError && /modified by an inplace operation/.test(e.message) && !e.message.includes('\n'));
}));

test('RNG: manualSeed reproduces; state save/restore resumes the exact stream', () => torch.tidy(() => {
  torch.manualSeed(42);
  const a = torch.rand([5]).toArray();
  torch.manualSeed(42);
  assert.deepEqual(torch.rand([5]).toArray(), a);
  const state = torch.getRngState();
  const next = torch.randn([4]).toArray();
  torch.rand([100]);
  torch.setRngState(state);
  assert.deepEqual(torch.randn([4]).toArray(), next);
  const r = torch.randint(0, 5, [1000]).toArray();
  assert.ok(Math.min(...r) === 0 && Math.max(...r) === 4);
}));

test('forkRng: fn draws from manualSeed(seed)\'s stream; the stream outside goes on as if fn had not run, also when it throws', () => torch.tidy(() => {
  torch.manualSeed(3);
  const seeded = torch.rand([5]).toArray();
  torch.manualSeed(7);
  const plain = [torch.rand([4]).toArray(), torch.randn([3]).toArray()];
  torch.manualSeed(7);
  const inside = torch.forkRng(3, () => torch.rand([5]).toArray());
  assert.deepEqual(inside, seeded);
  assert.deepEqual(torch.rand([4]).toArray(), plain[0]);
  torch.manualSeed(7);
  assert.throws(() => torch.forkRng(3, () => { torch.randn([9]); throw new Error('inside'); }), /inside/);
  assert.deepEqual([torch.rand([4]).toArray(), torch.randn([3]).toArray()], plain);
  assert.throws(() => torch.forkRng(-1, () => 0), (e: Error) => e instanceof TensorError && /^forkRng: seed must be a non-negative integer, got -1$/.test(e.message));
}));

test('threads can be set and read back', () => {
  const prev = torch.getNumThreads();
  torch.setNumThreads(1);
  assert.equal(torch.getNumThreads(), 1);
  torch.setNumThreads(prev);
  assert.throws(() => torch.setNumThreads(0), /positive integer/);
});

test('external memory is counted once per storage (views share it) and released on dispose', () => {
  const before = torch.memoryStats().externalBytes;
  const t = torch.zeros([1000]);
  const v = t.view(10, 100);
  assert.equal(torch.memoryStats().externalBytes - before, 4000);
  t.dispose();
  assert.equal(torch.memoryStats().externalBytes - before, 4000, 'the view still holds the storage');
  v.dispose();
  assert.equal(torch.memoryStats().externalBytes, before);
});
