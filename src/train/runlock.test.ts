// One writer per run folder, and runs that survive their own debris: a live lock refuses, a stale one is taken
// over; a folder holding a run is refused without --resume/--overwrite; temp files of interrupted checkpoint writes
// and a torn last metrics line are cleaned up; a .pth given to --init names `clan convert`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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
    new RegExp(`^run folder .* is in use by pid ${process.pid} on ${hostname()} \\(since .*\\); wait for it to end or choose another --out \\(if that process is gone, delete ${join(dir, '.lock')}\\)$`).test(e.message));
  release();
  assert.ok(!existsSync(join(dir, '.lock')));
  writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: deadPid(), host: hostname(), started: 'then' }));
  const again = lockRunFolder(dir, (l) => notes.push(l));
  assert.match(notes.join('\n'), /^note: .*: taking over the lock of pid \d+, which is no longer running$/m);
  assert.equal(JSON.parse(readFileSync(join(dir, '.lock'), 'utf8')).pid, process.pid);
  assert.deepEqual(readdirSync(dir), ['.lock'], 'no temp or takeover file left behind');
  again();
  writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then' }));
  assert.throws(() => lockRunFolder(dir, () => {}), /in use by pid 1 on elsewhere .*delete .*\.lock/);
});

/** A long-lived process that takes the lock of a folder on command, all racers starting in the same millisecond. */
const RACER = `
import { createInterface } from 'node:readline';
const { lockRunFolder } = await import(process.argv[1]);
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
let release = null;
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, dir, at] = line.split('\\t');
  if (cmd === 'go') {
    while (Date.now() < Number(at)) { /* spin: every racer starts in the same millisecond */ }
    try { release = lockRunFolder(dir, () => {}, { beforeTakeover: () => sleep(Math.random() * 2) }); console.log('held\\t' + process.pid); }
    catch (e) { console.log('refused\\t' + e.message); }
  } else { release?.(); release = null; console.log('released'); }
}`;

class Racer {
  private readonly lines: string[] = [];
  private waiting: ((l: string) => void) | null = null;
  readonly child: ChildProcessWithoutNullStreams;
  constructor(module: string) {
    this.child = spawn(process.execPath, ['--input-type=module', '-e', RACER, module]);
    createInterface({ input: this.child.stdout }).on('line', (l) => { if (this.waiting) { this.waiting(l); this.waiting = null; } else this.lines.push(l); });
  }
  ask(line: string): Promise<string> {
    this.child.stdin.write(line + '\n');
    return this.lines.length ? Promise.resolve(this.lines.shift()!) : new Promise((ok) => { this.waiting = ok; });
  }
}

/** `trials` races of `n` processes for one folder whose lock is `stale`; returns the holders' count of each race. */
async function race(module: string, n: number, trials: number, stale: string): Promise<{ holders: number[]; refusals: string[] }> {
  const base = mkdtempSync(join(tmpdir(), 'clan-race-'));
  const racers = Array.from({ length: n }, () => new Racer(module));
  const holders: number[] = [], refusals: string[] = [];
  try {
    for (let t = 0; t < trials; t++) {
      const dir = join(base, String(t));
      mkdirSync(dir);
      writeFileSync(join(dir, '.lock'), stale);
      const at = Date.now() + 50;
      const answers = await Promise.all(racers.map((r) => r.ask(`go\t${dir}\t${at}`)));
      const held = answers.filter((a) => a.startsWith('held\t'));
      holders.push(held.length);
      const winner = held[0]?.split('\t')[1];
      refusals.push(...answers.filter((a) => !a.startsWith('held\t') && !new RegExp(`^refused\trun folder ${dir} is in use by pid ${winner} on `).test(a)));
      await Promise.all(racers.map((r) => r.ask('end')));
      assert.deepEqual(readdirSync(dir), [], 'released; no temp or takeover file left behind');
    }
  } finally {
    for (const r of racers) r.child.kill();
    rmSync(base, { recursive: true, force: true });
  }
  return { holders, refusals };
}

const RUNLOCK = new URL('./runlock.js', import.meta.url).href;

test('taking over a stale lock is atomic: 4 processes racing, 30 times each over a dead owner\'s lock and an empty one, end with exactly one holder', async () => {
  const dead = JSON.stringify({ pid: deadPid(), host: hostname(), started: 'then' });
  for (const stale of [dead, '']) {
    const { holders, refusals } = await race(RUNLOCK, 4, 30, stale);
    assert.deepEqual(holders, Array<number>(30).fill(1), `holders per race, stale lock ${JSON.stringify(stale)}`);
    assert.deepEqual(refusals, [], 'every loser is refused naming the winner');
  }
});

/** Field 22 of /proc/PID/stat: the process's start time in clock ticks since boot. */
const startTicks = (pid: number): number => { const s = readFileSync(`/proc/${pid}/stat`, 'utf8'); return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[19]); };

test('a lock naming a live pid that is another process now (pid reused, or before a reboot) is taken over; the same process is not', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-lock-'));
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)']);
  t.after(() => { other.kill(); rmSync(dir, { recursive: true, force: true }); });
  const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const lock = join(dir, '.lock');
  const ticks = startTicks(other.pid!);
  const notes: string[] = [];
  writeFileSync(lock, JSON.stringify({ pid: other.pid, host: hostname(), started: 'then', boot, ticks: ticks + 1 }));
  lockRunFolder(dir, (l) => notes.push(l))();
  writeFileSync(lock, JSON.stringify({ pid: other.pid, host: hostname(), started: 'then', boot: 'another-boot', ticks }));
  lockRunFolder(dir, (l) => notes.push(l))();
  assert.deepEqual(notes, [`note: ${dir}: taking over the lock of pid ${other.pid}, which is now another process (the pid was reused)`,
    `note: ${dir}: taking over the lock of pid ${other.pid}, from before a reboot`]);
  const inUse = (since: string) => `run folder ${dir} is in use by pid ${other.pid} on ${hostname()} (since ${since}); wait for it to end or choose another --out (if that process is gone, delete ${lock})`;
  writeFileSync(lock, JSON.stringify({ pid: other.pid, host: hostname(), started: 'then', boot, ticks }));
  assert.throws(() => lockRunFolder(dir, () => {}), (e: Error) => e instanceof ClanError && e.message === inUse('then'));
  writeFileSync(lock, JSON.stringify({ pid: other.pid, host: hostname(), started: 'old' })); // a lock of an older clan: no start time
  assert.throws(() => lockRunFolder(dir, () => {}), (e: Error) => e instanceof ClanError && e.message === inUse('old'));
  // A takeover whose process died inside it: refused, naming the file to delete (never taken over in turn).
  writeFileSync(lock, JSON.stringify({ pid: deadPid(), host: hostname(), started: 'then' }));
  writeFileSync(`${lock}.takeover`, JSON.stringify({ pid: deadPid(), host: hostname(), started: 'then' }));
  const deadPidInMutex = JSON.parse(readFileSync(`${lock}.takeover`, 'utf8')).pid as number;
  assert.throws(() => lockRunFolder(dir, () => {}), (e: Error) => e instanceof ClanError &&
    e.message === `run folder ${dir}: a takeover of its lock was interrupted (pid ${deadPidInMutex} on ${hostname()} is gone); delete ${lock}.takeover and try again`);
  rmSync(`${lock}.takeover`);
  lockRunFolder(dir, () => {})();
  assert.deepEqual(readdirSync(dir), []);
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
