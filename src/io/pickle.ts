// A RESTRICTED unpickler for PyTorch checkpoints. Python's pickle is a small stack machine whose GLOBAL
// and REDUCE opcodes can import and call anything (`os.system`, `builtins.eval`), so loading an untrusted
// .pth with pickle runs arbitrary code. Here nothing is ever imported or called: GLOBAL/STACK_GLOBAL
// resolve only the names in ALLOWED below (anything else is refused on the spot, naming the global), and
// REDUCE/NEWOBJ/BUILD are interpreted in TypeScript for those names alone.
// Opcode semantics follow CPython's Lib/pickle.py (protocols 0–5; out-of-band buffers are refused).
// Resources are bounded (limits.ts): values built or fetched from the memo per unpickle (pickleObjects), and a
// tensor view must lie inside its storage, checked in safe-integer arithmetic before anything is copied.

import { DTYPE_SIZE, type DType, type HostTensor } from '../torch/dtype.js';
import { CheckpointError } from '../util/errors.js';
import { bytesToArray, stridedCopy } from './hostarray.js';
import { limit, limitText } from '../util/limits.js';

/** Python values as they come out of a checkpoint. ints beyond 2^53 stay bigint; tuples are frozen arrays. */
export type PickleValue =
  | null | boolean | number | bigint | string | Uint8Array
  | PickleValue[] | PickleDict | Set<PickleValue>
  | PickleGlobal | TorchStorage | TorchTensorRef;
/** dict and collections.OrderedDict (both keep insertion order). */
export type PickleDict = Map<PickleValue, PickleValue>;

/** An allowed global (`module.name`) pushed by GLOBAL/STACK_GLOBAL. It is never called, only matched by name. */
export class PickleGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualname(): string { return `${this.module}.${this.name}`; }
}

/**
 * A typed storage: `numel` elements of `dtype`. `bytes` is lazy because legacy files store data after the pickle.
 * `base` is the storage this one slices (legacy view metadata), so memory is accounted once per real buffer.
 */
export class TorchStorage {
  constructor(readonly dtype: DType, readonly numel: number, readonly bytes: () => Uint8Array, readonly base?: TorchStorage) {}
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view into a (possibly shared) storage. */
export class TorchTensorRef {
  constructor(
    readonly storage: TorchStorage,
    readonly offset: number, // in elements
    readonly shape: number[],
    readonly stride: number[],
    public requiresGrad: boolean,
  ) {}

  /** Bytes a materialised copy takes; the shape was checked to be a safe product when the view was built. */
  get byteLength(): number {
    return this.shape.reduce((n, s) => n * s, DTYPE_SIZE[this.storage.dtype]);
  }

  /** A contiguous copy of the viewed elements (views may share storage, so data are never aliased). */
  materialize(): HostTensor {
    const { dtype } = this.storage;
    const es = DTYPE_SIZE[dtype];
    let n = 1;
    for (const s of this.shape) n *= s;
    const bytes = this.storage.bytes();
    // Row-major contiguous when every dimension of size > 1 has the stride of the dims after it.
    let contiguous = true;
    for (let k = this.shape.length - 1, expect = 1; k >= 0; k--) {
      if (this.shape[k] !== 1 && this.stride[k] !== expect) contiguous = false;
      expect *= this.shape[k];
    }
    const data = contiguous
      ? bytesToArray(dtype, bytes.subarray(this.offset * es, (this.offset + n) * es), n, true)
      : stridedCopy(dtype, bytesToArray(dtype, bytes, this.storage.numel), this.offset, this.shape, this.stride);
    return { dtype, shape: [...this.shape], data };
  }
}

const STORAGE_DTYPE: Record<string, DType> = {
  FloatStorage: 'float32', DoubleStorage: 'float64', HalfStorage: 'float16', BFloat16Storage: 'bfloat16',
  LongStorage: 'int64', IntStorage: 'int32', ByteStorage: 'uint8', BoolStorage: 'bool',
};

/** The only globals a checkpoint may name. Everything here is data construction, nothing has side effects. */
const ALLOWED = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor', 'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter', 'torch._utils._rebuild_parameter_with_state',
  // Protocol 2 has no bytes opcode: Python 3 pickles bytes as _codecs.encode(str, 'latin1').
  '_codecs.encode',
  ...Object.keys(STORAGE_DTYPE).map((s) => `torch.${s}`),
]);

const MAX_LONG_BYTES = 1024;

