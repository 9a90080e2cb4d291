// Explicit tensor ownership (like tf.tidy): every tensor created inside `tidy(fn)` is freed when fn returns,
// except the tensors in its result and those passed to `keep()`. Scopes nest; results move to the parent.
import { TensorError } from '../util/errors.js';

export interface Owned {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Owned>[] = [];
const kept = new WeakSet<Owned>();

/** Called by every new Tensor: it belongs to the innermost open scope (none open → caller owns it). */
export function track(t: Owned): void {
  const s = scopes[scopes.length - 1];
  if (s !== undefined) s.add(t);
}

/** Take a tensor out of scope management: it lives until its own dispose(). Returns it. */
export function keep<T extends Owned>(t: T): T {
  kept.add(t);
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i]!.delete(t)) break;
  return t;
}

function collect(v: unknown, out: Set<Owned>, seen: Set<unknown>, depth: number): void {
  if (v === null || typeof v !== 'object' || seen.has(v) || depth > 6) return;
  seen.add(v);
  if (isOwned(v)) { out.add(v); return; }
  if (Array.isArray(v)) { for (const x of v) collect(x, out, seen, depth + 1); return; }
  if (v instanceof Map) { for (const x of v.values()) collect(x, out, seen, depth + 1); return; }
  if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, seen, depth + 1);
}

function isOwned(v: object): v is Owned {
  return typeof (v as Owned).dispose === 'function' && 'isDisposed' in v && (v as { __tensor?: true }).__tensor === true;
}

/**
 * Run `fn` and free every tensor it created except what it returns (tensors, or arrays/plain objects/Maps of
 * them) and what it `keep()`s. Synchronous only: async work would escape the scope, so it is refused.
 */
export function tidy<T>(fn: () => T): T {
  if (fn.constructor.name === 'AsyncFunction') throw new TensorError('tidy() takes a synchronous function; an async one would let tensors escape its scope');
  const scope = new Set<Owned>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new TensorError('tidy() takes a synchronous function; it returned a Promise');
  }
  const keepSet = new Set<Owned>();
  collect(result, keepSet, new Set(), 0);
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (keepSet.has(t)) { if (parent !== undefined) parent.add(t); }
    else if (!kept.has(t)) t.dispose();
  }
  return result;
}

/** Number of open scopes (for tests). */
export function scopeDepth(): number { return scopes.length; }
