// Dataset folders as users (or attackers) leave them: file names that are not UTF-8, symbolic links to folders
// (followed) and link cycles (refused), a FIFO named like an image, a split that leaves ROOT, and a pseudo.json
// that names itself or holds malformed fields. Each is one line naming the file (and field) and what is expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { DataError, UsageError } from '../util/errors.js';
import { DatasetProblemsError, parseDatasetSpec } from './dataset.js';
import { listFiles } from './files.js';
import { DATASETS, openDataset } from './registry.js';

function tmp(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'clan-hostile-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
function put(root: string, rel: string, bytes: Uint8Array | string): string {
  const p = join(root, rel);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, bytes);
  return p;
}
const rgbPng = (w: number, h: number): Uint8Array =>
  encodePng({ width: w, height: h, channels: 3, depth: 8, data: new Uint8Array(w * h * 3).fill(90) });
const grayPng = (w: number, h: number, v = 0): Uint8Array =>
  encodePng({ width: w, height: h, channels: 1, depth: 8, data: new Uint8Array(w * h).fill(v) });
function problems(fn: () => unknown): string[] {
  try { fn(); } catch (e) { if (e instanceof DatasetProblemsError) return [...e.problems]; throw e; }
  return assert.fail('expected a DatasetProblemsError');
}

test('a file or folder whose name is not UTF-8 is named in one line (bytes escaped), not reported missing', (t) => {
  const root = tmp(t);
  put(root, 'images/a.png', rgbPng(4, 4));
  put(root, 'labels/a.png', grayPng(4, 4));
  const latin1 = Buffer.from('caf\xe9.png', 'latin1'); // "café.png" in Latin-1: byte 0xe9 alone is not UTF-8
  writeFileSync(Buffer.concat([Buffer.from(join(root, 'images') + '/'), latin1]), rgbPng(4, 4));
  writeFileSync(Buffer.concat([Buffer.from(join(root, 'images') + '/'), Buffer.from('notes-\xff.txt', 'latin1')]), 'not an image: ignored');
  mkdirSync(Buffer.concat([Buffer.from(join(root, 'images') + '/'), Buffer.from('dir\xe9', 'latin1')]));
  put(root, 'images/ok-é.png', rgbPng(4, 4)); // valid UTF-8 names still work
  put(root, 'labels/ok-é.png', grayPng(4, 4));
  assert.deepEqual(problems(() => openDataset(`folder:${root}`)).sort(), [
    `${join(root, 'images', 'caf\\xe9.png')}: its name is not valid UTF-8, so it cannot be read; rename it`,
    `${join(root, 'images', 'dir\\xe9')}: its name is not valid UTF-8, so it cannot be read; rename it`,
  ]);
  assert.deepEqual(listFiles(join(root, 'images'), ['.png'], false), ['a.png', 'ok-é.png']);
});

test('a symbolic link to a folder is followed; a link cycle is refused in one line naming the link; a FIFO named .png is named', (t) => {
  const root = tmp(t);
  const elsewhere = tmp(t);
  put(elsewhere, 'city/b.png', rgbPng(4, 4));
  put(root, 'images/a.png', rgbPng(4, 4));
  symlinkSync(join(elsewhere, 'city'), join(root, 'images', 'linked'));
  put(root, 'labels/a.png', grayPng(4, 4));
  put(root, 'labels/linked/b.png', grayPng(4, 4, 1));
  const ds = openDataset(`folder:${root}`);
  assert.deepEqual([ds.length, ds.name(0), ds.name(1), ds.load(1).label!.data[0]], [2, 'a', 'linked/b', 1]);
  symlinkSync(join(root, 'images'), join(root, 'images', 'linked', 'loop')); // images/linked/loop → images
  assert.deepEqual(problems(() => openDataset(`folder:${root}`)),
    [`${join(root, 'images', 'linked', 'loop')}: leads to ${join(root, 'images')}, which is listed already (a symbolic-link cycle, or a second link into it); remove the link`]);
  rmSync(join(root, 'images', 'linked', 'loop'));
  execFileSync('mkfifo', [join(root, 'images', 'fifo.png')]);
  assert.deepEqual(problems(() => openDataset(`folder:${root}`)),
    [`${join(root, 'images', 'fifo.png')}: not a regular file (a FIFO, socket or device?); expected an image or label file`]);
});

