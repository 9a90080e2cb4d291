// The one way every writer puts a file on disk (checkpoints, weights, PNGs, CSV/JSON summaries, the report): write a
// temp file in the same folder, fsync it, rename it over the target, fsync the folder. A crash at any point leaves
// either the old file or the new one under the real name, never half of one; readers ignore `.NAME.tmp-*`.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

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
  const tmp = tempPathFor(path);
  try {
    const fd = openSync(tmp, 'w');
    try {
      const half = bytes.byteLength >> 1;
      writeAll(fd, bytes, 0, half);
      o.midWrite?.();
      writeAll(fd, bytes, half, bytes.byteLength);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  // Persist the rename itself; best effort, since some filesystems refuse to fsync a folder.
  try { const d = openSync(dirname(path), 'r'); try { fsyncSync(d); } finally { closeSync(d); } } catch { /* unsupported */ }
}

function writeAll(fd: number, bytes: Uint8Array, from: number, to: number): void {
  for (let at = from; at < to;) at += writeSync(fd, bytes, at, to - at);
}