/** The dtype of a storage class global (torch.FloatStorage → 'float32'), or undefined. */
export function storageDtype(v: PickleValue): DType | undefined {
  return v instanceof PickleGlobal && v.module === 'torch' ? STORAGE_DTYPE[v.name] : undefined;
}

export interface UnpickleOptions {
  /** Names the source in error messages. */
  file?: string;
  /** Byte offset where the pickle starts (legacy .pth files hold several pickles in a row). */
  offset?: number;
  /** Resolves persistent ids (PERSID/BINPERSID); torch uses them for storages. Without it they are refused. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
}

/** Runs the restricted unpickler; returns the object and the offset just past its STOP opcode. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions = {}): { value: PickleValue; end: number } {
  const file = opts.file ?? '<bytes>';
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = opts.offset ?? 0;
  let op = 0, opAt = 0;
  const fail: (what: string) => never = (what) => {
    throw new CheckpointError(`${file}: pickle: ${what} (opcode 0x${op.toString(16)} at byte ${opAt})`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > bytes.byteLength) fail('unexpected end of data; truncated');
    const at = pos;
    pos += n;
    return at;
  };
  const take = (n: number): Uint8Array => bytes.subarray(need(n), pos);
  const u64 = (): number => {
    const v = dv.getBigUint64(need(8), true);
    if (v > BigInt(bytes.byteLength)) fail(`length ${v} exceeds the data`);
    return Number(v);
  };
  const line = (): string => {
    const nl = bytes.indexOf(0x0a, pos);
    if (nl < 0) fail('unterminated text line; truncated');
    const s = latin1(bytes.subarray(pos, nl));
    pos = nl + 1;
    return s;
  };
  const utf8 = (b: Uint8Array): string => {
    try { return new TextDecoder('utf-8', { fatal: true }).decode(b); } catch { return fail('string is not valid UTF-8'); }
  };

  let stack: PickleValue[] = [];
  const marks: PickleValue[][] = [];
  const memo = new Map<number, PickleValue>();
  // Every value pushed is built or fetched from the memo; the budget bounds the graph (and its memo fan-out).
  const maxObjects = limit('pickleObjects');
  let pushed = 0;
  const push = (v: PickleValue): void => {
    if (++pushed > maxObjects) fail(`more than ${limitText('pickleObjects')} objects built or fetched from the memo`);
    stack.push(v);
  };
  const pop = (): PickleValue => (stack.length > 0 ? stack.pop()! : fail('stack underflow'));
  const top = (): PickleValue => (stack.length > 0 ? stack[stack.length - 1] : fail('stack underflow'));
  const popMark = (): PickleValue[] => {
    const items = stack;
    stack = marks.pop() ?? fail('no MARK on the stack');
    return items;
  };
  const topOf = <T>(is: (v: PickleValue) => v is PickleValue & T, what: string): T => {
    const t = top();
    return is(t) ? t : fail(`expected a ${what} on the stack`);
  };
  const dictTop = (): PickleDict => topOf((v): v is PickleDict => v instanceof Map, 'dict');
  const setPairs = (d: PickleDict, items: PickleValue[]): void => {
    if (items.length % 2) fail('odd number of dict items');
    for (let i = 0; i < items.length; i += 2) d.set(items[i], items[i + 1]);
  };
  const intOf = (s: string): number | bigint => {
    if (!/^[+-]?\d+$/.test(s)) fail(`bad integer literal '${s.slice(0, 40)}'`);
    if (s.length > 2 * MAX_LONG_BYTES) fail(`integer of ${s.length} digits is too large`);
    return normInt(BigInt(s));
  };
  const memoGet = (i: number): PickleValue => (memo.has(i) ? memo.get(i)! : fail(`memo key ${i} missing`));
  const global = (module: string, name: string): PickleGlobal => {
    // Python 2 module names, mapped as CPython's fix_imports does.
    const mod = module === '__builtin__' ? 'builtins' : module === 'copy_reg' ? 'copyreg' : module;
    if (mod === 'torch' && name.endsWith('Storage') && !ALLOWED.has(`torch.${name}`)) {
      fail(`unsupported storage type torch.${name} (supported: ${Object.keys(STORAGE_DTYPE).join(', ')})`);
    }
    if (!ALLOWED.has(`${mod}.${name}`)) fail(`refusing global '${mod}.${name}' (only state-dict types may appear in a checkpoint)`);
    return new PickleGlobal(mod, name);
  };
  const persistent = (pid: PickleValue): PickleValue =>
    opts.persistentLoad ? opts.persistentLoad(pid) : fail('persistent id without a persistent loader');

  for (;;) {
    opAt = pos;
    op = bytes[need(1)];
    switch (op) {
      case 0x80: if (bytes[need(1)] > 5) fail(`unsupported protocol ${bytes[pos - 1]}`); break; // PROTO
      case 0x95: need(8); break; // FRAME: a read-ahead hint only
      case 0x2e: { // STOP
        const value = pop();
        if (tooDeep(value, limit('nestingDepth'))) fail(`containers nest more levels deep than ${limitText('nestingDepth')}; a state dict nests a few`);
        return { value, end: pos };
      }
      case 0x28: marks.push(stack); stack = []; break; // MARK
      case 0x30: if (stack.length > 0) stack.pop(); else popMark(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x49: { const s = line(); push(s === '01' ? true : s === '00' ? false : intOf(s)); break; } // INT
      case 0x4a: push(dv.getInt32(need(4), true)); break; // BININT
      case 0x4b: push(bytes[need(1)]); break; // BININT1
      case 0x4d: push(dv.getUint16(need(2), true)); break; // BININT2
      case 0x4c: push(intOf(line().replace(/L$/, ''))); break; // LONG
      case 0x8a: push(longLE(take(bytes[need(1)]))); break; // LONG1
      case 0x8b: { // LONG4; huge ints are implausible in a checkpoint and quadratic to decode, so capped
        const n = dv.getInt32(need(4), true);
        push(n > MAX_LONG_BYTES ? fail(`integer of ${n} bytes is too large`) : longLE(take(n)));
        break;
      }
      case 0x46: { const s = line(); const v = Number(s.replace(/^(-?)inf$/, '$1Infinity')); push(Number.isNaN(v) && s !== 'nan' ? fail(`bad float '${s}'`) : v); break; } // FLOAT
      case 0x47: push(dv.getFloat64(need(8), false)); break; // BINFLOAT (big-endian)
      case 0x53: push(utf8(pyStringLiteral(line(), fail))); break; // STRING
      case 0x54: push(utf8(take(dv.getInt32(need(4), true)))); break; // BINSTRING
      case 0x55: push(utf8(take(bytes[need(1)]))); break; // SHORT_BINSTRING
      case 0x56: push(rawUnicodeEscape(line())); break; // UNICODE
      case 0x58: push(utf8(take(dv.getUint32(need(4), true)))); break; // BINUNICODE
      case 0x8c: push(utf8(take(bytes[need(1)]))); break; // SHORT_BINUNICODE
      case 0x8d: push(utf8(take(u64()))); break; // BINUNICODE8
      case 0x42: push(new Uint8Array(take(dv.getUint32(need(4), true)))); break; // BINBYTES (a plain copy, not a Buffer)
      case 0x43: push(new Uint8Array(take(bytes[need(1)]))); break; // SHORT_BINBYTES
      case 0x8e: case 0x96: push(new Uint8Array(take(u64()))); break; // BINBYTES8, BYTEARRAY8
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x61: { const v = pop(); listTop().push(v); break; } // APPEND
      // APPENDS (no spread: it overflows the call stack)
      case 0x65: { const items = popMark(), l = listTop(); for (const v of items) l.push(v); break; }
      case 0x6c: push(popMark()); break; // LIST
      case 0x29: push(tuple([])); break; // EMPTY_TUPLE
      case 0x74: push(tuple(popMark())); break; // TUPLE
      case 0x85: case 0x86: case 0x87: { // TUPLE1..3
        const n = op - 0x84;
        if (stack.length < n) fail('stack underflow');
        push(tuple(stack.splice(stack.length - n, n)));
        break;
      }
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x64: { const d: PickleDict = new Map(); setPairs(d, popMark()); push(d); break; } // DICT
      case 0x73: { const v = pop(), k = pop(); dictTop().set(k, v); break; } // SETITEM
      case 0x75: { const items = popMark(); setPairs(dictTop(), items); break; } // SETITEMS
      case 0x8f: push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); const s = topOf((v): v is Set<PickleValue> => v instanceof Set, 'set'); for (const i of items) s.add(i); break; } // ADDITEMS
      case 0x91: push(new Set(popMark())); break; // FROZENSET
      case 0x67: push(memoGet(Number(intOf(line())))); break; // GET
      case 0x68: push(memoGet(bytes[need(1)])); break; // BINGET
      case 0x6a: push(memoGet(dv.getUint32(need(4), true))); break; // LONG_BINGET
      case 0x70: memo.set(Number(intOf(line())), top()); break; // PUT
      case 0x71: memo.set(bytes[need(1)], top()); break; // BINPUT
      case 0x72: memo.set(dv.getUint32(need(4), true), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x63: { const module = line(); push(global(module, line())); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        push(global(module, name));
        break;
      }
      case 0x52: { const args = pop(); push(call(pop(), args, fail)); break; } // REDUCE
      case 0x81: { const args = pop(); push(call(pop(), args, fail)); break; } // NEWOBJ
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop(), args = pop();
        if (!(kwargs instanceof Map) || kwargs.size > 0) fail('keyword arguments are not supported');
        push(call(pop(), args, fail));
        break;
      }
      case 0x62: { const state = pop(); build(top(), state, fail); break; } // BUILD
      case 0x50: push(persistent(line())); break; // PERSID
      case 0x51: push(persistent(pop())); break; // BINPERSID
      case 0x69: case 0x6f: return fail('INST/OBJ instantiate arbitrary classes; refused');
      case 0x82: case 0x83: case 0x84: return fail('extension-registry opcodes are refused');
      case 0x97: case 0x98: return fail('out-of-band buffers are not supported');
      default: return fail('unknown opcode');
    }
  }

  function listTop(): PickleValue[] {
    const t = top();
    return Array.isArray(t) && !Object.isFrozen(t) ? t : fail('expected a list on the stack');
  }
}

/** Interprets REDUCE/NEWOBJ for the allowed callables only. */
function call(fn: PickleValue, args: PickleValue, fail: (what: string) => never): PickleValue {
  if (!(fn instanceof PickleGlobal)) return fail('REDUCE on a non-callable');
  if (!Array.isArray(args)) return fail(`arguments of ${fn.qualname} are not a tuple`);
  const name = fn.qualname;
  const arity = (lo: number, hi = lo): void => {
    if (args.length < lo || args.length > hi) fail(`${name} takes ${lo === hi ? lo : `${lo}-${hi}`} arguments, got ${args.length}`);
  };
  switch (name) {
    case 'collections.OrderedDict': {
      arity(0, 1);
      const d: PickleDict = new Map();
      for (const pair of args.length ? (Array.isArray(args[0]) ? args[0] : fail('OrderedDict argument must be a list of pairs')) : []) {
        if (!Array.isArray(pair) || pair.length !== 2) fail('OrderedDict argument must be a list of pairs');
        d.set(pair[0], pair[1]);
      }
      return d;
    }
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2': {
      // (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
      if (name.endsWith('v2')) arity(6, 7); else arity(4);
      const [storage, offset, size, stride, requiresGrad = false, hooks = null] = args;
      if (!(storage instanceof TorchStorage)) return fail(`${name}: first argument is not a storage`);
      if (hooks instanceof Map ? hooks.size > 0 : hooks !== null) fail(`${name}: backward hooks are not supported`);
      const ints = (v: PickleValue, what: string): number[] =>
        Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0) ? (v as number[]) : fail(`${name}: ${what} must be a tuple of non-negative ints`);
      const shape = ints(size, 'size'), strides = ints(stride, 'stride');
      if (shape.length !== strides.length) fail(`${name}: size has ${shape.length} dims but stride has ${strides.length}`);
      if (!Number.isSafeInteger(offset) || (offset as number) < 0) fail(`${name}: bad storage_offset ${String(offset)}`);
      checkView(storage, offset as number, shape, strides, (what) => fail(`${name}: ${what}`));
      return new TorchTensorRef(storage, offset as number, [...shape], [...strides], requiresGrad === true);
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state': {
      // (data, requires_grad, backward_hooks[, state]): an nn.Parameter is just its data here.
      arity(name.endsWith('state') ? 4 : 3);
      const [data, requiresGrad] = args;
      if (!(data instanceof TorchTensorRef)) return fail(`${name}: data is not a tensor`);
      data.requiresGrad = requiresGrad === true;
      return data;
    }
    case '_codecs.encode': {
      arity(2);
      const [s, enc] = args;
      if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) return fail('_codecs.encode is only allowed as (str, "latin1")');
      const out = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        out[i] = c < 256 ? c : fail('_codecs.encode: character outside latin1');
      }
      return out;
    }
    default:
      return fail(`${name} is not callable`);
  }
}

