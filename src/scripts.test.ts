// scripts/gpu-check.sh fails loudly: on this machine (no GPU) it must exit non-zero and name each step that failed —
// a missing PyTorch stops it at the build; with a CPU addon every later step runs (doctor, the CUDA tests, which skip
// here for want of a GPU, and the benches, which refuse CUDA) and each is reported. The GPU half runs on a GPU machine.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from './util/paths.js';
import { addonPath } from './torch/native.js';

const tmp = mkdtempSync(join(tmpdir(), 'clan-gpucheck-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function gpuCheck(out: string, env: Record<string, string>) {
  const r = spawnSync('bash', [join(packageRoot(), 'scripts', 'gpu-check.sh'), out], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 600_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

test('gpu-check.sh: a python without torch fails the build step, named, exit 1', () => {
  const r = gpuCheck(join(tmp, 'nopy'), { CLAN_PYTHON: '/bin/false' });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /gpu-check: FAILED: build: \/bin\/false has no torch/);
  assert.match(r.out, /gpu-check: 1 step\(s\) failed: build$/m);
  assert.match(readFileSync(join(tmp, 'nopy', 'gpu-check.log'), 'utf8'), /FAILED: build/, 'the log file holds the output');
});

test('gpu-check.sh without a GPU: every step runs, each failure is named, exit 1', () => {
  const r = gpuCheck(join(tmp, 'cpu'), { GPU_CHECK_ADDON: addonPath() });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /gpu-check: FAILED: doctor: not a CUDA build/);
  assert.match(r.out, /gpu-check: FAILED: tests: CUDA tests skipped: /);
  for (const b of ['step-fp32', 'step-bf16', 'eval']) assert.match(r.out, new RegExp(`gpu-check: FAILED: bench ${b}: `));
  assert.match(r.out, /gpu-check: 5 step\(s\) failed: doctor tests bench step-fp32 bench step-bf16 bench eval$/m);
  assert.doesNotMatch(r.out, /all steps passed/);
});

test('gpu-check.sh with GPU_CHECK_STOP=1 stops at the first failed step', () => {
  const r = gpuCheck(join(tmp, 'stop'), { GPU_CHECK_ADDON: addonPath(), GPU_CHECK_STOP: '1' });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /gpu-check: 1 step\(s\) failed: doctor$/m);
  assert.doesNotMatch(r.out, /== .* CUDA tests/);
});