test('a split that leaves the dataset folder (.. or .) is refused, parsed or built in code', (t) => {
  const root = tmp(t);
  put(root, 'inner/images/a.png', rgbPng(4, 4));
  put(root, 'inner/labels/a.png', grayPng(4, 4));
  assert.equal(openDataset(`folder:${root}:inner`).length, 1);
  for (const split of ['..', '.']) {
    const spec = `folder:${join(root, 'inner')}:${split}`;
    assert.throws(() => openDataset(spec), (e: Error) => e instanceof UsageError &&
      e.message === `dataset spec '${spec}' has split '${split}', which leaves the dataset's folders; expected a folder name inside ROOT (e.g. train, val)`);
  }
  assert.throws(() => openDataset('cityscapes:/data/cs:..'), /has split '\.\.', which leaves the dataset's folders/);
  const built = { type: 'folder', root: join(root, 'inner'), split: '..' }; // a spec made in code, not parsed
  assert.throws(() => DATASETS.get('folder').open(built, {}), /^UsageError: dataset spec 'folder:.*:\.\.' has split '\.\.', which leaves/);
  assert.throws(() => DATASETS.get('cityscapes').open({ ...built, type: 'cityscapes' }, {}), /has split '\.\.', which leaves/);
  assert.deepEqual(parseDatasetSpec('cityscapes:/d:...'), { type: 'cityscapes', root: '/d', split: '...' }, '... is an ordinary folder name');
});

test('pseudo.json: a file naming itself, another pseudo folder, or malformed fields → one DataError naming the file and field', (t) => {
  const root = tmp(t);
  put(root, 'target/images/a.png', rgbPng(4, 4));
  const dir = join(root, 'round1');
  const idx = join(dir, 'pseudo.json');
  const good = { target: `folder:${join(root, 'target')}`, size: [4, 2], length: 1, round: 1, variant: 'cotrain' };
  put(dir, 'labels/000000.png', grayPng(4, 4));
  const open = (index: unknown): unknown => { put(dir, 'pseudo.json', typeof index === 'string' ? index : JSON.stringify(index)); return openDataset(`pseudo:${dir}`); };
  assert.equal((open(good) as { length: number }).length, 1);
  const cases: [unknown, string][] = [
    [{ ...good, target: `pseudo:${dir}` }, `field 'target' is ${JSON.stringify(`pseudo:${dir}`)}; expected the dataset the labels were made for, not a pseudo-label folder`],
    [{ ...good, target: 7 }, "field 'target' is 7; expected the target dataset spec, e.g. cityscapes:/data/Cityscapes:train"],
    [{ ...good, size: undefined }, "field 'size' is missing; expected [W, H]: two integers from 1 to 65535"],
    [{ ...good, size: [4, 'x'] }, "field 'size' is [4,\"x\"]; expected [W, H]: two integers from 1 to 65535"],
    [{ ...good, length: -1 }, "field 'length' is -1; expected the number of samples, a positive integer"],
    [{ ...good, round: 1.5 }, "field 'round' is 1.5; expected a non-negative integer"],
    [{ ...good, variant: 'x' }, "field 'variant' is \"x\"; expected 'cotrain' or 'plain'"],
    [[1, 2], 'expected a JSON object with target, size, length, round, variant, got a list'],
    ['"text"', 'expected a JSON object with target, size, length, round, variant, got "text"'],
  ];
  for (const [index, message] of cases) {
    assert.throws(() => open(index), (e: Error) => e instanceof DataError && e.message === `${idx}: ${message}`, message);
  }
  // Two folders naming each other: the first refusal ends it (no recursion).
  const other = join(root, 'round2');
  put(other, 'pseudo.json', JSON.stringify({ ...good, target: `pseudo:${dir}` }));
  put(dir, 'pseudo.json', JSON.stringify({ ...good, target: `pseudo:${other}` }));
  assert.throws(() => openDataset(`pseudo:${dir}`), (e: Error) => e instanceof DataError && e.message.startsWith(`${idx}: field 'target' is`));
});
