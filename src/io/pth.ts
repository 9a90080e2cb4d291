// PyTorch .pth/.pt checkpoints (torch.save) read on the host, without Python and without running pickled code.
// Two layouts exist (torch/serialization.py):
//  - zip (torch ≥ 1.6): <dir>/data.pkl holds the object; persistent ids ('storage', StorageType, key, location,
//    numel) name entries <dir>/data/<key> with raw little-endian bytes. <dir> is the file stem, or 'archive'.
//  - legacy (_use_new_zipfile_serialization=False): pickles of the magic number, the protocol version and
//    sys_info, then the object (ids ('storage', StorageType, root_key, location, numel, view_metadata)), then the
//    list of storage keys, then per storage an int64 element count and the raw bytes.
// Bounded resources (limits.ts): nested dicts flatten to at most checkpointNameChars characters of names (a dict
// shared under many keys multiplies paths, not objects), and tensor views may materialise at most
// tensorExpansionBytes beyond the storage bytes they view, counted once per buffer, before any copy is made.

import { readFileSync } from 'node:fs';
import { DTYPE_SIZE, type DType, type HostTensor } from '../torch/dtype.js';
import { CheckpointError, ClanError } from '../util/errors.js';
import { PickleGlobal, TorchStorage, TorchTensorRef, storageDtype, unpickle, type PickleValue } from './pickle.js';
import { limit, limitText } from '../util/limits.js';
import { isZip, openZip } from './zip.js';

export interface PthContents {
  /** The state dict, flattened to dotted names, DataParallel's `module.` prefix removed. */
  tensors: Map<string, HostTensor>;
  /** Every other leaf by dotted name (epoch numbers, config, optimizer state); tensors here stay unmaterialised. */
  other: Map<string, PickleValue>;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/** Keys under which training scripts commonly nest the model's state dict, in order of preference. */
const NESTED_KEYS = ['state_dict', 'model_state_dict', 'model'];

/** Reads a checkpoint's state dict as host tensors (see readPthDetailed). */
export function readPth(source: string | Uint8Array, name?: string): Map<string, HostTensor> {
  return readPthDetailed(source, name).tensors;
}

/** Reads a checkpoint: its state dict as host tensors, plus the other entries. `name` labels `bytes` in errors. */
export function readPthDetailed(source: string | Uint8Array, name?: string): PthContents {
  const file = name ?? (typeof source === 'string' ? source : '<bytes>');
  try {
    return splitStateDict(loadPthObject(source, file), file);
  } catch (e) {
    // Anything unexpected still becomes a one-line checkpoint error naming the file.
    if (e instanceof ClanError) throw e;
    throw new CheckpointError(`${file}: ${(e as Error).message}`);
  }
}

/** The unpickled object of a checkpoint, tensors as lazy TorchTensorRef views (no copies made yet). */
export function loadPthObject(source: string | Uint8Array, name?: string): PickleValue {
  const file = name ?? (typeof source === 'string' ? source : '<bytes>');
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      bytes = readFileSync(source);
    } catch (e) {
      throw new CheckpointError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  } else bytes = source;
  if (isZip(bytes)) return loadZip(bytes, file);
  // torch < 0.4 wrote tar archives ('ustar' at offset 257 of the first tar header).
  if (new TextDecoder().decode(bytes.subarray(257, 262)) === 'ustar') {
    throw new CheckpointError(`${file}: tar-format checkpoint (torch < 0.4) is not supported; re-save it with a newer torch`);
  }
  return loadLegacy(bytes, file);
}

function loadZip(bytes: Uint8Array, file: string): PickleValue {
  const zip = openZip(bytes, file);
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) throw new CheckpointError(`${file}: expected one <dir>/data.pkl in the zip archive, found ${pkls.length}`);
  const dir = pkls[0].slice(0, -'data.pkl'.length);
  if (zip.entries.has(`${dir}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${dir}byteorder`)).trim();
    if (order !== 'little') throw new CheckpointError(`${file}: byteorder '${order}' is not supported (little-endian only)`);
  }
  // One TorchStorage per key, so tensors that share a storage (views) share it here too.
  const storages = new Map<string, TorchStorage>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') throw new CheckpointError(`${file}: unexpected persistent id ${describe(pid)}`);
    const [, type, key, , numel] = pid;
    const dtype = storageDtype(type);
    if (dtype === undefined) throw new CheckpointError(`${file}: unsupported storage type ${describe(type)}`);
    if (typeof key !== 'string' || !Number.isSafeInteger(numel)) throw new CheckpointError(`${file}: malformed storage id ${describe(pid)}`);
    let s = storages.get(key);
    if (s === undefined) {
      let cached: Uint8Array | undefined;
      s = new TorchStorage(dtype, numel as number, () => {
        cached ??= checkSize(zip.read(`${dir}data/${key}`), (numel as number) * DTYPE_SIZE[dtype], `storage '${key}'`, file);
        return cached;
      });
      storages.set(key, s);
    }
    return s;
  };
  return unpickle(zip.read(pkls[0]), { file, persistentLoad }).value;
}

