// `clan train` writes RUN/report.html; `clan report` rebuilds it and compares runs; --resume with a larger --iters
// keeps the run's lr schedule unless hyper.maxIter is set.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { decode } from 'fast-png';
import { readTfEvents, type TfEvent } from '../report/tfevents.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';

const CLAN = join(packageRoot(), 'bin', 'clan.js');
const tmp = mkdtempSync(join(tmpdir(), 'clan-train-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const TINY = ['--preset', 'cpu', '--backbone', 'micro', '--threads', '1', '--set', 'hyper.adversarial.ndf=8', '--set', 'targetVal.limit=4', '--set', 'logEvery=1'];

function clan(args: string[]) {
  const r = spawnSync(process.execPath, [CLAN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The events files of a run folder, oldest first. */
const events = (dir: string): TfEvent[][] => readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.')).sort().map((f) => readTfEvents(join(dir, f)));

const lrs = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l) as { step: number; lr?: number; eval?: unknown }).filter((r) => r.eval === undefined)
  .map((r) => [r.step, r.lr!] as const);
/** lrAt of src/methods/schedule.ts for Adam lr 1e-3 (the cpu preset), poly 0.9, no warm-up at these lengths. */
const poly = (i: number, maxIter: number) => 1e-3 * Math.max(0, 1 - i / maxIter) ** 0.9;

test('--resume with a larger --iters keeps the original schedule; --set hyper.maxIter stretches it', () => {
  for (const [name, extra] of [['kept', []], ['stretched', ['--set', 'hyper.maxIter=9']]] as const) {
    const out = join(tmp, name);
    assert.equal(clan(['train', ...TINY, '--iters', '6', '--set', 'checkpointEvery=6', '--out', out]).code, 0);
    const r = clan(['train', '--resume', out, '--iters', '9', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    const rows = lrs(out);
    assert.deepEqual(rows.map(([s]) => s), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const [step, lr] of rows.slice(0, 6)) assert.ok(Math.abs(lr - poly(step - 1, 6)) < 1e-12, `step ${step}: ${lr}`);
    const horizon = name === 'kept' ? 6 : 9;
    for (const [step, lr] of rows.slice(6)) assert.ok(Math.abs(lr - poly(step - 1, horizon)) < 1e-12, `${name} step ${step}: ${lr} vs ${poly(step - 1, horizon)}`);
    if (name === 'kept') assert.match(r.stderr, /note: --iters 9 keeps the run's schedule \(hyper\.maxIter=6, hyper\.warmup=0, hyper\.clan\.preheat=0\); --set hyper\.maxIter=N to stretch it; steps after 6 train with lr 0 unless you do/);
    else assert.match(r.stderr, /keeps the run's schedule \(hyper\.warmup=0, hyper\.clan\.preheat=0\)/);
    assert.match(readFileSync(join(out, 'config.yaml'), 'utf8'), new RegExp(`maxIter: ${horizon}`)); // pinned for the next resume too
    // TensorBoard: the resumed process opened a second events file that starts by purging steps ≥ 7.
    const files = events(out);
    assert.equal(files.length, 2);
    assert.deepEqual(files[1]!.filter((e) => e.fileVersion === undefined)[0]!.sessionStart, true);
    assert.equal(files[1]!.find((e) => e.sessionStart)!.step, 7);
  }
});

test('clan train writes report.html; clan report rebuilds it and compares runs (seeds of one config → mean ± std)', () => {
  const runs = [['clan', 0], ['clan', 1], ['source-only', 0]] as const;
  for (const [m, s] of runs) {
    const tiny = m === 'source-only' ? TINY.filter((a, i) => a !== 'hyper.adversarial.ndf=8' && TINY[i + 1] !== 'hyper.adversarial.ndf=8') : TINY; // it has no D
    const r = clan(['train', ...tiny, '--method', m, '--seed', String(s), '--iters', '4', '--set', 'checkpointEvery=2', '--out', join(tmp, `${m}-${s}`)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`report: .*${m}-${s}/report\\.html`));
  }
  const one = readFileSync(join(tmp, 'clan-0', 'report.html'), 'utf8');
  assert.match(one, /<h1>CLAN — clan-0<\/h1>/);
  assert.equal([...one.matchAll(/<img\b/g)].length, 4 * 4); // 4 samples × (image, ground truth, CLAN, M)
  assert.match(one, /id="confusion"/);
  const metrics = readFileSync(join(tmp, 'clan-0', 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { eval?: { miou: number } });
  const finalMiou = metrics.filter((r) => r.eval).pop()!.eval!.miou;
  assert.ok(one.includes(`>${(100 * finalMiou).toFixed(2)}</td>`), 'the summary shows the final evaluation');

  // TensorBoard: every logged loss and lr as float32 scalars, val/mIoU and per-class IoU, 3 sample strips per evaluation.
  const [ev] = events(join(tmp, 'clan-0'));
  const rows = readFileSync(join(tmp, 'clan-0', 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, number> & { eval?: { miou: number; iou: (number | null)[] } });
  const scalar = (tag: string) => ev!.flatMap((e) => e.values.filter((v) => v.tag === tag).map((v) => [e.step, v.simpleValue!] as const));
  for (const k of ['seg', 'adv', 'weight', 'd_s', 'd_t']) {
    assert.deepEqual(scalar(`loss/${k}`), rows.filter((r) => !r.eval).map((r) => [r.step, Math.fround(r[k]!)]), k);
  }
  assert.deepEqual(scalar('lr/G'), rows.filter((r) => !r.eval).map((r) => [r.step, Math.fround(r.lr!)]));
  assert.deepEqual(scalar('val/mIoU'), rows.filter((r) => r.eval).map((r) => [r.step, Math.fround(r.eval!.miou)]));
  const lastEval = rows.filter((r) => r.eval).pop()!.eval!;
  assert.equal(scalar('val/IoU/background').pop()![1], Math.fround(lastEval.iou[0]!));
  const images = ev!.flatMap((e) => e.values.filter((v) => v.image).map((v) => ({ step: e.step, tag: v.tag, ...v.image! })));
  assert.deepEqual(images.map((i) => `${i.step}:${i.tag}`), [2, 4].flatMap((st) => [0, 1, 2].map((k) => `${st}:val/sample_${k}`)));
  const png = decode(images[0]!.png);
  assert.deepEqual([png.width, png.height, images[0]!.width, images[0]!.height], [192, 64, 192, 64]); // image | ground truth | prediction

  const cmp = join(tmp, 'cmp.html');
  const r = clan(['report', join(tmp, 'source-only-0'), join(tmp, 'clan-0'), join(tmp, 'clan-1'), '--out', cmp, '--samples', '2']);
  assert.equal(r.code, 0, r.stderr);
  const seedMious = [0, 1].map((s) => readFileSync(join(tmp, `clan-${s}`, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { eval?: { miou: number } }).filter((x) => x.eval).pop()!.eval!.miou);
  const mean = (seedMious[0]! + seedMious[1]!) / 2;
  const std = Math.abs(seedMious[0]! - seedMious[1]!) / Math.SQRT2;
  assert.match(r.stdout, new RegExp(`CLAN +target mIoU ${(mean * 100).toFixed(2)} ± ${(std * 100).toFixed(2)} \\(2 seeds\\)`));
  const html = readFileSync(cmp, 'utf8');
  assert.match(html, /<h1>2 methods compared \(3 runs\)<\/h1>/);
  assert.match(html, /<th>ground truth<\/th><th>Source only<\/th><th>CLAN<\/th><th>M = /);
  assert.equal([...html.matchAll(/<img\b/g)].length, 2 * 5);
  assert.ok(existsSync(join(tmp, 'clan-0', 'report.html')));
  const bad = clan(['report', join(tmp, 'nope')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^clan: .*nope is not a run folder \(expected config\.yaml and metrics\.jsonl\)\n$/);
});

test('a short training prints only its own lines on stderr, on every libtorch build (no NNPACK or c10d chatter)', () => {
  const env = { ...process.env };
  delete env.GLOG_minloglevel; delete env.TORCH_CPP_LOG_LEVEL; // the launcher's defaults, as a user has them
  const out = join(tmp, 'quiet');
  const r = spawnSync(process.execPath, [CLAN, 'train', ...TINY, '--iters', '3', '--batch-size', '2', '--out', out], { cwd: tmp, encoding: 'utf8', env, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.split(/[\r\n]+/).filter((l) => l.trim());
  // progress (one line per logEvery step when stderr is not a terminal), the report and the result: nothing else
  for (const l of lines) assert.match(l, /^(clan \[|report: |done: )/, `unexpected stderr line: ${l}`);
  assert.ok(lines.length <= 5, `${lines.length} stderr lines:\n${r.stderr}`);
});
