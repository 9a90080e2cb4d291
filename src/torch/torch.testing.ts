// Test helpers: closeness checks, reference fixtures, finite-difference gradient checks.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fixturePath } from '../util/paths.js';
import { Tensor, fromTypedArray, tensor } from './tensor.js';
import type { DType } from './dtype.js';
import { noGrad } from './runtime.js';
import { tidy } from './scope.js';

export interface Encoded { shape: number[]; dtype: string; data: number[] }

export function loadFixture<T>(rel: string): T { return JSON.parse(readFileSync(fixturePath(rel), 'utf8')) as T; }

/** Tensor from a fixture entry written by tools/reference/*.py. */
export function decode(e: Encoded, dtype?: DType): Tensor {
  const d = (dtype ?? (e.dtype === 'bool' ? 'uint8' : e.dtype)) as DType;
  return tensor(e.shape.length === 0 ? e.data[0]! : e.data, { dtype: d }).reshape(...e.shape);
}

/** max |a − b| ≤ atol + rtol·|b| elementwise, with the worst element named on failure. */
export function assertClose(actual: Tensor | ArrayLike<number>, expected: Tensor | ArrayLike<number> | Encoded,
  { rtol = 1e-5, atol = 1e-6, what = 'tensor' } = {}): void {
  const a = actual instanceof Tensor ? actual.toArray() : Array.from(actual);
  const eArr = expected instanceof Tensor ? expected.toArray() : 'data' in (expected as Encoded) ? (expected as Encoded).data : Array.from(expected as ArrayLike<number>);
  if (actual instanceof Tensor && !(expected instanceof Tensor) && 'shape' in (expected as Encoded)) {
    assert.deepEqual(actual.shape, (expected as Encoded).shape, `${what}: shape`);
  }
  assert.equal(a.length, eArr.length, `${what}: length`);
  let worst = -1; let worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i]! - eArr[i]!) - (atol + rtol * Math.abs(eArr[i]!));
    if (err > worstErr || Number.isNaN(a[i]!) !== Number.isNaN(eArr[i]!)) { worstErr = err; worst = i; }
  }
  if (worst >= 0) assert.fail(`${what}: element ${worst} is ${a[worst]}, expected ${eArr[worst]} (rtol ${rtol}, atol ${atol})`);
}

/**
 * Compare the analytic gradient of sum(f(inputs) · w) with central finite differences, in float64.
 * Returns the max relative error over all inputs; the test asserts it is tiny.
 */
export function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], eps = 1e-6): number {
  return tidy(() => {
    const xs = inputs.map((x) => x.to('float64').detach().requiresGrad_(true));
    const out0 = f(...xs);
    const w = fromTypedArray(Float64Array.from({ length: out0.numel }, (_, i) => Math.sin(1.3 * i + 0.5)), out0.shape);
    out0.mul(w).sum().backward();
    let worst = 0;
    xs.forEach((x) => {
      const analytic = x.grad!.toArray();
      const base = x.detach().clone();
      const flat = base.toTypedArray() as Float64Array;
      const numeric: number[] = [];
      for (let i = 0; i < flat.length; i++) {
        const at = (delta: number): number => tidy(() => {
          const pert = Float64Array.from(flat); pert[i]! += delta;
          const xp = fromTypedArray(pert, x.shape);
          const args = xs.map((o) => (o === x ? xp : o.detach()));
          return noGrad(() => f(...args).mul(w).sum().item());
        });
        numeric.push((at(eps) - at(-eps)) / (2 * eps));
      }
      for (let i = 0; i < numeric.length; i++) {
        const denom = Math.max(1, Math.abs(numeric[i]!));
        worst = Math.max(worst, Math.abs(analytic[i]! - numeric[i]!) / denom);
      }
    });
    return worst;
  });
}

/**
 * tools/reference/vgg_parity.py hash_uniform, bit for bit: U(−bound, bound)-like float32 values from lowbias32 of
 * i·0x9E3779B1 + (salt+1)·0x85EBCA77 (mod 2³²). Parity tests draw weights and inputs with it on both sides instead
 * of storing them.
 */
export function hashUniform(n: number, salt: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  const s = Math.imul(salt + 1, 0x85ebca77);
  for (let i = 0; i < n; i++) {
    let h = (Math.imul(i, 0x9e3779b1) + s) >>> 0;
    h ^= h >>> 16; h = Math.imul(h, 0x7feb352d) >>> 0;
    h ^= h >>> 15; h = Math.imul(h, 0x846ca68b) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0; // ^ gives an int32: back to uint32 before scaling
    out[i] = (h / 4294967296 * 2 - 1) * bound;
  }
  return out;
}
