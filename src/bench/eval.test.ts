// `clan bench eval` with an inference spec: one line saying what an image cost (passes, network forwards), and
// --compare refused before anything is built (the PyTorch twin runs the whole mode only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { benchEval, type EvalBenchOptions } from './eval.js';

const BASE: EvalBenchOptions = { backbone: 'micro', height: 32, width: 64, labelHeight: 64, labelWidth: 128, iters: 1, warmup: 0, threads: 1,
  compare: false, rounds: 1, device: 'cpu', pointwiseOnednn: false, twinPointwise: false, profile: 0 };

test('bench eval --mode slide --scales 1,0.5 --flip: passes and forwards in the line; --compare refused in one line', () => {
  const lines: Record<string, unknown>[] = [];
  const live = torch.memoryStats().live;
  benchEval({ ...BASE, inference: { mode: 'slide', crop: [32, 32], stride: [16, 16], scales: [1, 0.5], flip: true } }, (l) => lines.push(l as Record<string, unknown>));
  // ratio 1: keep_ratio of 128×64 into (64, 32) → 64×32: ⌊(64 − 32 + 15) / 16⌋ + 1 = 3 windows; ratio 0.5: 32×16, one
  // short window; each ratio plain and mirrored: 4 passes, 2 · (3 + 1) = 8 forwards
  assert.equal(lines.length, 1);
  const l = lines[0]!;
  assert.deepEqual([l.bench, l.mode, l.crop, l.stride, l.scales, l.flip, l.passes, l.forwards], ['eval', 'slide', '32x32', '16x16', [1, 0.5], true, 4, 8]);
  assert.ok(typeof l.median_ms === 'number' && l.median_ms > 0);
  assert.throws(() => benchEval({ ...BASE, compare: true, inference: { mode: 'whole', flip: true } }, () => {}),
    /^UsageError: bench eval: --compare measures the whole mode only/);
  assert.throws(() => benchEval({ ...BASE, inference: { mode: 'slide' } }, () => {}), /--mode slide needs --crop WxH/);
  assert.equal(torch.memoryStats().live, live, 'nothing left allocated');
});
