// Tensor: a typed, owned handle to a libtorch at::Tensor (tch-rs style). Methods mirror PyTorch names.
// Ownership: a tensor belongs to the innermost open tidy() scope (see scope.ts), or to the caller when no
// scope is open; dispose() frees it at once. A GC finalizer exists only as a safety net (counted in stats()).
import { native, type Handle } from './native.js';
import { DTYPES, DTYPE_SIZE, numel, type DType, type DTypeArrayMap, type HostArray, type HostTensor } from './dtype.js';
import { track } from './scope.js';
import { TensorError } from '../util/errors.js';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;
export type Scalar = number;
export type TensorOrScalar = Tensor | number;

const dtIndex = (d: DType): number => DTYPES.indexOf(d);

function arrayDType(a: HostArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array) return 'uint8';
  throw new TensorError('a Uint16Array holds float16 or bfloat16 words: pass the dtype explicitly');
}

function checkShape(shape: readonly number[], what: string): void {
  for (const s of shape) {
    if (!Number.isInteger(s) || s < 0) throw new TensorError(`${what}: shape [${shape.join(', ')}] must hold non-negative integers`);
  }
}

const ARRAY_CTORS: { [D in DType]: new (b: ArrayBuffer) => DTypeArrayMap[D] } = {
  float32: Float32Array, float64: Float64Array, float16: Uint16Array, bfloat16: Uint16Array,
  int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array, bool: Uint8Array,
};

function h(x: TensorOrScalar): Handle | number {
  return typeof x === 'number' ? x : x.handle;
}

export class Tensor {
  /** Brand checked by tidy() to find tensors inside results. */
  readonly __tensor = true as const;
  private h: Handle | null;
  private gradCache: Tensor | null = null;

  /** @internal Wraps a fresh native handle; use the factory functions instead. */
  constructor(handle: Handle, tracked = true) {
    this.h = handle;
    if (tracked) track(this);
  }

  /** @internal The native handle; throws on a disposed tensor. */
  get handle(): Handle {
    if (this.h === null) throw new TensorError('tensor used after dispose()');
    return this.h;
  }

  get isDisposed(): boolean { return this.h === null; }

  dispose(): void {
    if (this.h === null) return;
    if (this.gradCache) { this.gradCache.dispose(); this.gradCache = null; }
    native.dispose(this.h);
    this.h = null;
  }

  // ------------------------------------------------------------------------------------------- metadata
  get shape(): number[] { return native.shape(this.handle); }
  get dtype(): DType { return DTYPES[native.dtype(this.handle)]!; }
  get device(): string { return native.device(this.handle); }
  get ndim(): number { return this.shape.length; }
  get numel(): number { return numel(this.shape); }
  strides(): number[] { return native.strides(this.handle); }
  size(dim: number): number {
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    if (d < 0 || d >= s.length) throw new TensorError(`size(${dim}): tensor has ${s.length} dimensions`);
    return s[d]!;
  }

  // ------------------------------------------------------------------------------------------- autograd
  get requiresGrad(): boolean { return native.requiresGrad(this.handle); }
  set requiresGrad(v: boolean) { native.setRequiresGrad(this.handle, v); }
  requiresGrad_(v = true): this { native.setRequiresGrad(this.handle, v); return this; }
  get isLeaf(): boolean { return native.isLeaf(this.handle); }

  /**
   * The accumulated gradient, or null. The wrapper is stable: the same Tensor object is returned while
   * libtorch keeps the same gradient tensor. It is owned by this tensor (not by any scope): do not dispose it.
   */
  get grad(): Tensor | null {
    const hd = this.handle;
    if (this.gradCache && !this.gradCache.isDisposed && native.gradIs(hd, this.gradCache.handle)) return this.gradCache;
    if (this.gradCache) { this.gradCache.dispose(); this.gradCache = null; }
    const g = native.grad(hd);
    if (g === null) return null;
    this.gradCache = new Tensor(g, false);
    return this.gradCache;
  }
  set grad(g: Tensor | null) {
    if (this.gradCache) { this.gradCache.dispose(); this.gradCache = null; }
    native.setGrad(this.handle, g ? g.handle : null);
  }

  /** Whether both tensors view the same storage (e.g. a gradient that is a view of a flat buffer). */
  sharesStorage(other: Tensor): boolean { return native.sameStorage(this.handle, other.handle); }

