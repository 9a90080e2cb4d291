// The checkpoint file format (docs/checkpoint.md), host side only: one safetensors file per checkpoint with a JSON
// header under metadata.clan, sealed whole: metadata.clan_seal is a SHA-256 over every tensor (name, dtype, shape,
// bytes) AND the exact header text, verified on load, so neither the weights nor the step, loader positions, class
// names or RNG state can change unnoticed. A version-1 file (before the seal) proves its tensors only: it loads for
// its weights with a note and is never resumed (assertResumable). Converted weights (clan-weights) carry the same
// seal over their tensors and metadata. Writing the tensors of live modules is train/checkpoint.ts; reading for
// inference is infer/model.ts.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statfsSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { HostTensor } from '../torch/dtype.js';
import { encodeSafetensors, readSafetensorsFile } from './safetensors.js';
import { atomicWrite, type AtomicWriteOptions } from '../util/atomic.js';
import { CheckpointError, ClanError } from '../util/errors.js';
import { makeDirs } from '../util/paths.js';

export const CKPT_FORMAT = 'clan-checkpoint';
export const SEAL_KEY = 'clan_seal';

/** An optimizer's non-tensor state: its param groups and, per parameter, the scalar entries (e.g. Adam's step). */
export interface OptimizerMeta { groups: unknown[]; scalars: (Record<string, number> | null)[] }

/** Everything in a checkpoint that is not a tensor. */
export interface CheckpointMeta {
  format: typeof CKPT_FORMAT;
  version: 1 | 2;                     // 2: sealed (clan_seal); 1: older files, tensor digest only (meta.sha256)
  step: number;                       // iterations completed
  method: string;                     // a name in methods/registry.ts ('clan', 'adversarial', 'source-only')
  backbone: string;
  numClasses: number;
  classNames: string[];
  palette: [number, number, number][] | null;
  normalize: 'caffe' | 'imagenet';
  evalSize: [number, number];         // [W, H] network input at evaluation
  config: unknown;                    // the resolved training config
  optG: OptimizerMeta | null;
  optD: OptimizerMeta | null;
  torchRng: string;                   // base64 of the libtorch CPU generator state
  loaders: { source: number; target: number };   // samples consumed (not prefetched)
  libtorch: string;
  threads: number;
  best?: { step: number; miou: number };
  device?: string;                    // where the run trained (informational: tensors are stored on the CPU and load anywhere)
  scaler?: { scale: number; growthTracker: number }; // fp16 loss scaler (amp 'fp16' runs)
  sha256?: string;                    // version 1 only
}

