// One writer per run folder: `RUN/.lock` is created exclusively (O_EXCL) and holds the owner's pid, host and start
// time. A lock left by a process that died (same host, pid no longer running) is taken over with a note; a live
// owner, or an owner on another host, is refused in one line. Released when the run ends.
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ClanError } from '../util/errors.js';

interface Owner { pid: number; host: string; started: string }

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

function tryCreate(path: string, me: Owner): boolean {
  let fd: number;
  try { fd = openSync(path, 'wx'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try { writeSync(fd, JSON.stringify(me) + '\n'); } finally { closeSync(fd); }
  return true;
}

/** Takes the run folder's lock; returns its release. */
export function lockRunFolder(dir: string, log: (l: string) => void): () => void {
  const path = join(dir, '.lock');
  const me: Owner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  if (!tryCreate(path, me)) {
    let owner: Owner | null = null;
    try { owner = JSON.parse(readFileSync(path, 'utf8')) as Owner; } catch { /* torn or empty: a writer died while creating it */ }
    if (owner && (owner.host !== me.host || alive(owner.pid))) {
      throw new ClanError(`run folder ${dir} is in use by pid ${owner.pid} on ${owner.host} (since ${owner.started}); wait for it to end or choose another --out` +
        (owner.host !== me.host ? ` (if that process is gone, delete ${path})` : ''));
    }
    log(`note: ${dir}: taking over the lock of ${owner ? `pid ${owner.pid}, which is no longer running` : 'a process that died while taking it'}`);
    unlinkSync(path);
    if (!tryCreate(path, me)) throw new ClanError(`run folder ${dir} was locked by another process just now; choose another --out`);
  }
  return () => {
    try { if ((JSON.parse(readFileSync(path, 'utf8')) as Owner).pid === me.pid) unlinkSync(path); } catch { /* already gone */ }
  };
}
