import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunBoard, boardLine, parseProgressLine, terminalColumns, trainProgress } from './progress.js';

/** What `trainProgress` writes to a non-TTY stderr for one step. */
function progressLine(label: string, step: number, total: number, elapsed: number, from = 0): string {
  const orig = process.stderr.write.bind(process.stderr);
  const tty = process.stderr.isTTY;
  let out = '';
  process.stderr.isTTY = false;
  process.stderr.write = ((s: string) => { out += s; return true; }) as typeof process.stderr.write;
  try {
    trainProgress(label, 1)(step, total, { lrG: 1e-3, losses: { seg: 0.5, adv: 0.7, weight: 0.02, d_s: 0.69, d_t: 0.68 } }, elapsed, from);
  } finally {
    process.stderr.write = orig;
    process.stderr.isTTY = tty;
  }
  return out.trimEnd();
}

test('parseProgressLine reads back the label, step, total and ETA of a trainProgress line', () => {
  const line = progressLine('clan seed 2', 300, 1500, 60); // 0.2 s/step → 1200 steps left = 4 min
  assert.match(line, /^clan seed 2 \[#+\.+\] 300\/1500 ETA 4m00s lr 1\.00e-3 seg 0\.500 adv 0\.700 w 0\.020 D_s 0\.690 D_t 0\.680$/);
  assert.deepEqual(parseProgressLine(line), { label: 'clan seed 2', step: 300, total: 1500, eta: '4m00s' });
  assert.equal(parseProgressLine('done: 1500 steps in 357 s; target mIoU 19.48'), null);
  assert.equal(parseProgressLine('eval step 375: target mIoU 14.41'), null);
});

test('a resumed run\'s ETA counts only the steps done since it resumed', () => {
  // resumed at 1355: 25 steps in 37.5 s = 1.5 s/step, 120 left = 3 min (not 37.5 / 1380 s/step = 3 s)
  assert.match(progressLine('daformer', 1380, 1500, 37.5, 1355), / 1380\/1500 ETA 3m00s /);
});

test('boardLine lists runs done and each running run; cuts at the terminal width', () => {
  const running = [{ label: 'clan seed 0', step: 820, total: 1500, eta: '2m10s' }, { label: 'adversarial seed 0', step: 900, total: 1500, eta: '1m30s' }];
  assert.equal(boardLine(1, 3, running), 'demo 1/3 runs done · clan seed 0 820/1500 ETA 2m10s · adversarial seed 0 900/1500 ETA 1m30s');
  const cut = boardLine(1, 3, running, 30);
  assert.equal(cut.length, 30);
  assert.equal(cut, 'demo 1/3 runs done · clan see…'); // 29 characters + the ellipsis
});

test('RunBoard on a TTY redraws one status line and prints other child lines above it; off a TTY it passes lines through', () => {
  let out = '';
  const b = new RunBoard(2, true, (s) => { out += s; }, () => 200);
  b.start('clan seed 0', 1500);
  assert.equal(out, '\rdemo 0/2 runs done · clan seed 0 0/1500 ETA --\x1b[K');
  out = '';
  b.line('clan seed 0', progressLine('clan seed 0', 750, 1500, 150));
  assert.equal(out, '\rdemo 0/2 runs done · clan seed 0 750/1500 ETA 2m30s\x1b[K');
  out = '';
  b.line('clan seed 0', 'done: 1500 steps in 300 s');
  b.finish('clan seed 0');
  b.close();
  assert.equal(out, '\r\x1b[Kdone: 1500 steps in 300 s\n' + '\rdemo 0/2 runs done · clan seed 0 750/1500 ETA 2m30s\x1b[K' +
    '\rdemo 1/2 runs done\x1b[K' + '\n');

  let plain = '';
  const p = new RunBoard(2, false, (s) => { plain += s; });
  p.start('clan seed 0', 1500);
  const line = progressLine('clan seed 0', 50, 1500, 10);
  p.line('clan seed 0', line);
  p.finish('clan seed 0');
  p.close();
  assert.equal(plain, line + '\n');
});

test('a terminal that reports 0 columns (under `script`) gets 80, not a status line cut to "…"', () => {
  assert.deepEqual([terminalColumns(0), terminalColumns(undefined), terminalColumns(1), terminalColumns(120)], [80, 80, 80, 120]);
  const cols = Object.getOwnPropertyDescriptor(process.stderr, 'columns');
  Object.defineProperty(process.stderr, 'columns', { value: 0, configurable: true, writable: true });
  let out = '';
  try {
    const b = new RunBoard(3, true, (s) => { out += s; }); // the default width: read from process.stderr
    b.start('clan seed 0', 1500);
  } finally {
    if (cols) Object.defineProperty(process.stderr, 'columns', cols); else delete (process.stderr as { columns?: number }).columns;
  }
  assert.equal(out, '\rdemo 0/3 runs done · clan seed 0 0/1500 ETA --\x1b[K');
  const long = Array.from({ length: 6 }, (_, i) => ({ label: `clan seed ${i}`, step: 100, total: 1500, eta: '9m00s' }));
  assert.equal(boardLine(0, 6, long, terminalColumns(0) - 1).length, 79);
});
