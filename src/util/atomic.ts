// The one way every writer puts a file on disk (checkpoints, weights, PNGs, CSV/JSON summaries, the report): write a
// temp file in the same folder, fsync it, rename it over the target, fsync the folder. A crash at any point leaves
// either the old file or the new one under the real name, never half of one; readers ignore `.NAME.tmp-*`. A system
// error (ENOSPC, EACCES, EROFS, a missing folder) becomes one ClanError naming the file, not the temp name or nothing.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { ClanError } from './errors.js';

export interface AtomicWriteOptions {
  /** Called once half of the bytes are written (tests kill the process here to leave a temp file behind). */
  midWrite?: () => void;
}

/** Temp name of an in-progress write of `path`: `.NAME.tmp-PID-RANDOM` in the same folder (same filesystem). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Write `data` (bytes or UTF-8 text) to `path` atomically. On failure the temp file is removed and the error rethrown. */
export function atomicWrite(path: string, data: Uint8Array | string, o: AtomicWriteOptions = {}): void {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  atomicWriteWith(path, (write) => {
    const half = bytes.byteLength >> 1;
    write(bytes.subarray(0, half));
    o.midWrite?.();
    write(bytes.subarray(half));
  });
}

/**
 * The same for a file produced piece by piece: `produce(write)` calls write(bytes) as often as it likes (a PNG of a
 * 13376² image streamed a block of rows at a time, never whole in memory); the file appears under `path` complete,
 * or not at all.
 */
export function atomicWriteWith(path: string, produce: (write: (bytes: Uint8Array) => void) => void): void {
  const tmp = tempPathFor(path);
  try {
    const fd = openSync(tmp, 'w');
    try {
      produce((bytes) => writeAll(fd, bytes, 0, bytes.byteLength));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw writeError(path, e);
  }
  // Persist the rename itself; best effort, since some filesystems refuse to fsync a folder.
  try { const d = openSync(dirname(path), 'r'); try { fsyncSync(d); } finally { closeSync(d); } } catch { /* unsupported */ }
}

function writeAll(fd: number, bytes: Uint8Array, from: number, to: number): void {
  for (let at = from; at < to;) at += writeSync(fd, bytes, at, to - at);
}

/** A system error as one line naming the file: `PATH: cannot write (ENOSPC: no space left on device)`. */
function writeError(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) return e; // not a system error (a test hook's own)
  // The system message is "CODE: text, syscall 'temp path'": keep "CODE: text" only; the temp name means nothing.
  const text = /^E[A-Z0-9]+: ([^,]*)/.exec((e as Error).message)?.[1];
  return new ClanError(`${path}: cannot write (${code}${text ? `: ${text}` : ''})`);
}