  backward(gradient?: Tensor, opts: { retainGraph?: boolean } = {}): void {
    native.backward(this.handle, gradient ? gradient.handle : null, opts.retainGraph ?? false);
  }

  detach(): Tensor { return new Tensor(native.detach(this.handle)); }
  clone(): Tensor { return new Tensor(native.clone(this.handle)); }
  contiguous(): Tensor { return new Tensor(native.contiguous(this.handle)); }

  /**
   * Convert dtype or device (a string naming either). Asking for CUDA on a CPU-only build is an error.
   * nonBlocking: a host → GPU copy from pinned memory returns before it completes (ordered on the stream).
   */
  to(target: DType | Device, opts: { nonBlocking?: boolean } = {}): Tensor {
    if ((DTYPES as readonly string[]).includes(target)) return new Tensor(native.toDtype(this.handle, dtIndex(target as DType)));
    return new Tensor(opts.nonBlocking ? native.toDeviceAsync(this.handle, target, true) : native.toDevice(this.handle, target));
  }
  /** A copy in page-locked host memory (needs a CUDA build), so that to('cuda', { nonBlocking }) can overlap. */
  pinMemory(): Tensor { return new Tensor(native.pinMemory(this.handle)); }
  get isPinned(): boolean { return native.isPinned(this.handle); }

  /**
   * @internal Takes over `other`'s native tensor in place of its own (`other` ends disposed), keeping
   * requiresGrad: PyTorch's `param.data = …`. Module.to() moves parameters this way, so every holder of this
   * Tensor object (layers, optimizers) sees the moved tensor.
   */
  _adopt(other: Tensor): void {
    const next = other.handle;
    const rg = this.requiresGrad;
    if (this.gradCache) { this.gradCache.dispose(); this.gradCache = null; }
    native.dispose(this.handle);
    this.h = next;
    other.h = null;
    if (rg !== native.requiresGrad(next)) native.setRequiresGrad(next, rg);
  }

  // ------------------------------------------------------------------------------------------- host data
  item(): number {
    const v = native.item(this.handle);
    return typeof v === 'boolean' ? Number(v) : v;
  }

  /** Copy to a new typed array (contiguous, row-major). float16/bfloat16 come back as raw Uint16 words. */
  toTypedArray<D extends DType = DType>(): DTypeArrayMap[D] {
    const dt = this.dtype as D;
    return new ARRAY_CTORS[dt](native.toBuffer(this.handle)) as DTypeArrayMap[D];
  }
  toHost(): HostTensor { return { dtype: this.dtype, shape: this.shape, data: this.toTypedArray() }; }
  /** Plain numbers (int64 as Number), for tests and small tensors. */
  toArray(): number[] { return Array.from(this.toTypedArray() as ArrayLike<number | bigint>, (x) => Number(x)); }

  // ------------------------------------------------------------------------------------------- arithmetic
  add(o: TensorOrScalar, alpha?: number): Tensor { return new Tensor(native.add(this.handle, h(o), alpha)); }
  sub(o: TensorOrScalar, alpha?: number): Tensor { return new Tensor(native.sub(this.handle, h(o), alpha)); }
  /** scalar − this */
  rsub(s: number): Tensor { return new Tensor(native.rsub(this.handle, s)); }
  mul(o: TensorOrScalar): Tensor { return new Tensor(native.mul(this.handle, h(o))); }
  div(o: TensorOrScalar): Tensor { return new Tensor(native.div(this.handle, h(o))); }
  pow(o: TensorOrScalar): Tensor { return new Tensor(native.pow(this.handle, h(o))); }
  neg(): Tensor { return new Tensor(native.neg(this.handle)); }
  abs(): Tensor { return new Tensor(native.abs(this.handle)); }
  exp(): Tensor { return new Tensor(native.exp(this.handle)); }
  log(): Tensor { return new Tensor(native.log(this.handle)); }
  sqrt(): Tensor { return new Tensor(native.sqrt(this.handle)); }
  rsqrt(): Tensor { return new Tensor(native.rsqrt(this.handle)); }
  sigmoid(): Tensor { return new Tensor(native.sigmoid(this.handle)); }
  tanh(): Tensor { return new Tensor(native.tanh(this.handle)); }
  sign(): Tensor { return new Tensor(native.sign(this.handle)); }
  floor(): Tensor { return new Tensor(native.floor(this.handle)); }
  relu(): Tensor { return new Tensor(native.relu(this.handle)); }
  clamp(min?: number | null, max?: number | null): Tensor { return new Tensor(native.clamp(this.handle, min, max)); }
  maximum(o: Tensor): Tensor { return new Tensor(native.maximum(this.handle, o.handle)); }
  minimum(o: Tensor): Tensor { return new Tensor(native.minimum(this.handle, o.handle)); }
  matmul(o: Tensor): Tensor { return new Tensor(native.matmul(this.handle, o.handle)); }