/** a·b for non-negative safe integers, or Infinity when the product is not a safe integer (fails every bound). */
/**
 * Whether containers (lists, tuples, dicts, sets) nest more than `max` levels anywhere in `root`: everything that
 * walks the value recurses once per level. Iterative, each container measured once (shared ones are common in a
 * pickle's memo); a container met again on the current path (a cycle) adds nothing: walkers guard cycles themselves.
 */
function tooDeep(root: PickleValue, max: number): boolean {
  const done = new Map<object, number>(); // container → levels of containers inside it, itself included
  const path: { v: object; kids: Iterator<PickleValue>; below: number }[] = [];
  const onPath = new Set<object>();
  const open = (v: PickleValue): boolean => {
    if (!isContainer(v) || onPath.has(v)) return false;
    const d = done.get(v);
    if (d !== undefined) {
      if (path.length) path.at(-1)!.below = Math.max(path.at(-1)!.below, d);
      return path.length + d > max;
    }
    path.push({ v, kids: children(v), below: 0 });
    onPath.add(v);
    return path.length > max;
  };
  if (open(root)) return true;
  while (path.length) {
    const top = path.at(-1)!;
    const next = top.kids.next();
    if (!next.done) { if (open(next.value)) return true; continue; }
    path.pop();
    onPath.delete(top.v);
    done.set(top.v, top.below + 1);
    if (path.length) path.at(-1)!.below = Math.max(path.at(-1)!.below, top.below + 1);
  }
  return false;
}

