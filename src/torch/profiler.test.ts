// The op table from a hand-made trace (nesting, self vs total, threads apart), and from a real profile: a 1×1
// convolution's forward and backward appear with the kernels libtorch chose, nested under aten::conv2d.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from './index.js';
import { opTable, readTrace, type TraceEvent } from './profiler.js';
import { DataError } from '../util/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'clan-prof-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('opTable: self time = own minus direct children, per thread; sorted by self time', () => {
  const ev: TraceEvent[] = [
    { name: 'conv2d', ts: 0, dur: 100, tid: 1 },          // children: convolution (90) → self 10
    { name: 'convolution', ts: 5, dur: 90, tid: 1 },      // children: mkldnn (70) + empty (5) → self 15
    { name: 'mkldnn', ts: 10, dur: 70, tid: 1 },          // leaf
    { name: 'empty', ts: 85, dur: 5, tid: 1 },            // leaf
    { name: 'empty', ts: 200, dur: 3, tid: 1 },           // outermost
    { name: 'mkldnn', ts: 0, dur: 40, tid: 2 },           // another thread: not a child of conv2d
  ];
  const t = opTable(ev);
  const by = Object.fromEntries(t.map((r) => [r.op, r]));
  assert.deepEqual(t.map((r) => r.op), ['mkldnn', 'convolution', 'conv2d', 'empty']);
  const near = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);
  assert.equal(by.mkldnn!.calls, 2); near(by.mkldnn!.selfMs, 0.11); near(by.mkldnn!.totalMs, 0.11);
  near(by.convolution!.selfMs, 0.015); near(by.conv2d!.selfMs, 0.01); near(by.conv2d!.totalMs, 0.1);
  assert.equal(by.empty!.calls, 2); near(by.empty!.selfMs, 0.008);
  // the self times add up to what the outermost events cover
  assert.ok(Math.abs(t.reduce((a, r) => a + r.selfMs, 0) - (0.1 + 0.003 + 0.04)) < 1e-12);
});

test('readTrace: junk is a one-line DataError naming the file', () => {
  const f = join(dir, 'bad.json');
  writeFileSync(f, '{"traceEvents": 1}');
  assert.throws(() => readTrace(f), (e: unknown) => e instanceof DataError && e.message === `profiler trace ${f}: expected a JSON array of events`);
  writeFileSync(f, '[{"name": "x"}]');
  assert.throws(() => readTrace(f), /event 0 lacks name\/ts\/dur\/tid/);
});

test('profile: a 1×1 convolution forward + backward, with the kernels libtorch picked (1 thread: THNN; dilation 2 on a map over 20480 values: oneDNN)', () => {
  torch.setNumThreads(1);
  const x = torch.keep(torch.randn([1, 32, 32, 32]).requiresGrad_(true));
  const w = torch.keep(torch.randn([16, 32, 1, 1]).requiresGrad_(true));
  const run = (dilation: number) => {
    const f = join(dir, `d${dilation}.json`);
    torch.profile(f, () => torch.tidy(() => torch.F.conv2d(x, w, null, { dilation }).sum().backward()));
    return Object.fromEntries(opTable(readTrace(f)).map((r) => [r.op, r]));
  };
  const thnn = run(1);
  assert.equal(thnn['aten::conv2d']?.calls, 1);
  assert.equal(thnn['aten::_slow_conv2d_forward']?.calls, 1);
  assert.equal(thnn['aten::_slow_conv2d_backward']?.calls, 1);
  assert.equal(thnn['aten::mkldnn_convolution'], undefined);
  assert.ok(thnn['aten::conv2d']!.totalMs >= thnn['aten::_slow_conv2d_forward']!.totalMs);
  const onednn = run(2);
  assert.equal(onednn['aten::mkldnn_convolution']?.calls, 1);
  assert.equal(onednn['aten::_slow_conv2d_forward'], undefined);
  assert.throws(() => torch.profile(join(dir, 'nested.json'), () => torch.profile(join(dir, 'inner.json'), () => 0)), /already running/);
  x.grad?.dispose(); w.grad?.dispose(); x.dispose(); w.dispose();
});
