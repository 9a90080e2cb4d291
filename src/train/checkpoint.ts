// One file per checkpoint (safetensors + a JSON header under metadata.clan): G, D, both optimizer states, step,
// RNG state, loader positions and the config — everything exact resume needs. Written to a temp file, fsynced,
// renamed; a SHA-256 over all tensor bytes is verified on load.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { encodeSafetensors, readSafetensorsFile } from '../io/safetensors.js';
import { CheckpointError, ClanError } from '../util/errors.js';
import { stripPrefix } from '../util/prefix.js';
import { makeDirs } from '../util/paths.js';

export const CKPT_FORMAT = 'clan-checkpoint';

/** Everything in a checkpoint that is not a tensor. */
export interface CheckpointMeta {
  format: typeof CKPT_FORMAT;
  version: 1;
  step: number;                       // iterations completed
  method: string;                     // 'clan' | 'adversarial' | 'source-only'
  backbone: string;
  numClasses: number;
  classNames: string[];
  palette: [number, number, number][] | null;
  normalize: 'caffe' | 'imagenet';
  evalSize: [number, number];         // [W, H] network input at evaluation
  config: unknown;                    // the resolved training config
  optG: { groups: unknown[]; scalars: (Record<string, number> | null)[] } | null;
  optD: { groups: unknown[]; scalars: (Record<string, number> | null)[] } | null;
  torchRng: string;                   // base64 of the libtorch CPU generator state
  loaders: { source: number; target: number };   // samples consumed (not prefetched)
  libtorch: string;
  threads: number;
  best?: { step: number; miou: number };
  device?: string;                    // where the run trained (informational: tensors are stored on the CPU and load anywhere)
  scaler?: torch.GradScalerState;     // fp16 loss scaler (amp 'fp16' runs)
  sha256?: string;
}

export interface CheckpointParts {
  G: torch.Module; D: torch.Module | null;
  optG: torch.Optimizer<{ lr: number }> | null; optD: torch.Optimizer<{ lr: number }> | null;
  scaler?: torch.GradScaler | null;
}

