// The fuzz targets: each has a valid seed input, a `load` that reads bytes the way the product does and returns
// the canonical content (a digest of everything the reader hands on), and the integrity check its format has.
//
// The property checked for every mutated input (src/fuzz/runner.ts):
//  - formats WITH an integrity check (sealed checkpoints and clan-weights: a SHA-256 seal; .pth zip archives: the
//    CRC-32 of every member; PNG: the CRC-32 of every chunk) must refuse the input, or load EXACTLY the original
//    content (a mutation of bytes the reader never uses, e.g. an unused zip member's local name);
//  - formats WITHOUT one (plain safetensors, legacy pickle .pth, JPEG, YAML configs) may load a changed input, but
//    what loads must be well-formed: every tensor's data length is the product of its shape, an image is
//    w·h·3 bytes with w, h ≥ 1, a config's numbers are finite;
//  - a refusal is a ClanError with a one-line message of at most MAX_MESSAGE characters that is not a JS
//    internal (see internalMessage). Anything else — another error, a crash, a hang, RSS over the bound — is a finding.
import { createHash, type Hash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { DTYPE_SIZE, isDType, numel, type HostTensor } from '../torch/dtype.js';
import { assertResumable, checkWeightsSeal, readCheckpoint } from '../io/checkpoint.js';
import { decodeSafetensors } from '../io/safetensors.js';
import { readPthDetailed } from '../io/pth.js';
import { PickleGlobal, TorchStorage, TorchTensorRef, type PickleValue } from '../io/pickle.js';
import { decodePlane, decodeRgb } from '../data/image.js';
import { methodConfig, resolveConfig } from '../config/load.js';
import { CheckpointError } from '../util/errors.js';
import * as seeds from './seeds.js';
import type { Mutator } from './mutate.js';
import { downgrade, headerPrefix, nestPickle, nestYaml } from './structural.js';

/** What a load produced: a digest of the content, and for formats without integrity what is ill-formed, if anything. */
export interface Content { digest: string; problem?: string }

export interface Target {
  name: string;
  /** The integrity check that makes "refused or exactly equal" the rule, or null (then: "well-formed"). */
  integrity: string | null;
  /** File name the input gets in the child's temp folder (readers that take a path, and error messages). */
  file: string;
  seed(): Uint8Array;
  /** Reads `bytes` (already written to `path` for the readers that need a file). */
  load(bytes: Uint8Array, path: string): Content;
  /** Structural mutators of this format (structural.ts), drawn beside the generic ones. */
  mutators?: Readonly<Record<string, Mutator>>;
}

const hex = (h: Hash): string => h.digest('hex');

function hashTensors(h: Hash, tensors: Map<string, HostTensor>): Hash {
  for (const k of [...tensors.keys()].sort()) {
    const t = tensors.get(k)!;
    h.update(`${k}|${t.dtype}|${t.shape.join(',')}|`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h;
}

/** The first tensor whose dtype, shape or data length is inconsistent, named; undefined when all are well-formed. */
export function tensorProblem(tensors: Map<string, HostTensor>): string | undefined {
  for (const [k, t] of tensors) {
    if (!isDType(t.dtype)) return `tensor '${k}' has dtype ${String(t.dtype)}`;
    if (!t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) return `tensor '${k}' has shape [${t.shape}]`;
    const n = numel(t.shape);
    if (t.data.length !== n || t.data.byteLength !== n * DTYPE_SIZE[t.dtype]) return `tensor '${k}' [${t.shape}] ${t.dtype} holds ${t.data.byteLength} bytes`;
  }
  return undefined;
}

/** A canonical text of an unpickled value (tensors as their view parameters: nothing is materialised). */
function canon(v: PickleValue, budget = { left: 100_000 }, depth = 0): string {
  if (--budget.left < 0 || depth > 200) return '…'; // a list may contain itself: cut cycles by depth
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (v instanceof Uint8Array) return `b${Buffer.from(v).toString('hex')}`;
  if (v instanceof PickleGlobal) return `g:${v.qualname}`;
  if (v instanceof TorchStorage) return `s:${v.dtype}:${v.numel}`;
  if (v instanceof TorchTensorRef) return `t:${v.storage.dtype}:${v.storage.numel}:${v.offset}:${v.shape}:${v.stride}`;
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${canon(k, budget, depth + 1)}:${canon(x, budget, depth + 1)}`).join(',')}}`;
  if (v instanceof Set) return `set(${[...v].map((x) => canon(x, budget, depth + 1)).join(',')})`;
  return `[${v.map((x) => canon(x, budget, depth + 1)).join(',')}]`;
}

const sortedEntries = (m: Record<string, string>): string => JSON.stringify(Object.keys(m).sort().map((k) => [k, m[k]]));

function pthContent(bytes: Uint8Array, path: string): Content {
  const { tensors, other } = readPthDetailed(bytes, path);
  const h = hashTensors(createHash('sha256'), tensors);
  for (const [k, v] of other) h.update(`${k}=${canon(v)}\n`);
  return { digest: hex(h), problem: tensorProblem(tensors) };
}

function imageContent(img: { width: number; height: number; data: Uint8Array | Uint16Array }, perPixel: number, extra = ''): Content {
  const { width: w, height: h, data } = img;
  const ok = Number.isSafeInteger(w) && Number.isSafeInteger(h) && w >= 1 && h >= 1 && data.length === w * h * perPixel;
  const digest = hex(createHash('sha256').update(`${w}x${h}|${extra}|`).update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)));
  return { digest, problem: ok ? undefined : `image ${w}x${h} with ${data.length} values (expected ${w}·${h}·${perPixel})` };
}

/** The first non-finite number in a resolved config, by key path. */
function nonFinite(v: unknown, at = ''): string | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : `'${at.slice(1)}' is ${v}`;
  if (typeof v !== 'object' || v === null) return undefined;
  for (const [k, x] of Object.entries(v)) { const p = nonFinite(x, `${at}.${k}`); if (p) return p; }
  return undefined;
}

