// Structural mutators: edits that keep a format's framing intact so they reach the check behind it, for classes of
// attack a byte mutation almost never produces. Each target lists its own (targets.ts); mutate() draws them beside
// the generic ones, so they also stack with random damage. Found by an independent attack (issue 31), kept fixed:
//  - a header that does not start with '{' (a UTF-8 BOM, whitespace) with the length field adjusted to match;
//  - a sealed checkpoint downgraded to version 1 (seal dropped, tensor digest added) with a header field edited;
//  - containers nested thousands deep (a .pth object pickle, a YAML config), which overflowed the call stack.
import { tensorDigest } from '../io/checkpoint.js';
import { decodeSafetensors, encodeSafetensors } from '../io/safetensors.js';
import { TorchStorage, storageDtype, unpickle, type PickleValue } from '../io/pickle.js';
import { flipMutator, type Mutator } from './mutate.js';

const cat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(Buffer.concat(parts));

/** Bytes put before a safetensors JSON header; the length field grows to match, so the JSON itself stays whole. */
const PREFIXES: [string, number[]][] = [['a UTF-8 BOM', [0xef, 0xbb, 0xbf]], ['a space', [0x20]], ['a line feed', [0x0a]], ['a UTF-16 BOM', [0xff, 0xfe]]];

export const headerPrefix: Mutator = (b, r) => {
  if (b.length < 8) return flipMutator(b, r);
  const [what, bytes] = PREFIXES[r.int(PREFIXES.length)]!;
  const out = cat(b.subarray(0, 8), Uint8Array.from(bytes), b.subarray(8));
  const dv = new DataView(out.buffer, out.byteOffset, 8);
  dv.setBigUint64(0, dv.getBigUint64(0, true) + BigInt(bytes.length), true);
  return { bytes: out, mutation: `${what} before the safetensors header (length adjusted)` };
};

/** Header edits a downgrade may carry: each one a field the version-2 seal covers. */
const EDITS: [string, (m: Record<string, unknown>) => void][] = [
  ['none', () => {}], ['step', (m) => { m.step = 90; }], ['classNames', (m) => { m.classNames = ['edited', 'car', 'sky']; }],
  ['evalSize', (m) => { m.evalSize = [32, 32]; }], ['loaders', (m) => { m.loaders = { source: 0, target: 0 }; }],
];

/** A sealed checkpoint rewritten as version 1: `clan_seal` dropped, `sha256` (the tensor digest) added, a field edited. */
export const downgrade: Mutator = (b, r) => {
  let st;
  try { st = decodeSafetensors(b); } catch { return flipMutator(b, r); } // an earlier mutation broke the framing
  let meta: Record<string, unknown>;
  try { meta = JSON.parse(st.metadata.clan ?? '') as Record<string, unknown>; } catch { return flipMutator(b, r); }
  if (typeof meta !== 'object' || meta === null) return flipMutator(b, r);
  const [field, edit] = EDITS[r.int(EDITS.length)]!;
  Object.assign(meta, { version: 1, sha256: tensorDigest(st.tensors) });
  edit(meta);
  const { clan_seal: _seal, ...rest } = st.metadata;
  return { bytes: encodeSafetensors(st.tensors, { ...rest, clan: JSON.stringify(meta) }), mutation: `downgraded to version 1 (seal dropped), ${field} edited` };
};

const DEPTHS = [60, 5_000, 50_000];

/** Legacy persistent ids ('storage', type, key, location, numel, …) as empty storages: enough to find where the pickle ends. */
const stubStorage = (pid: PickleValue): PickleValue => {
  const [, type, , , numel] = Array.isArray(pid) ? pid : [];
  return new TorchStorage(storageDtype(type ?? null) ?? 'float32', Number.isSafeInteger(numel) ? numel as number : 0, () => new Uint8Array(0));
};

/**
 * A legacy .pth whose object pickle (the 4th pickle) is wrapped in dicts nested `n` deep: {'a': {'a': … OBJ}}. The
 * chain's opens go after its PROTO, its SETITEMs before its STOP; memo indices and persistent ids stay valid.
 */
export const nestPickle: Mutator = (b, r) => {
  let at = 0;
  try { for (let i = 0; i < 3; i++) at = unpickle(b, { offset: at }).end; } catch { return flipMutator(b, r); }
  let end: number;
  try { end = unpickle(b, { offset: at, persistentLoad: stubStorage }).end; } catch { return flipMutator(b, r); }
  if (b[at] !== 0x80 || b[end - 1] !== 0x2e) return flipMutator(b, r);
  const n = DEPTHS[r.int(DEPTHS.length)]!;
  const open = new Uint8Array(4 * n);
  for (let i = 0; i < n; i++) open.set([0x7d, 0x8c, 1, 0x61], 4 * i); // EMPTY_DICT, SHORT_BINUNICODE 'a'
  const bytes = cat(b.subarray(0, at + 2), open, b.subarray(at + 2, end - 1), new Uint8Array(n).fill(0x73), b.subarray(end - 1));
  return { bytes, mutation: `object pickle wrapped in ${n} nested dicts` };
};

/** A YAML config with a value nested `n` deep in flow sequences, appended as a key of its own. */
export const nestYaml: Mutator = (b, r) => {
  const n = DEPTHS[r.int(DEPTHS.length)]!;
  const text = `\nnested: ${'['.repeat(n)}${']'.repeat(n)}\n`;
  return { bytes: cat(b, new TextEncoder().encode(text)), mutation: `a value nested ${n} deep appended` };
};