function optimizerTensors(prefix: string, opt: torch.Optimizer<{ lr: number }> | null, out: Map<string, HostTensor>) {
  if (!opt) return null;
  const sd = opt.stateDict();
  const scalars = sd.state.map((s, i) => {
    if (!s) return null;
    const sc: Record<string, number> = {};
    for (const [k, v] of Object.entries(s)) {
      if (v instanceof torch.Tensor) out.set(`${prefix}.${i}.${k}`, v.toHost());
      else sc[k] = v;
    }
    return sc;
  });
  return { groups: sd.groups, scalars };
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

export function checkpointName(step: number): string { return `ckpt_${String(step).padStart(7, '0')}.safetensors`; }

/** Write `bytes` to `path` atomically: temp file in the same folder, fsync, rename, fsync the folder. */
export function atomicWrite(path: string, bytes: Uint8Array): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}`);
  const fd = openSync(tmp, 'w');
  try {
    const half = bytes.length >> 1;
    writeSync(fd, bytes, 0, half);
    // Test hook: die half-way through writing the file whose name contains the variable's value (the temp file
    // stays behind; readers must ignore it and use the previous checkpoint).
    const kill = process.env.CLAN_TEST_KILL_IN_CHECKPOINT;
    if (kill && basename(path).includes(kill)) process.kill(process.pid, 'SIGKILL');
    writeSync(fd, bytes, half, bytes.length - half);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  try { const d = openSync(dir, 'r'); fsyncSync(d); closeSync(d); } catch { /* some filesystems refuse to fsync folders */ }
}

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

export function saveCheckpoint(dir: string, parts: CheckpointParts, meta: Omit<CheckpointMeta, 'format' | 'version' | 'optG' | 'optD' | 'scaler' | 'sha256'>): string {
  makeDirs(dir);
  const tensors = new Map<string, HostTensor>();
  for (const [k, t] of parts.G.stateDict()) tensors.set(`G.${k}`, t.toHost());
  if (parts.D) for (const [k, t] of parts.D.stateDict()) tensors.set(`D.${k}`, t.toHost());
  const optG = optimizerTensors('optG', parts.optG, tensors);
  const optD = optimizerTensors('optD', parts.optD, tensors);
  const full: CheckpointMeta = { format: CKPT_FORMAT, version: 1, ...meta, optG, optD,
    ...(parts.scaler ? { scaler: parts.scaler.stateDict() } : {}), sha256: tensorDigest(tensors) };
  const bytes = encodeSafetensors(tensors, { clan: JSON.stringify(full) });
  const path = join(dir, checkpointName(meta.step));
  checkDiskSpace(dir, bytes.length);
  atomicWrite(path, bytes);
  return path;
}

export interface LoadedCheckpoint { path: string; meta: CheckpointMeta; tensors: Map<string, HostTensor> }

/** Read and verify one checkpoint; any damage is a CheckpointError naming the file. */
export function readCheckpoint(path: string): LoadedCheckpoint {
  if (!existsSync(path)) throw new CheckpointError(`checkpoint ${path} does not exist`);
  let st;
  try { st = readSafetensorsFile(path); } catch (e) {
    throw new CheckpointError(`checkpoint ${path} is damaged or truncated: ${(e as Error).message.split('\n')[0]}`);
  }
  const raw = st.metadata.clan;
  if (!raw) throw new CheckpointError(`${path} is not a clan checkpoint (no 'clan' metadata; a converted weights file? use --init)`);
  let meta: CheckpointMeta;
  try { meta = JSON.parse(raw) as CheckpointMeta; } catch { throw new CheckpointError(`checkpoint ${path} has unreadable metadata`); }
  if (meta.format !== CKPT_FORMAT) throw new CheckpointError(`${path}: format '${String(meta.format)}', expected '${CKPT_FORMAT}'`);
  if (meta.sha256 !== tensorDigest(st.tensors)) throw new CheckpointError(`checkpoint ${path} failed its SHA-256 check (corrupted)`);
  return { path, meta, tensors: st.tensors };
}

/** Checkpoints of a run folder, newest first (temp files of interrupted writes are ignored). */
export function listCheckpoints(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /^ckpt_\d+\.safetensors$/.test(f)).sort().reverse().map((f) => join(dir, f));
}

/** The newest checkpoint that verifies; damaged ones are reported through `warn` and skipped. */
export function newestValidCheckpoint(dir: string, warn: (m: string) => void): LoadedCheckpoint | null {
  for (const p of listCheckpoints(dir)) {
    try { return readCheckpoint(p); } catch (e) { warn(`${(e as Error).message}; trying the previous one`); }
  }
  return null;
}

/** Restore models and optimizers in place from a loaded checkpoint. */
export function restoreParts(ck: LoadedCheckpoint, parts: CheckpointParts): void {
  parts.G.loadStateDict(stripPrefix(ck.tensors, 'G.'), true, `${ck.path} (G)`);
  if (parts.D) parts.D.loadStateDict(stripPrefix(ck.tensors, 'D.'), true, `${ck.path} (D)`);
  const restore = (prefix: string, opt: torch.Optimizer<{ lr: number }> | null, m: CheckpointMeta['optG']) => {
    if (!opt || !m) return;
    const tens = stripPrefix(ck.tensors, `${prefix}.`);
    const state = m.scalars.map((sc, i) => {
      if (!sc) return null;
      const s: torch.ParamState = { ...sc };
      for (const [k, v] of tens) {
        const [idx, ...rest] = k.split('.');
        if (Number(idx) === i) s[rest.join('.')] = torch.fromHost(v);
      }
      return s;
    });
    torch.tidy(() => opt.loadStateDict({ groups: m.groups as { lr: number }[], state }));
  };
  restore('optG', parts.optG, ck.meta.optG);
  restore('optD', parts.optD, ck.meta.optD);
  if (parts.scaler && ck.meta.scaler) parts.scaler.loadStateDict(ck.meta.scaler);
}

/** Delete checkpoints beyond the newest `keep`, never the best one. */
export function pruneCheckpoints(dir: string, keep: number, bestStep: number | null): void {
  for (const p of listCheckpoints(dir).slice(keep)) {
    if (bestStep !== null && basename(p) === checkpointName(bestStep)) continue;
    try { unlinkSync(p); } catch { /* already gone */ }
  }
}
