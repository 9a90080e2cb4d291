// One writer per run folder, and runs that survive their own debris: a live lock refuses, a stale one is taken
// over; a folder holding a run is refused without --resume/--overwrite; temp files of interrupted checkpoint writes
// and a torn last metrics line are cleaned up; a .pth given to --init names `clan convert`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../config/load.js';
import { ClanError } from '../util/errors.js';
import { train } from './trainer.js';
import { lockRunFolder } from './runlock.js';
import { listCheckpoints } from '../io/checkpoint.js';

const cfg = (iters: number) => resolveConfig({ preset: 'cpu', flags: { backbone: 'micro', iters, threads: 1, checkpointEvery: 2, logEvery: 1000,
  targetVal: { data: 'digitscapes:val', limit: 2 }, hyper: { adversarial: { ndf: 8 } } } });
const deadPid = (): number => Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);

test('the run-folder lock: a live owner is refused in one line, a dead one is taken over with a note, release removes it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notes: string[] = [];
  const release = lockRunFolder(dir, (l) => notes.push(l));
  assert.throws(() => lockRunFolder(dir, () => {}), (e: Error) => e instanceof ClanError &&
    new RegExp(`^run folder .* is in use by pid ${process.pid} on ${hostname()} \\(since .*\\); wait for it to end or choose another --out$`).test(e.message));
  release();
  assert.ok(!existsSync(join(dir, '.lock')));
  writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: deadPid(), host: hostname(), started: 'then' }));
  const again = lockRunFolder(dir, (l) => notes.push(l));
  assert.match(notes.join('\n'), /taking over the lock of pid \d+, which is no longer running/);
  assert.equal(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')).pid, process.pid);
  again();
  writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then' }));
  assert.throws(() => lockRunFolder(dir, () => {}), /in use by pid 1 on elsewhere .*delete .*\.lock/);
});

test('a folder that holds a run: refused without --resume, started over with --overwrite; debris cleaned', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notes: string[] = [];
  const log = (l: string) => notes.push(l);
  await train({ config: cfg(4), outDir: dir, log });
  await assert.rejects(train({ config: cfg(2), outDir: dir, log }),
    new RegExp(`^ClanError: --out ${dir} already holds a run \\(checkpoints, metrics.jsonl\\); continue it with --resume ${dir}, or start over with --overwrite$`));
  assert.deepEqual(listCheckpoints(join(dir, 'checkpoints')).length, 2, 'the refused run touched nothing');
  writeFileSync(join(dir, 'checkpoints', '.ckpt_0000006.safetensors.tmp-123-abcd'), 'half');
  await train({ config: cfg(2), outDir: dir, log, overwrite: true });
  assert.deepEqual(readdirSync(join(dir, 'checkpoints')), ['ckpt_0000002.safetensors'], 'only the new run, no temp file');
  assert.match(notes.join('\n'), /removed 1 temp file\(s\) of interrupted checkpoint writes/);
  assert.match(notes.join('\n'), /--overwrite: deleted the previous run's checkpoints and metrics/);
  assert.ok(!existsSync(join(dir, '.lock')), 'lock released');
});

test('resume after a torn last metrics line drops it with a note; a damaged earlier line is named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const notes: string[] = [];
  await train({ config: cfg(2), outDir: dir, log: () => {} });
  appendFileSync(join(dir, 'metrics.jsonl'), '{"step":3,"lr":0.00');
  await train({ config: cfg(4), outDir: dir, resume: true, log: (l) => notes.push(l) });
  assert.match(notes.join('\n'), /metrics\.jsonl: dropped a torn last line/);
  const steps = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { step: number; seg?: number });
  assert.deepEqual(steps.filter((s) => s.seg !== undefined).map((s) => s.step), [1, 2, 3, 4]);
  writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\nnot json\n{"step":2}\n');
  await assert.rejects(train({ config: cfg(5), outDir: dir, resume: true, log: () => {} }), /metrics\.jsonl: line 2 is not JSON; repair or delete the file to resume/);
});

test('--init with a PyTorch .pth names clan convert', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pth = join(dir, 'weights.pth');
  writeFileSync(pth, Buffer.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0]));
  const c = { ...cfg(1), init: pth };
  await assert.rejects(train({ config: c, outDir: join(dir, 'run'), log: () => {} }),
    new RegExp(`--init ${pth} is a PyTorch file \\(\\.pth\\), not converted weights; convert it first: clan convert ${pth} init\\.safetensors`));
});