  // ------------------------------------------------------------------------------------------- comparison
  eq(o: TensorOrScalar): Tensor { return new Tensor(native.eq(this.handle, h(o))); }
  ne(o: TensorOrScalar): Tensor { return new Tensor(native.ne(this.handle, h(o))); }
  lt(o: TensorOrScalar): Tensor { return new Tensor(native.lt(this.handle, h(o))); }
  le(o: TensorOrScalar): Tensor { return new Tensor(native.le(this.handle, h(o))); }
  gt(o: TensorOrScalar): Tensor { return new Tensor(native.gt(this.handle, h(o))); }
  ge(o: TensorOrScalar): Tensor { return new Tensor(native.ge(this.handle, h(o))); }
  logicalAnd(o: Tensor): Tensor { return new Tensor(native.logicalAnd(this.handle, o.handle)); }
  logicalOr(o: Tensor): Tensor { return new Tensor(native.logicalOr(this.handle, o.handle)); }
  logicalNot(): Tensor { return new Tensor(native.logicalNot(this.handle)); }
  isfinite(): Tensor { return new Tensor(native.isfinite(this.handle)); }
  isnan(): Tensor { return new Tensor(native.isnan(this.handle)); }
  maskedFill(mask: Tensor, value: number): Tensor { return new Tensor(native.maskedFill(this.handle, mask.handle, value)); }
  /** Same shape and exactly equal values. */
  equal(o: Tensor): boolean { return native.equal(this.handle, o.handle); }

  // ------------------------------------------------------------------------------------------- reductions
  sum(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(dims === undefined ? native.sum(this.handle) : native.sum(this.handle, ([] as number[]).concat(dims), keepdim));
  }
  mean(dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(dims === undefined ? native.mean(this.handle) : native.mean(this.handle, ([] as number[]).concat(dims), keepdim));
  }
  /** Max of all elements. */
  max(): Tensor { return new Tensor(native.maxAll(this.handle)); }
  min(): Tensor { return new Tensor(native.minAll(this.handle)); }
  /** Max along a dim: [values, indices]. */
  maxDim(dim: number, keepdim = false): [Tensor, Tensor] {
    const [v, i] = native.maxDim(this.handle, dim, keepdim);
    return [new Tensor(v), new Tensor(i)];
  }
  minDim(dim: number, keepdim = false): [Tensor, Tensor] {
    const [v, i] = native.minDim(this.handle, dim, keepdim);
    return [new Tensor(v), new Tensor(i)];
  }
  argmax(dim: number, keepdim = false): Tensor { return new Tensor(native.argmax(this.handle, dim, keepdim)); }
  all(): Tensor { return new Tensor(native.all(this.handle)); }
  any(): Tensor { return new Tensor(native.any(this.handle)); }
  /** p-norm (default 2) of all elements, or along `dims` (torch.norm). */
  norm(p = 2, dims?: number | number[], keepdim = false): Tensor {
    return new Tensor(dims === undefined ? native.norm(this.handle, p)
      : native.norm(this.handle, p, ([] as number[]).concat(dims), keepdim));
  }
  /** 1-D inner product. */
  dot(o: Tensor): Tensor { return new Tensor(native.dot(this.handle, o.handle)); }
  /** Elements where mask is true, as a 1-D tensor (t[mask]). */
  maskedSelect(mask: Tensor): Tensor { return new Tensor(native.maskedSelect(this.handle, mask.handle)); }