const isContainer = (v: PickleValue): v is PickleValue[] | PickleDict | Set<PickleValue> =>
  Array.isArray(v) || v instanceof Map || v instanceof Set;

function* children(v: PickleValue[] | PickleDict | Set<PickleValue>): Iterator<PickleValue> {
  if (v instanceof Map) for (const [k, x] of v) { yield k; yield x; } else yield* v;
}

function mulSafe(a: number, b: number): number {
  const p = a * b;
  return Number.isSafeInteger(p) ? p : Infinity;
}

/**
 * A view (offset, size, stride) must lie inside its storage, and its element and byte counts must be safe
 * integers: checked here, before anything is materialised, so a huge or zero-stride view is refused early.
 */
function checkView(storage: TorchStorage, offset: number, shape: number[], strides: number[], fail: (what: string) => never): void {
  let n = 1, last = offset; // element count; furthest element touched
  shape.forEach((s, k) => { n = mulSafe(n, s); last += mulSafe(Math.max(0, s - 1), strides[k]); });
  if (n === 0) return; // an empty view touches nothing
  const view = `view [${shape}] stride [${strides}] offset ${offset}`;
  if (!(mulSafe(n, DTYPE_SIZE[storage.dtype]) < Infinity)) fail(`${view} has too many elements`);
  if (!(last < storage.numel)) fail(`${view} exceeds storage of ${storage.numel} elements`);
}

