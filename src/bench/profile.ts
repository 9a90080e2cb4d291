// `clan bench step|eval --profile N`: N more calls under libtorch's op profiler (torch/profiler.ts), summarised per
// op for the JSON line — where an iteration's time goes, and how much of it the convolution kernels take.
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { round } from './util.js';

/** Ops whose self time is convolution arithmetic: the kernels libtorch dispatches to and their backward. */
const CONV_KERNEL = /^aten::(mkldnn_convolution|_slow_conv2d_forward|_slow_conv2d_backward|slow_conv_dilated2d|convolution_backward|_nnpack_spatial_convolution|cudnn_convolution)/;

export interface ProfileSummary {
  profile: { op: string; calls: number; ms: number; share: number }[]; // per call of fn: top ops by self time
  profile_ms: number;        // per call: the self times summed (the profiled wall time, with profiler overhead)
  conv_ms: number;           // per call: self time of the convolution kernels (CONV_KERNEL)
}

/** Runs fn `n` times under the profiler; `keep` moves the Chrome trace there. Top `top` ops per call of fn. */
export function profileCalls(n: number, fn: () => void, o: { top?: number; keep?: string } = {}): ProfileSummary {
  const dir = mkdtempSync(join(tmpdir(), 'clan-profile-'));
  try {
    const file = join(dir, 'trace.json');
    torch.profile(file, () => { for (let k = 0; k < n; k++) fn(); });
    const rows = torch.opTable(torch.readTrace(file));
    if (o.keep) renameSync(file, o.keep);
    const total = rows.reduce((a, r) => a + r.selfMs, 0);
    const conv = rows.filter((r) => CONV_KERNEL.test(r.op)).reduce((a, r) => a + r.selfMs, 0);
    return {
      profile: rows.slice(0, o.top ?? 12).map((r) => ({ op: r.op, calls: round(r.calls / n, 1), ms: round(r.selfMs / n),
        share: round(r.selfMs / total, 3) })),
      profile_ms: round(total / n), conv_ms: round(conv / n),
    };
  } finally { rmSync(dir, { recursive: true, force: true }); }
}