  // ------------------------------------------------------------------------------------------- shape
  view(...shape: number[]): Tensor { return new Tensor(native.view(this.handle, shape)); }
  reshape(...shape: number[]): Tensor { return new Tensor(native.reshape(this.handle, shape)); }
  permute(...dims: number[]): Tensor { return new Tensor(native.permute(this.handle, dims)); }
  transpose(d0: number, d1: number): Tensor { return new Tensor(native.transpose(this.handle, d0, d1)); }
  flatten(start = 0, end = -1): Tensor { return new Tensor(native.flatten(this.handle, start, end)); }
  squeeze(dim: number): Tensor { return new Tensor(native.squeeze(this.handle, dim)); }
  unsqueeze(dim: number): Tensor { return new Tensor(native.unsqueeze(this.handle, dim)); }
  expand(...shape: number[]): Tensor { return new Tensor(native.expand(this.handle, shape)); }
  /** Python's t[start:end:step] along `dim` (a view). */
  slice(dim: number, start: number, end: number, step = 1): Tensor { return new Tensor(native.slice(this.handle, dim, start, end, step)); }
  flip(dims: number[]): Tensor { return new Tensor(native.flip(this.handle, dims)); }
  indexSelect(dim: number, index: Tensor): Tensor { return new Tensor(native.indexSelect(this.handle, dim, index.handle)); }
  gather(dim: number, index: Tensor): Tensor { return new Tensor(native.gather(this.handle, dim, index.handle)); }

  // ------------------------------------------------------------------------------------------- in place
  // Used by optimizers and initialisers (under noGrad for leaves that require grad), and relu_/add_ by the ResNet
  // blocks on activations autograd does not save (it refuses a backward through a modified saved tensor). They return `this`.
  add_(o: TensorOrScalar, alpha?: number): this {
    if (alpha === undefined || typeof o === 'number') native.add_(this.handle, typeof o === 'number' ? o * (alpha ?? 1) : o.handle);
    else native.addScaled_(this.handle, o.handle, alpha);
    return this;
  }
  mul_(o: TensorOrScalar): this { native.mul_(this.handle, h(o)); return this; }
  div_(o: TensorOrScalar): this { native.div_(this.handle, h(o)); return this; }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this { native.addcmul_(this.handle, t1.handle, t2.handle, value); return this; }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this { native.addcdiv_(this.handle, t1.handle, t2.handle, value); return this; }
  copy_(src: Tensor): this { native.copy_(this.handle, src.handle); return this; }
  zero_(): this { native.zero_(this.handle); return this; }
  fill_(v: number): this { native.fill_(this.handle, v); return this; }
  sqrt_(): this { native.sqrt_(this.handle); return this; }
  relu_(): this { native.relu_(this.handle); return this; }
  normal_(mean = 0, std = 1): this { native.normal_(this.handle, mean, std); return this; }
  uniform_(lo = 0, hi = 1): this { native.uniform_(this.handle, lo, hi); return this; }