function loadLegacy(bytes: Uint8Array, file: string): PickleValue {
  let magic: ReturnType<typeof unpickle> | undefined;
  try {
    magic = unpickle(bytes, { file });
  } catch {
    // Not even a pickle: a pickle error here would only confuse.
  }
  if (magic === undefined) throw new CheckpointError(`${file}: not a PyTorch checkpoint (neither a zip archive nor a legacy pickle)`);
  if (magic.value !== LEGACY_MAGIC) throw new CheckpointError(`${file}: not a PyTorch checkpoint (bad magic number in legacy header)`);
  const proto = unpickle(bytes, { file, offset: magic.end });
  if (proto.value !== LEGACY_PROTOCOL) throw new CheckpointError(`${file}: legacy protocol version ${describe(proto.value)} (expected ${LEGACY_PROTOCOL})`);
  const sysInfo = unpickle(bytes, { file, offset: proto.end });
  if (!(sysInfo.value instanceof Map) || sysInfo.value.get('little_endian') !== true) {
    throw new CheckpointError(`${file}: written on a big-endian machine or sys_info missing (little-endian only)`);
  }

  // Storage data come after the object pickle, so storages are registered now and filled in below.
  const roots = new Map<string, LegacyRoot>();
  const persistentLoad = legacyPersistentLoad(roots, file);
  const obj = unpickle(bytes, { file, offset: sysInfo.end, persistentLoad });
  const keys = unpickle(bytes, { file, offset: obj.end });
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) fail('storage key list is not a list of strings');
  let at = keys.end;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const key of keys.value as string[]) {
    const root = roots.get(key) ?? fail(`storage '${key}' is listed but never used`);
    if (at + 8 > bytes.byteLength) fail(`storage '${key}' is missing; truncated`);
    const count = dv.getBigInt64(at, true);
    if (count !== BigInt(root.numel)) fail(`storage '${key}' has ${count} elements, the pickle says ${root.numel}`);
    const n = root.numel * DTYPE_SIZE[root.dtype];
    if (at + 8 + n > bytes.byteLength) fail(`storage '${key}' runs past end of file; truncated`);
    root.data = bytes.subarray(at + 8, at + 8 + n);
    at += 8 + n;
  }
  return obj.value;

  function fail(what: string): never {
    throw new CheckpointError(`${file}: ${what}`);
  }
}

interface LegacyRoot { dtype: DType; numel: number; data?: Uint8Array; storage: TorchStorage }

/** Resolves legacy storage ids into `roots` (filled with data later) and their sliced views. */
function legacyPersistentLoad(roots: Map<string, LegacyRoot>, file: string): (pid: PickleValue) => PickleValue {
  const fail = (what: string): never => { throw new CheckpointError(`${file}: ${what}`); };
  const views = new Map<string, TorchStorage>();
  const rootOf = (key: string, dtype: DType, numel: number): LegacyRoot => {
    let r = roots.get(key);
    if (r === undefined) {
      const root = { dtype, numel } as LegacyRoot;
      // One TorchStorage per key, as in zip files, so views of one buffer are accounted once (checkExpansion).
      root.storage = new TorchStorage(dtype, numel, () => root.data ?? fail(`storage '${key}' has no data`));
      roots.set(key, (r = root));
    }
    return r.dtype === dtype ? r : fail(`storage '${key}' is used as ${r.dtype} and as ${dtype}`);
  };
  return (pid) => {
    if (Array.isArray(pid) && pid[0] === 'module') fail('holds a pickled nn.Module; only state dicts are supported (save model.state_dict())');
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5 || pid.length > 6) fail(`unexpected persistent id ${describe(pid)}`);
    const [, type, key, , numel, view = null] = pid as PickleValue[];
    const dtype = storageDtype(type) ?? fail(`unsupported storage type ${describe(type)}`);
    if (typeof key !== 'string' || !Number.isSafeInteger(numel)) fail(`malformed storage id ${describe(pid)}`);
    const root = rootOf(key as string, dtype, numel as number);
    if (view === null) return root.storage;
    // Old torch pickled storage slices as (view_key, offset, size) into the root storage.
    if (!Array.isArray(view) || view.length !== 3) fail(`malformed view metadata ${describe(view)}`);
    const [viewKey, off, size] = view as [PickleValue, number, number];
    const ok = typeof viewKey === 'string' && [off, size].every((x) => Number.isSafeInteger(x) && x >= 0) && off + size <= root.numel;
    if (!ok) fail(`storage view ${describe(view)} out of range of '${key as string}'`);
    let v = views.get(viewKey as string);
    if (v === undefined) {
      const es = DTYPE_SIZE[dtype];
      v = new TorchStorage(dtype, size, () => root.storage.bytes().subarray(off * es, (off + size) * es), root.storage);
      views.set(viewKey as string, v);
    }
    return v;
  };
}