function configContent(_bytes: Uint8Array, path: string): Content {
  const config = resolveConfig({ config: path });
  const resolved = { config, method: methodConfig(config) };
  const text = JSON.stringify(resolved, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  return { digest: hex(createHash('sha256').update(text)), problem: nonFinite(resolved) };
}

/** As infer/model.ts reads converted weights (the engine-free part: format, then the seal). */
function weightsContent(bytes: Uint8Array, path: string): Content {
  const st = decodeSafetensors(bytes, path);
  if (st.metadata.format !== 'clan-weights') throw new CheckpointError(`${path} is neither a clan checkpoint nor converted weights (no 'clan' or 'format: clan-weights' metadata)`);
  checkWeightsSeal(path, st.tensors, st.metadata);
  return { digest: hex(hashTensors(createHash('sha256'), st.tensors).update(sortedEntries(st.metadata))), problem: tensorProblem(st.tensors) };
}

export const TARGETS: Target[] = [
  // Read as a resume reads it (every header field trusted): an unsealed (version-1) file must be refused.
  { name: 'checkpoint', integrity: 'SHA-256 seal over tensors and header', file: 'ckpt_0000042.safetensors', seed: seeds.checkpointSeed,
    mutators: { headerPrefix, downgrade },
    load(_bytes, path) {
      const ck = readCheckpoint(path, { note: () => {} });
      assertResumable(ck);
      return { digest: hex(hashTensors(createHash('sha256').update(JSON.stringify(ck.meta)), ck.tensors)), problem: tensorProblem(ck.tensors) };
    } },
  { name: 'weights', integrity: 'SHA-256 seal over tensors and metadata', file: 'weights.safetensors', seed: seeds.weightsSeed, load: weightsContent,
    mutators: { headerPrefix } },
  { name: 'safetensors', integrity: null, file: 'plain.safetensors', seed: seeds.safetensorsSeed, mutators: { headerPrefix },
    load(bytes, path) {
      const st = decodeSafetensors(bytes, path);
      return { digest: hex(hashTensors(createHash('sha256'), st.tensors).update(sortedEntries(st.metadata))), problem: tensorProblem(st.tensors) };
    } },
  { name: 'pth-zip', integrity: 'CRC-32 of every zip member', file: 'net_zip.pth', seed: () => seeds.pthSeed('net_zip.pth'), load: pthContent },
  { name: 'pth-zip-deflate', integrity: 'CRC-32 of every zip member', file: 'net_zip.pth', seed: seeds.pthDeflateSeed, load: pthContent },
  { name: 'pth-legacy', integrity: null, file: 'net_legacy.pth', seed: () => seeds.pthSeed('net_legacy.pth'), load: pthContent, mutators: { nestPickle } },
  { name: 'png', integrity: 'CRC-32 of every chunk', file: 'image.png', seed: seeds.pngSeed,
    load: (bytes, path) => imageContent(decodeRgb(bytes, path), 3) },
  { name: 'png-label', integrity: 'CRC-32 of every chunk', file: 'label.png', seed: seeds.pngLabelSeed,
    load(bytes, path) { const p = decodePlane(bytes, path, 0); return imageContent(p, 1, `${p.colorType}/${p.bitDepth}`); } },
  { name: 'jpeg', integrity: null, file: 'image.jpg', seed: seeds.jpegSeed, load: (bytes, path) => imageContent(decodeRgb(bytes, path), 3) },
  { name: 'config', integrity: null, file: 'config.yaml', seed: seeds.configSeed, load: configContent, mutators: { nestYaml } },
];

export function targetByName(name: string): Target | undefined { return TARGETS.find((t) => t.name === name); }

/** Writes the input where path-taking readers expect it, then loads it. */
export function loadInput(t: Target, bytes: Uint8Array, path: string): Content {
  writeFileSync(path, bytes);
  return t.load(bytes, path);
}
