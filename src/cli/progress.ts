// A progress bar with ETA and the method's losses on stderr (redrawn in place on a TTY, a line every N steps otherwise).
import type { StepLog } from '../methods/uda.js';

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--';
  const h = Math.floor(s / 3600); const m = Math.floor((s % 3600) / 60); const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function bar(done: number, total: number, width = 24): string {
  const f = Math.round((done / Math.max(1, total)) * width);
  return `[${'#'.repeat(f)}${'.'.repeat(width - f)}]`;
}

/** Shorter labels for the usual loss keys on a crowded line; any other key a method logs prints as it is. */
const SHORT: Record<string, string> = { weight: 'w', d_s: 'D_s', d_t: 'D_t' };

/**
 * `elapsed` is the seconds since this process began stepping at step `from` (a resumed run's checkpoint step, 0 for a
 * fresh run): the rate counts the steps done since, so a run resumed near its end does not show a near-zero ETA.
 */
export function trainProgress(label: string, every: number): (step: number, total: number, s: StepLog, elapsed: number,
  from?: number) => void {
  const tty = process.stderr.isTTY === true;
  return (step, total, s, elapsed, from = 0) => {
    if (!tty && step % every !== 0 && step !== total) return;
    const rate = elapsed / Math.max(1, step - from);
    const losses = Object.entries(s.losses).map(([k, v]) => `${SHORT[k] ?? k} ${v.toFixed(3)}`).join(' ');
    const line = `${label} ${bar(step, total)} ${step}/${total} ETA ${fmtTime(rate * (total - step))} lr ${s.lrG.toExponential(2)} ${losses}`;
    if (tty) process.stderr.write(`\r${line}\x1b[K${step === total ? '\n' : ''}`);
    else process.stderr.write(line + '\n');
  };
}

export function countProgress(label: string): (done: number, total: number) => void {
  const tty = process.stderr.isTTY === true;
  return (done, total) => {
    if (tty) process.stderr.write(`\r${label} ${bar(done, total)} ${done}/${total}\x1b[K${done === total ? '\n' : ''}`);
    else if (done === total || done % 50 === 0) process.stderr.write(`${label} ${done}/${total}\n`);
  };
}

/** One progress line of `trainProgress` read back: what a parent process needs to show a child's run. */
export interface RunProgress { label: string; step: number; total: number; eta: string }

export function parseProgressLine(line: string): RunProgress | null {
  const m = /^(.+?) \[[#.]+\] (\d+)\/(\d+) ETA (\S+)/.exec(line);
  return m ? { label: m[1]!, step: Number(m[2]), total: Number(m[3]), eta: m[4]! } : null;
}

/**
 * Usable width of a terminal that reports `columns`: terminals under `script` or some CI runners report 0 (or
 * nothing), which would cut every status line down to '…'; they get the classic 80.
 */
export function terminalColumns(columns: number | undefined): number {
  return columns !== undefined && Number.isInteger(columns) && columns > 1 ? columns : 80;
}

/** The demo's one status line over its running children: runs done, then each running run's step and ETA. */
export function boardLine(done: number, total: number, running: readonly RunProgress[], columns = 160): string {
  const parts = [`demo ${done}/${total} runs done`, ...running.map((r) => `${r.label} ${r.step}/${r.total} ETA ${r.eta}`)];
  const line = parts.join(' · ');
  return line.length > columns ? line.slice(0, Math.max(0, columns - 1)) + '…' : line;
}

/**
 * The demo's view of several child runs on stderr. On a TTY: one line redrawn in place (`boardLine`), with the
 * children's other lines (logs, errors) printed above it. Otherwise every child line passes through unchanged,
 * which is what a log file wants.
 */
export class RunBoard {
  private readonly running = new Map<string, RunProgress>();
  private done = 0;
  constructor(private readonly total: number, private readonly tty = process.stderr.isTTY === true,
    private readonly write: (s: string) => void = (s) => { process.stderr.write(s); },
    private readonly columns = () => terminalColumns(process.stderr.columns) - 1) {}

  /** A line a child wrote to its stderr. */
  line(label: string, text: string): void {
    if (!this.tty) { this.write(text + '\n'); return; }
    const p = parseProgressLine(text);
    if (p) this.running.set(label, p);
    else this.write(`\r\x1b[K${text}\n`);
    this.draw();
  }

  start(label: string, total: number): void {
    this.running.set(label, { label, step: 0, total, eta: '--' });
    if (this.tty) this.draw();
  }

  finish(label: string): void {
    this.running.delete(label);
    this.done++;
    if (this.tty) this.draw();
  }

  /** Ends the status line (call once, when every run has ended). */
  close(): void { if (this.tty) this.write('\n'); }

  private draw(): void {
    this.write(`\r${boardLine(this.done, this.total, [...this.running.values()], this.columns())}\x1b[K`);
  }
}
