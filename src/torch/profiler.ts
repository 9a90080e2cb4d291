// libtorch's operator profiler (native/profile.cc; the legacy autograd profiler behind torch.autograd.profiler):
// `profile(path, fn)` records every ATen op and autograd node that fn runs into a Chrome trace at `path` (open it
// in chrome://tracing or ui.perfetto.dev), and `opTable` turns such a trace into the per-op table that
// prof.key_averages() prints: calls, self time (the op minus the ops it called) and total time.
import { readFileSync } from 'node:fs';
import { native } from './native.js';
import { DataError } from '../util/errors.js';

/** One complete event of the trace (Chrome trace "X" phase); times in microseconds. */
export interface TraceEvent { name: string; ts: number; dur: number; tid: number }

/** One row of the op table; milliseconds. */
export interface OpRow { op: string; calls: number; selfMs: number; totalMs: number }

/** Runs fn with the profiler on and writes the trace to `path` (also when fn throws). One profile at a time. */
export function profile<T>(path: string, fn: () => T): T {
  native.profilerStart(path);
  try { return fn(); } finally { native.profilerStop(); }
}

/** The events of a trace written by profile(); a file that is not one is a one-line DataError naming it. */
export function readTrace(path: string): TraceEvent[] {
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(path, 'utf8')); } catch (e) {
    throw new DataError(`profiler trace ${path}: not readable JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(raw)) throw new DataError(`profiler trace ${path}: expected a JSON array of events`);
  return raw.map((e: unknown, k) => {
    const o = e as Partial<TraceEvent> | null;
    if (!o || typeof o.name !== 'string' || typeof o.ts !== 'number' || typeof o.dur !== 'number' || typeof o.tid !== 'number') {
      throw new DataError(`profiler trace ${path}: event ${k} lacks name/ts/dur/tid`);
    }
    return { name: o.name, ts: o.ts, dur: o.dur, tid: o.tid };
  });
}

/**
 * Per-op calls, self and total time, largest self time first. Events nest per thread (an op's children start and
 * end inside it); self = own duration minus that of its direct children, so the self times add up to the time
 * covered by the outermost events. Total time counts an op inside itself (recursion) once per event, as PyTorch does.
 */
export function opTable(events: readonly TraceEvent[]): OpRow[] {
  const rows = new Map<string, OpRow>();
  const byTid = new Map<number, TraceEvent[]>();
  for (const e of events) { const l = byTid.get(e.tid); if (l) l.push(e); else byTid.set(e.tid, [e]); }
  for (const list of byTid.values()) {
    // parents first: earlier start, and at equal starts the longer one
    list.sort((a, b) => a.ts - b.ts || b.dur - a.dur);
    const stack: { e: TraceEvent; child: number }[] = [];
    const close = (upTo: number) => {
      while (stack.length && stack[stack.length - 1]!.e.ts + stack[stack.length - 1]!.e.dur <= upTo) {
        const { e, child } = stack.pop()!;
        const r = rows.get(e.name) ?? { op: e.name, calls: 0, selfMs: 0, totalMs: 0 };
        r.calls++; r.totalMs += e.dur / 1000; r.selfMs += Math.max(0, e.dur - child) / 1000;
        rows.set(e.name, r);
        if (stack.length) stack[stack.length - 1]!.child += e.dur;
      }
    };
    for (const e of list) { close(e.ts); stack.push({ e, child: 0 }); }
    close(Infinity);
  }
  return [...rows.values()].sort((a, b) => b.selfMs - a.selfMs);
}
