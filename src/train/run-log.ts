// The run log behind one interface: metrics.jsonl (one JSON line per step and per evaluation, what the run report
// and `clan report` read) and TensorBoard event files (losses, lr, M, mIoU, per-class IoU, sample predictions).
// Resuming cuts metrics.jsonl back to the checkpoint's step — written whole through atomicWrite, so a crash there
// leaves the old file — and tells TensorBoard to forget the steps after it (SummaryWriter(purge_step=…)).
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWrite, type AtomicWriteOptions } from '../util/atomic.js';
import { ClanError } from '../util/errors.js';
import { TfEventsWriter } from '../report/tfevents.js';

/** One step's record: what metrics.jsonl and TensorBoard get. */
export interface StepRecord { step: number; lr: number; lrD?: number; losses: [string, number][]; m?: number; seconds: number }
/** One evaluation's record. */
export interface EvalRecord {
  step: number; miou: number; perClassIou: Record<string, number | null>; images: number; iou: (number | null)[]; confusion: number[];
  classNames: readonly string[];
}

export interface RunLog {
  step(r: StepRecord): void;
  evaluation(r: EvalRecord): void;
  image(tag: string, png: Uint8Array, width: number, height: number, step: number): void;
  close(): void;
  readonly tensorboard: boolean;
}

let eventFiles = 0; // events files this process opened (two runs of one process may start in the same second)

/**
 * The log of a run in `out`: a fresh one empties metrics.jsonl; `resumeAt` keeps its lines up to that step. With
 * `tensorboard`, a new events file per process start (suffix: pid and count, as SummaryWriter).
 */
export function openRunLog(out: string,
  o: { tensorboard: boolean; resumeAt?: number; log: (l: string) => void; write?: AtomicWriteOptions }): RunLog {
  const metrics = join(out, 'metrics.jsonl');
  if (o.resumeAt === undefined) atomicWrite(metrics, '', o.write);
  else if (existsSync(metrics)) atomicWrite(metrics, metricsUpTo(metrics, o.resumeAt, o.log).map((l) => l + '\n').join(''), o.write);
  const tb = o.tensorboard ? new TfEventsWriter(out, { suffix: `${process.pid}.${++eventFiles}` }) : null;
  if (tb && o.resumeAt !== undefined) tb.sessionStart(o.resumeAt + 1);
  return {
    tensorboard: tb !== null,
    step(r) {
      appendFileSync(metrics, JSON.stringify({ step: r.step, lr: r.lr, ...(r.lrD !== undefined ? { lr_d: r.lrD } : {}),
        ...Object.fromEntries(r.losses), ...(r.m !== undefined ? { m: r.m } : {}), seconds: r.seconds }) + '\n');
      tb?.scalars(r.step, { ...Object.fromEntries(r.losses.map(([k, v]) => [`loss/${k}`, v])), 'lr/G': r.lr, ...(r.lrD !== undefined ? { 'lr/D': r.lrD } : {}),
        ...(r.m !== undefined ? { 'disagreement/M': r.m } : {}), 'time/step_seconds': r.seconds });
    },
    evaluation(r) {
      // iou (class order, null = absent) and the confusion matrix (rows = ground truth, flat) feed the run report.
      appendFileSync(metrics, JSON.stringify({ step: r.step, eval: { miou: r.miou, per_class_iou: r.perClassIou, images: r.images,
        iou: r.iou, confusion: r.confusion } }) + '\n');
      tb?.scalars(r.step, { 'val/mIoU': r.miou, ...Object.fromEntries(r.classNames.flatMap((n, c) => (r.iou[c] === null ? [] : [[`val/IoU/${n}`, r.iou[c]!]]))) });
    },
    image(tag, png, width, height, step) { tb?.image(tag, png, width, height, step); },
    close() { tb?.close(); },
  };
}

/**
 * The lines of metrics.jsonl up to `step`. A torn last line (power lost mid-append) is dropped with a note; a damaged
 * line before it is an error naming the line.
 */
export function metricsUpTo(path: string, step: number, log: (l: string) => void): string[] {
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  const kept: string[] = [];
  for (const [i, l] of lines.entries()) {
    let row: { step?: unknown };
    try { row = JSON.parse(l) as { step?: unknown }; } catch {
      if (i === lines.length - 1) { log(`note: ${path}: dropped a torn last line (an interrupted write)`); break; }
      throw new ClanError(`${path}: line ${i + 1} is not JSON; repair or delete the file to resume`);
    }
    if (typeof row.step === 'number' && row.step <= step) kept.push(l);
  }
  return kept;
}
