// A progress bar with ETA and the five losses on stderr (redrawn in place on a TTY, a line every N steps otherwise).
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

export function trainProgress(label: string, every: number, startStep = 0): (step: number, total: number, s: StepLog, elapsed: number) => void {
  const tty = process.stderr.isTTY === true;
  return (step, total, s, elapsed) => {
    if (!tty && step % every !== 0 && step !== total) return;
    const rate = elapsed / Math.max(1, step - startStep);
    const losses = [['seg', s.seg], ['adv', s.adv], ['w', s.weight], ['D_s', s.d_s], ['D_t', s.d_t]]
      .filter(([, v]) => v !== undefined).map(([k, v]) => `${k} ${(v as number).toFixed(3)}`).join(' ');
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