  toString(): string {
    return this.h === null ? 'Tensor(disposed)' : `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }
}

// --------------------------------------------------------------------------------------------- factories
export interface Options { dtype?: DType; device?: Device }
const dt = (o?: Options): number => dtIndex(o?.dtype ?? 'float32');
const dev = (o?: Options): string => o?.device ?? 'cpu';

/** Copy a typed array into a new tensor. Its length must equal the product of `shape`. */
export function fromTypedArray(data: HostArray, shape: readonly number[], dtype?: DType, device?: Device): Tensor {
  const d = dtype ?? arrayDType(data);
  checkShape(shape, 'fromTypedArray');
  const n = numel(shape);
  if (data.byteLength !== n * DTYPE_SIZE[d]) {
    throw new TensorError(`fromTypedArray: ${data.length} elements of ${data.BYTES_PER_ELEMENT} bytes do not fill shape [${shape.join(', ')}] of ${d} (${n} elements)`);
  }
  const expected = ARRAY_CTORS[d];
  if (!(data instanceof expected)) throw new TensorError(`fromTypedArray: dtype ${d} needs a ${expected.name}, got ${data.constructor.name}`);
  const t = new Tensor(native.fromBuffer(data, [...shape], dtIndex(d)));
  if (device && device !== 'cpu') { const m = t.to(device); t.dispose(); return m; }
  return t;
}

/**
 * Zero-copy: the tensor aliases `data`'s memory (and keeps the ArrayBuffer alive). Writes to either are seen
 * by both. Only safe while the ArrayBuffer is never transferred (postMessage) or detached: do that and the
 * tensor points at freed memory. Use fromTypedArray unless the copy is measured to matter.
 */
export function fromTypedArrayShared(data: HostArray, shape: readonly number[], dtype?: DType): Tensor {
  const d = dtype ?? arrayDType(data);
  checkShape(shape, 'fromTypedArrayShared');
  if (data.byteLength !== numel(shape) * DTYPE_SIZE[d]) throw new TensorError(`fromTypedArrayShared: buffer does not fill shape [${shape.join(', ')}] of ${d}`);
  return new Tensor(native.fromBufferShared(data, [...shape], dtIndex(d)));
}

export function fromHost(t: HostTensor, device?: Device): Tensor { return fromTypedArray(t.data, t.shape, t.dtype, device); }

type Nested = number | boolean | Nested[];
/** Small tensors from (nested) JS arrays: `tensor([[1, 2], [3, 4]])`. */
export function tensor(values: Nested, opts?: Options): Tensor {
  const shape: number[] = [];
  let v: Nested = values;
  while (Array.isArray(v)) { shape.push(v.length); v = v[0] as Nested; }
  const flat = (Array.isArray(values) ? (values as unknown[]).flat(Infinity) : [values]) as (number | boolean)[];
  if (flat.length !== numel(shape)) throw new TensorError('tensor(): ragged nested array');
  const d = opts?.dtype ?? 'float32';
  let arr: HostArray;
  switch (d) {
    case 'float64': arr = Float64Array.from(flat, Number); break;
    case 'int64': arr = BigInt64Array.from(flat, (x) => BigInt(Math.trunc(Number(x)))); break;
    case 'int32': arr = Int32Array.from(flat, Number); break;
    case 'uint8': case 'bool': arr = Uint8Array.from(flat, Number); break;
    case 'float32': arr = Float32Array.from(flat, Number); break;
    default: {
      const f = fromTypedArray(Float32Array.from(flat, Number), shape);
      const r = f.to(d); f.dispose();
      return opts?.device && opts.device !== 'cpu' ? r.to(opts.device) : r;
    }
  }
  return fromTypedArray(arr, shape, d, opts?.device);
}

export function scalar(v: number, opts?: Options): Tensor { return tensor(v, opts); }
export function empty(shape: number[], o?: Options): Tensor { checkShape(shape, 'empty'); return new Tensor(native.empty(shape, dt(o), dev(o))); }
export function zeros(shape: number[], o?: Options): Tensor { checkShape(shape, 'zeros'); return new Tensor(native.zeros(shape, dt(o), dev(o))); }
export function ones(shape: number[], o?: Options): Tensor { checkShape(shape, 'ones'); return new Tensor(native.ones(shape, dt(o), dev(o))); }
export function full(shape: number[], v: number, o?: Options): Tensor { checkShape(shape, 'full'); return new Tensor(native.full(shape, v, dt(o), dev(o))); }
export function arange(start: number, end: number, step = 1, o?: Options): Tensor {
  return new Tensor(native.arange(start, end, step, dtIndex(o?.dtype ?? 'int64'), dev(o)));
}
/** U[0, 1) from the default generator (seeded by manualSeed). */
export function rand(shape: number[], o?: Options): Tensor { checkShape(shape, 'rand'); return new Tensor(native.rand(shape, dt(o), dev(o))); }
export function randn(shape: number[], o?: Options): Tensor { checkShape(shape, 'randn'); return new Tensor(native.randn(shape, dt(o), dev(o))); }
export function randint(low: number, high: number, shape: number[], o?: Options): Tensor {
  checkShape(shape, 'randint');
  return new Tensor(native.randint(low, high, shape, dtIndex(o?.dtype ?? 'int64'), dev(o)));
}
export function randperm(n: number, o?: Options): Tensor { return new Tensor(native.randperm(n, dtIndex(o?.dtype ?? 'int64'), dev(o))); }

export function cat(ts: Tensor[], dim = 0): Tensor { return new Tensor(native.cat(ts.map((t) => t.handle), dim)); }
export function stack(ts: Tensor[], dim = 0): Tensor { return new Tensor(native.stack(ts.map((t) => t.handle), dim)); }
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor { return new Tensor(native.where(cond.handle, a.handle, b.handle)); }
export function zerosLike(t: Tensor): Tensor { return zeros(t.shape, { dtype: t.dtype, device: t.device as Device }); }
export function onesLike(t: Tensor): Tensor { return ones(t.shape, { dtype: t.dtype, device: t.device as Device }); }
export function fullLike(t: Tensor, v: number): Tensor { return full(t.shape, v, { dtype: t.dtype, device: t.device as Device }); }