/** SHA-256 over every tensor (name, dtype, shape, bytes) in sorted-name order: independent of file layout. */
export function tensorDigest(tensors: Map<string, HostTensor>): string {
  const h = createHash('sha256');
  for (const k of [...tensors.keys()].sort()) {
    const t = tensors.get(k)!;
    h.update(`${k}|${t.dtype}|${t.shape.join(',')}|`);
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

/** The seal: SHA-256 over the tensors' digest and the exact metadata text it protects. */
export function sealOf(tensors: Map<string, HostTensor>, text: string): string {
  return createHash('sha256').update(`clan-seal-1\n${tensorDigest(tensors)}\n${text}`).digest('hex');
}

/** Metadata of a converted-weights file with its seal over the tensors and the other entries (sorted by key). */
export function sealedMetadata(tensors: Map<string, HostTensor>, metadata: Record<string, string>): Record<string, string> {
  const { [SEAL_KEY]: _old, ...rest } = metadata;
  return { ...rest, [SEAL_KEY]: sealOf(tensors, canonical(rest)) };
}

/** The metadata keys `clan convert` writes; anything else (e.g. a renamed seal key) means the file was edited. */
const WEIGHTS_KEYS = new Set(['format', 'backbone', 'num_classes', 'source', 'converted_from', 'converted_from_d', 'ndf', 'missing', SEAL_KEY,
  // written for mmseg checkpoints (infer/mmseg.ts): what their evaluation needs, read by infer/model.ts
  'layout', 'part', 'normalize', 'eval_size', 'inference', 'class_names', 'palette']);

/**
 * Checks a converted-weights file's seal. Files converted before seals existed have none and pass, but only with
 * exactly the keys clan convert writes: renaming the seal key cannot turn a sealed file into an unchecked one.
 */
export function checkWeightsSeal(path: string, tensors: Map<string, HostTensor>, metadata: Record<string, string>): void {
  const unknown = Object.keys(metadata).filter((k) => !WEIGHTS_KEYS.has(k));
  if (unknown.length) throw new CheckpointError(`${path}: unknown metadata key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} in converted weights (edited?); expected ${[...WEIGHTS_KEYS].join(', ')}`);
  const { [SEAL_KEY]: seal, ...rest } = metadata;
  // Every converted file is written sealed (sealedMetadata); one without a seal proves nothing about its tensors or
  // metadata (dropping the key is all an edit needs), and converting the source again costs seconds.
  if (seal === undefined) {
    throw new CheckpointError(`${path}: converted weights without a '${SEAL_KEY}' (edited, or written by another tool): convert the source again with clan convert`);
  }
  if (seal !== sealOf(tensors, canonical(rest))) {
    throw new CheckpointError(`${path} failed its SHA-256 check (the seal over the tensors and the metadata): changed or corrupted`);
  }
}

const canonical = (m: Record<string, string>): string => JSON.stringify(Object.keys(m).sort().map((k) => [k, m[k]]));

/** A class count read from a file, before a network is built with it (a forged 1e9 would exhaust memory). */
export function checkNumClasses(path: string, v: unknown): number {
  const k = typeof v === 'string' ? Number(v) : v;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 1000) throw new CheckpointError(`${path}: num_classes ${JSON.stringify(v)}: expected an integer from 1 to 1000`);
  return k;
}

export function checkpointName(step: number): string { return `ckpt_${String(step).padStart(7, '0')}.safetensors`; }

/** Refuse early when the disk cannot hold another checkpoint (plus the temp copy). */
export function checkDiskSpace(dir: string, bytes: number): void {
  try {
    const s = statfsSync(dir);
    const free = s.bavail * s.bsize;
    if (free < bytes * 2) throw new ClanError(`not enough disk space in ${dir}: ${(free / 2 ** 20).toFixed(0)} MiB free, a checkpoint needs ${(bytes * 2 / 2 ** 20).toFixed(0)} MiB (file + temp copy)`);
  } catch (e) {
    if (e instanceof ClanError) throw e;
  }
}

/** Writes `dir/ckpt_<step>.safetensors` atomically with the digest filled in; returns the path. */
export function writeCheckpoint(dir: string, tensors: Map<string, HostTensor>, meta: Omit<CheckpointMeta, 'sha256'>, o: AtomicWriteOptions = {}): string {
  makeDirs(dir);
  const text = JSON.stringify({ ...meta, version: 2 });
  const bytes = encodeSafetensors(tensors, { clan: text, [SEAL_KEY]: sealOf(tensors, text) });
  const path = join(dir, checkpointName(meta.step));
  checkDiskSpace(dir, bytes.length);
  atomicWrite(path, bytes, o);
  return path;
}

/** `sealed`: the seal verified, so the header is as written; false for a version-1 file (its tensors only). */
export interface LoadedCheckpoint { path: string; meta: CheckpointMeta; tensors: Map<string, HostTensor>; sealed: boolean }

export interface ReadCheckpointOptions {
  /** Where the one-line note about a version-1 file goes (its header is unsealed); default stderr. */
  note?: (line: string) => void;
}

/**
 * Read and verify one checkpoint; any damage is a CheckpointError naming the file. A version-1 file (older than
 * the seal) proves only its tensors (meta.sha256): it loads with a note saying its header is used as written, and
 * `sealed: false`, which `assertResumable` refuses. Nothing else but the version decides, so a sealed file
 * rewritten as version 1 (the seal dropped) is exactly such an unsealed file: never trusted silently.
 */
export function readCheckpoint(path: string, o: ReadCheckpointOptions = {}): LoadedCheckpoint {
  if (!existsSync(path)) throw new CheckpointError(`checkpoint ${path} does not exist`);
  let st;
  try { st = readSafetensorsFile(path); } catch (e) {
    throw new CheckpointError(`checkpoint ${path} is damaged or truncated: ${(e as Error).message.split('\n')[0]}`);
  }
  const raw = st.metadata.clan;
  if (!raw) throw new CheckpointError(`${path} is not a clan checkpoint (no 'clan' metadata; a converted weights file? use --init)`);
  let meta: CheckpointMeta;
  try { meta = JSON.parse(raw) as CheckpointMeta; } catch { throw new CheckpointError(`checkpoint ${path} has unreadable metadata`); }
  if (typeof meta !== 'object' || meta === null) throw new CheckpointError(`checkpoint ${path}: metadata 'clan' is not a JSON object`);
  if (meta.format !== CKPT_FORMAT) throw new CheckpointError(`${path}: format '${String(meta.format)}', expected '${CKPT_FORMAT}'`);
  if (meta.version !== 1 && meta.version !== 2) throw new CheckpointError(`${path}: version ${JSON.stringify(meta.version)}, expected 1 or 2 (written by a newer clan?)`);
  const seal = st.metadata[SEAL_KEY];
  if (seal !== undefined || meta.version !== 1) {
    if (seal !== sealOf(st.tensors, raw)) throw new CheckpointError(`checkpoint ${path} failed its SHA-256 check (the seal over the tensors and the header): changed or corrupted`);
    return { path, meta, tensors: st.tensors, sealed: true };
  }
  if (meta.sha256 !== tensorDigest(st.tensors)) throw new CheckpointError(`checkpoint ${path} failed its SHA-256 check (corrupted)`);
  (o.note ?? ((l: string) => process.stderr.write(`${l}\n`)))(unsealedNote(path));
  return { path, meta, tensors: st.tensors, sealed: false };
}

/** The note on loading a version-1 file's weights: what is verified and what is not. */
export function unsealedNote(path: string): string {
  return `note: ${path} is a version-1 checkpoint: its tensors match their SHA-256, but its header (class names, palette, normalize, eval size, step, config) has no seal and is used as written`;
}

/**
 * A resume restores the step, loader positions, RNG and optimizer state from the header: only a sealed one will
 * do. Called by newestValidCheckpoint and restoreParts; a version-1 file is refused, naming what to do instead.
 */
export function assertResumable(ck: LoadedCheckpoint): void {
  if (ck.sealed) return;
  throw new CheckpointError(`checkpoint ${ck.path} is version 1: its header (step, loader positions, RNG and optimizer state) has no seal, so a resume cannot trust it; start a new run from its weights with --init ${ck.path}`);
}

/** Checkpoints of a run folder, newest first (temp files of interrupted writes are ignored). */
export function listCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^ckpt_\d+\.safetensors$/.test(f)).sort().reverse().map((f) => join(dir, f));
}

/**
 * The resume point: the newest checkpoint that verifies; damaged ones are reported through `warn` and skipped. A
 * version-1 one is refused (assertResumable), not skipped: an older checkpoint would silently lose steps.
 */
export function newestValidCheckpoint(dir: string, warn: (m: string) => void): LoadedCheckpoint | null {
  for (const p of listCheckpoints(dir)) {
    let ck: LoadedCheckpoint;
    try { ck = readCheckpoint(p, { note: () => {} }); } catch (e) { warn(`${(e as Error).message}; trying the previous one`); continue; }
    assertResumable(ck);
    return ck;
  }
  return null;
}

/** Delete checkpoints beyond the newest `keep`, never the best one. */
export function pruneCheckpoints(dir: string, keep: number, bestStep: number | null): void {
  for (const p of listCheckpoints(dir).slice(keep)) {
    if (bestStep !== null && basename(p) === checkpointName(bestStep)) continue;
    try { unlinkSync(p); } catch { /* already gone */ }
  }
}