function checkSize(data: Uint8Array, expected: number, what: string, file: string): Uint8Array {
  if (data.byteLength !== expected) throw new CheckpointError(`${file}: ${what} has ${data.byteLength} bytes, expected ${expected}`);
  return data;
}

/** Picks the state dict out of a checkpoint object and flattens it; everything else goes to `other`. */
function splitStateDict(root: PickleValue, file: string): PthContents {
  if (!(root instanceof Map)) throw new CheckpointError(`${file}: top-level object is ${describe(root)}, expected a state dict`);
  const nestedKey = NESTED_KEYS.find((k) => root.get(k) instanceof Map);
  const tensors = new Map<string, HostTensor>();
  const other = new Map<string, PickleValue>();
  const leaves: [string, PickleValue][] = [];
  const budget = { left: limit('checkpointNameChars'), file };
  flatten(nestedKey === undefined ? root : (root.get(nestedKey) as PickleValue), '', leaves, new Set(), budget);
  checkExpansion(leaves.filter((l): l is [string, TorchTensorRef] => l[1] instanceof TorchTensorRef), file);
  for (const [key, v] of leaves) {
    if (!(v instanceof TorchTensorRef)) { other.set(nestedKey === undefined ? key : `${nestedKey}.${key}`, v); continue; }
    // nn.DataParallel saves parameters as module.<name>; the model itself knows them as <name>.
    const name = key.startsWith('module.') ? key.slice('module.'.length) : key;
    if (tensors.has(name)) throw new CheckpointError(`${file}: tensor '${name}' appears twice (with and without 'module.' prefix)`);
    tensors.set(name, v.materialize());
  }
  if (nestedKey !== undefined) {
    const rest: [string, PickleValue][] = [];
    flatten(new Map([...root].filter(([k]) => k !== nestedKey)), '', rest, new Set(), budget);
    for (const [k, v] of rest) other.set(k, v);
  }
  return { tensors, other };
}

/**
 * Depth-first flattening of nested dicts into dotted keys; a dict containing itself is an error. Names are
 * charged to `budget` before they are made: a shared dict is walked once per path, so paths can outnumber objects.
 */
function flatten(v: PickleValue, prefix: string, out: [string, PickleValue][], path: Set<PickleValue>,
  budget: { left: number; file: string }): void {
  const { file } = budget;
  if (!(v instanceof Map) || (v.size === 0 && prefix !== '')) {
    if ((budget.left -= Math.max(1, prefix.length)) < 0) {
      throw new CheckpointError(`${file}: its nested dicts flatten to more than ${limitText('checkpointNameChars')} characters of dotted names (a dict shared under many keys?)`);
    }
    out.push([prefix.slice(0, -1), v]);
    return;
  }
  if (path.has(v)) throw new CheckpointError(`${file}: dict at '${prefix.slice(0, -1)}' contains itself`);
  path.add(v);
  for (const [k, child] of v) flatten(child, `${prefix}${typeof k === 'string' ? k : describe(k)}.`, out, path, budget);
  path.delete(v);
}

/**
 * Views may share a storage (transposes, slices, tied or expanded weights) while each materialises a copy:
 * the copies may exceed the storage bytes they view (each buffer counted once) by tensorExpansionBytes only.
 * Checked before anything is copied, so a zero-stride or many-times-shared view costs nothing to refuse.
 */
function checkExpansion(refs: [string, TorchTensorRef][], file: string): void {
  const allowance = limit('tensorExpansionBytes');
  const seen = new Set<TorchStorage>();
  let stored = 0, copied = 0;
  for (const [name, ref] of refs) {
    const buffer = ref.storage.base ?? ref.storage;
    if (!seen.has(buffer)) { seen.add(buffer); stored += buffer.bytes().byteLength; }
    copied += ref.byteLength;
    if (copied > stored + allowance) {
      throw new CheckpointError(`${file}: tensor '${name}' [${ref.shape}] would bring the tensor copies to ${copied} bytes, more than the ${stored} bytes of storage they view plus ${limitText('tensorExpansionBytes')} (views that repeat data)`);
    }
  }
}

/** Short human description of a pickled value for error messages; nesting is cut at depth 3 (tuples can share). */
function describe(v: PickleValue, depth = 0): string {
  if (v === null) return 'None';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v !== 'object') return String(v);
  if (v instanceof PickleGlobal) return v.qualname;
  if (v instanceof TorchTensorRef) return `a tensor [${v.shape}]`;
  if (v instanceof TorchStorage) return `a ${v.dtype} storage`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (v instanceof Set) return `a set of ${v.size}`;
  if (v instanceof Uint8Array) return `bytes of ${v.byteLength}`;
  if (depth >= 3) return `(${v.length} items)`;
  return `(${v.slice(0, 6).map((x) => describe(x, depth + 1)).join(', ')}${v.length > 6 ? ', …' : ''})`;
}
