// One fuzz child process at a time (runner.ts, forked with a small V8 heap), fed one case after another. A case that
// crashes the child, outlives the timeout or takes its RSS past the bound is a finding: the child is killed
// (SIGKILL) and the next case starts a fresh one. RSS is watched from outside too (/proc/PID/status, every 50 ms),
// so a single huge allocation is stopped while it happens, not only reported after the case.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Verdict } from './check.js';

/** A case for the child: a mutation of the target's seed by `seed`, or the bytes of the file at `path`. */
export interface CaseSpec { id: number; target: string; seed?: number; path?: string }
export type CaseReply = ({ id: number; mutation: string; maxRssKb: number } & Verdict) | { id: number; fatal: string };
export interface CaseResult extends Verdict { mutation?: string }

export interface PoolOptions {
  timeoutMs: number;   // per case
  rssBoundMb: number;  // peak resident set of the child
  heapMb: number;      // --max-old-space-size of the child
}
export const POOL_DEFAULTS: PoolOptions = { timeoutMs: 10_000, rssBoundMb: 1536, heapMb: 512 };

/**
 * The product's resource limits (io/limits.ts), scaled down in the child unless already set in the environment: at
 * the defaults a legitimate input may take ~2 GB (a 179-MP JPEG), so the RSS bound could not tell an enforced limit
 * from a missing one. Scaled down, every input the limits admit fits far inside the bound and the heap, and an input
 * that goes past them shows that a limit is not checked (or not checked before the allocation).
 */
export const FUZZ_LIMITS: Record<string, string> = {
  CLAN_MAX_IMAGE_PIXELS: '4000000', CLAN_MAX_JPEG_MEMORY_MB: '256', CLAN_MAX_ZIP_INFLATE_BYTES: String(64 * 2 ** 20),
  CLAN_MAX_PICKLE_OBJECTS: '1000000', CLAN_MAX_CHECKPOINT_NAME_CHARS: '4000000',
  CLAN_MAX_TENSOR_EXPANSION_BYTES: String(64 * 2 ** 20), CLAN_MAX_SAFETENSORS_HEADER_BYTES: String(16 * 2 ** 20),
};

const RUNNER = fileURLToPath(new URL('./runner.js', import.meta.url));

/** Resident set of a live process in MiB from /proc (Linux); undefined elsewhere or once it is gone. */
function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch { return undefined; }
}

interface Child { proc: ChildProcess; tmp: string; stderr: string }

export class Pool {
  private child: Child | undefined;
  constructor(private readonly o: PoolOptions = POOL_DEFAULTS) {}

  private start(): Child {
    const tmp = mkdtempSync(join(tmpdir(), 'clan-fuzz-'));
    const proc = fork(RUNNER, [tmp], { execArgv: [`--max-old-space-size=${this.o.heapMb}`], stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...FUZZ_LIMITS, ...process.env } });
    const c: Child = { proc, tmp, stderr: '' };
    proc.stderr!.on('data', (d: Buffer) => { c.stderr = (c.stderr + d.toString()).slice(-4000); });
    proc.on('error', () => { /* a send to a dead child: its 'exit' is reported instead */ });
    proc.on('exit', () => {
      rmSync(tmp, { recursive: true, force: true });
      if (this.child === c) this.child = undefined;
    });
    return c;
  }

  /** Kills the current child (if any); the next case starts a fresh one. */
  close(): void {
    this.child?.proc.kill('SIGKILL');
    this.child = undefined;
  }

  /** Runs one case; rejects only for harness errors (an unknown target, a seed that does not load). */
  run(spec: CaseSpec): Promise<CaseResult> {
    const c = (this.child ??= this.start());
    return new Promise((resolve, reject) => {
      const finish = (r: CaseResult | Error, kill: boolean): void => {
        clearTimeout(timer); clearInterval(poll);
        c.proc.off('message', onMessage); c.proc.off('exit', onExit);
        if (kill) { c.proc.kill('SIGKILL'); if (this.child === c) this.child = undefined; }
        if (r instanceof Error) reject(r); else resolve(r);
      };
      const onMessage = (m: CaseReply): void => {
        if ('fatal' in m) return finish(new Error(m.fatal), true);
        const { id: _id, maxRssKb, ...verdict } = m;
        if (maxRssKb / 1024 > this.o.rssBoundMb) return finish({ outcome: 'finding', kind: 'rss', detail: `peak RSS ${(maxRssKb / 1024).toFixed(0)} MiB is over the bound of ${this.o.rssBoundMb} MiB`, mutation: m.mutation }, true);
        finish(verdict, false);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        const tail = c.stderr.trim().split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ');
        finish({ outcome: 'finding', kind: 'crash', detail: `child died (${signal ?? `exit code ${code}`})${tail ? `: ${tail.slice(0, 600)}` : ''}` }, true);
      };
      const timer = setTimeout(() => finish({ outcome: 'finding', kind: 'hang', detail: `no verdict within ${this.o.timeoutMs / 1000} s` }, true), this.o.timeoutMs);
      const poll = setInterval(() => {
        const mb = c.proc.pid === undefined ? undefined : rssMb(c.proc.pid);
        if (mb !== undefined && mb > this.o.rssBoundMb) finish({ outcome: 'finding', kind: 'rss', detail: `RSS reached ${mb.toFixed(0)} MiB, over the bound of ${this.o.rssBoundMb} MiB` }, true);
      }, 50);
      c.proc.on('message', onMessage);
      c.proc.on('exit', onExit);
      c.proc.send(spec);
    });
  }
}