/** BUILD: only OrderedDict instance state, which for a state_dict is `_metadata` (module versions); dropped. */
function build(obj: PickleValue, state: PickleValue, fail: (what: string) => never): void {
  if (!(obj instanceof Map)) fail('BUILD is only allowed on OrderedDict');
  if (state !== null && !(state instanceof Map) && !Array.isArray(state)) fail('BUILD state must be a dict');
}

/** Tuples are arrays frozen in place, so APPEND cannot mistake them for lists. */
function tuple(items: PickleValue[]): PickleValue[] {
  Object.freeze(items);
  return items;
}

/** Two's-complement little-endian integer (LONG1/LONG4). */
function longLE(b: Uint8Array): number | bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return normInt(v);
}

function normInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

/** Protocol 0 STRING: a Python repr like 'ab\'c\x00' → its bytes. */
function pyStringLiteral(s: string, fail: (what: string) => never): Uint8Array {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) fail('STRING is not quoted');
  const body = s.slice(1, -1), out: number[] = [];
  const simple: Record<string, number> = { n: 10, r: 13, t: 9, '\\': 92, "'": 39, '"': 34, a: 7, b: 8, f: 12, v: 11 };
  for (let i = 0; i < body.length; i++) {
    if (body[i] !== '\\') { out.push(body.charCodeAt(i) & 0xff); continue; }
    const c = body[++i];
    if (c in simple) out.push(simple[c]);
    else if (c === 'x') { out.push(parseInt(body.slice(i + 1, i + 3), 16)); i += 2; }
    else if (c >= '0' && c <= '7') { const m = /^[0-7]{1,3}/.exec(body.slice(i))![0]; out.push(parseInt(m, 8) & 0xff); i += m.length - 1; }
    else out.push(92, body.charCodeAt(i));
  }
  return Uint8Array.from(out);
}

/** Protocol 0 UNICODE: latin1 text with \uXXXX and \UXXXXXXXX escapes. */
function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string | undefined, b: string | undefined) =>
    String.fromCodePoint(parseInt(a ?? b ?? '0', 16)));
}
