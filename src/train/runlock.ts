// One writer per run folder: `RUN/.lock` names its owner (pid, host, boot id, the process's start time from
// /proc/PID/stat, a nonce). The file is written whole under a unique temp name and hard-linked into place, so it is
// never seen empty or torn, and link() fails on an existing name: of N processes creating it, exactly one wins.
// A lock whose owner is gone (same host; pid not running, or running but started at another time — the pid was
// reused — or from before a reboot) is taken over with a note; a live owner, or one on another host, is refused
// in one line naming the lock file to delete if that process is in fact gone. Released when the run ends.
//
// Taking over is check-then-replace, which two racers must not interleave (both would see the dead owner, one
// would delete the other's fresh lock). So it runs under `RUN/.lock.takeover`, made the same exclusive way: its
// holder re-reads the lock and replaces it only if it is still the stale one it judged. A takeover lock whose
// holder died inside that microsecond window is refused in one line naming it, never taken over (that would need
// the same protection again).
import { linkSync, openSync, closeSync, readFileSync, rmSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ClanError } from '../util/errors.js';

interface Owner { pid: number; host: string; started: string; boot?: string; ticks?: number; nonce?: string }
type Seen = { text: string; owner: Owner | null } | 'absent';

export interface LockHooks {
  /** Called after an owner is judged gone, before the takeover starts (tests widen the race window here). */
  beforeTakeover?: () => void;
}

const TRIES = 50;

/** Takes the run folder's lock; returns its release. */
export function lockRunFolder(dir: string, log: (l: string) => void, hooks: LockHooks = {}): () => void {
  const path = join(dir, '.lock');
  const start = procStart(process.pid);
  const me: Owner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), ...start, nonce: randomBytes(8).toString('hex') };
  const text = JSON.stringify(me) + '\n';
  for (let i = 0; i < TRIES; i++) {
    if (createExclusive(path, text)) return release(path, text);
    const seen = readOwner(path);
    if (seen === 'absent') continue; // released between our attempt and the read
    const gone = goneReason(seen.owner, me, dir, path);
    hooks.beforeTakeover?.();
    const r = takeOver(path, seen.text, text, me, dir);
    if (r === 'taken') { log(`note: ${dir}: taking over the lock of ${gone}`); return release(path, text); }
    if (r === 'busy') pause(5); // another process is taking over right now: look again once it is done
  }
  throw new ClanError(`run folder ${dir}: could not take its lock ${path} in ${TRIES} tries (other processes keep taking it); choose another --out`);
}

/** Replaces the stale lock `staleText` with ours under the takeover lock; 'again' when the lock changed meanwhile. */
function takeOver(path: string, staleText: string, text: string, me: Owner, dir: string): 'taken' | 'again' | 'busy' {
  const mutex = `${path}.takeover`;
  if (!createExclusive(mutex, text)) {
    const m = readOwner(mutex);
    if (m === 'absent') return 'again';
    if (m.owner && m.owner.host === me.host && running(m.owner, me)) return 'busy';
    throw new ClanError(`run folder ${dir}: a takeover of its lock was interrupted (${m.owner ? `pid ${m.owner.pid} on ${m.owner.host} is gone` : 'unreadable'}); delete ${mutex} and try again`);
  }
  try {
    const now = readOwner(path);
    if (now === 'absent' || now.text !== staleText) return 'again'; // released, or someone took it first: look again
    unlinkSync(path);
    return createExclusive(path, text) ? 'taken' : 'again'; // a newcomer may create it right after the unlink
  } finally {
    rmSync(mutex, { force: true });
  }
}

/** Why the owner no longer holds the lock (for the note); throws the refusal when it still does. */
function goneReason(owner: Owner | null, me: Owner, dir: string, path: string): string {
  if (owner === null) return 'a process that died while taking it (the lock file is empty or torn)';
  if (owner.host === me.host) {
    if (!alive(owner.pid)) return `pid ${owner.pid}, which is no longer running`;
    if (owner.boot !== undefined && me.boot !== undefined && owner.boot !== me.boot) return `pid ${owner.pid}, from before a reboot`;
    const now = procStart(owner.pid);
    if (owner.ticks !== undefined && now !== undefined && now.ticks !== owner.ticks) return `pid ${owner.pid}, which is now another process (the pid was reused)`;
  }
  throw new ClanError(`run folder ${dir} is in use by pid ${owner.pid} on ${owner.host} (since ${owner.started}); wait for it to end or choose another --out (if that process is gone, delete ${path})`);
}

/** Whether `o` (on this host) is the very process that wrote its lock. */
function running(o: Owner, me: Owner): boolean {
  if (!alive(o.pid)) return false;
  if (o.boot !== undefined && me.boot !== undefined && o.boot !== me.boot) return false;
  const now = procStart(o.pid);
  return o.ticks === undefined || now === undefined || now.ticks === o.ticks;
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** Linux: the boot id and the process's start time (field 22 of /proc/PID/stat, clock ticks since boot). */
function procStart(pid: number): { boot: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]); // after "(comm) ": field 3 is index 0
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return Number.isSafeInteger(ticks) ? { boot, ticks } : undefined;
  } catch { return undefined; }
}

function readOwner(path: string): Seen {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw new ClanError(`${path}: cannot read the run lock (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); delete it if no run uses the folder`);
  }
  let o: unknown;
  try { o = JSON.parse(text); } catch { return { text, owner: null }; }
  const ok = typeof o === 'object' && o !== null && Number.isSafeInteger((o as Owner).pid) && (o as Owner).pid > 0 && typeof (o as Owner).host === 'string';
  return { text, owner: ok ? o as Owner : null };
}

/** Filesystems without hard links answer link() with one of these; there the lock is created with O_EXCL. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Creates `path` holding `text` unless it exists: written whole under a unique name, then linked into place. */
function createExclusive(path: string, text: string): boolean {
  const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, text, { flag: 'wx' });
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (NO_LINKS.has(code)) return createOpen(path, text);
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function createOpen(path: string, text: string): boolean {
  let fd: number;
  try { fd = openSync(path, 'wx'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try { writeSync(fd, text); } finally { closeSync(fd); }
  return true;
}

/** Removes the lock if it is still ours (by its exact text, nonce included). */
function release(path: string, text: string): () => void {
  return () => {
    try { if (readFileSync(path, 'utf8') === text) unlinkSync(path); } catch { /* already gone */ }
  };
}

/** A synchronous sleep (the lock is taken before anything async starts). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
