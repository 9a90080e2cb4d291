// Readers on the real fixtures (exact trainId histograms at native resolution) and on small temp folders
// built here with fast-png, one per validation error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { decode as decodePngRaw, encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { DataError, UsageError } from '../util/errors.js';
import { DatasetProblemsError, parseDatasetSpec, type OpenOptions } from './dataset.js';
import { CITYSCAPES_PALETTE, CITYSCAPES_TRAIN_LABEL_IDS, histogram } from './labels.js';
import { openDataset } from './registry.js';
import { sharedFixtures } from './data.testing.js';

function expected(dir: string, key: string): Record<string, number> {
  return (JSON.parse(readFileSync(join(dir, 'expected_trainid_histograms.json'), 'utf8')) as Record<string, Record<string, number>>)[key]!;
}
const asStrKeys = (h: Record<number, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(h).map(([k, v]) => [String(k), v]));

test('gta5 fixture: palette INDEX → trainIds, exact histogram', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const ds = openDataset(`gta5:${join(dir, 'gta5')}`);
  assert.equal(ds.length, 1);
  const s = ds.load(0);
  assert.equal(s.name, '00001');
  assert.deepEqual([s.image.width, s.image.height, s.label!.width, s.label!.height], [1914, 1052, 1914, 1052]);
  assert.deepEqual(asStrKeys(histogram(s.label!.data)), expected(dir, 'gta5_00001_trainIds'));
});

test('gta5 fixture: its colour table is the Cityscapes palette indexed by labelId', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const png = decodePngRaw(readFileSync(join(dir, 'gta5/labels/00001.png')));
  CITYSCAPES_TRAIN_LABEL_IDS.forEach((id, trainId) => assert.deepEqual(png.palette![id]!.slice(0, 3), [...CITYSCAPES_PALETTE[trainId]!]));
});

test('synthia fixture: 16-bit channel 0 → trainIds, exact histogram', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const s = openDataset(`synthia:${join(dir, 'synthia')}`).load(0);
  assert.deepEqual([s.label!.width, s.label!.height], [1280, 760]);
  assert.deepEqual(asStrKeys(histogram(s.label!.data)), expected(dir, 'synthia_0000000_trainIds'));
});

test('cityscapes fixture: labelIds mapped, and labelTrainIds file, exact histograms', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const ds = openDataset(`cityscapes:${join(dir, 'cityscapes')}:val`);
  assert.equal(ds.name(0), 'frankfurt/frankfurt_000000_000294');
  assert.deepEqual(asStrKeys(histogram(ds.load(0).label!.data)), expected(dir, 'cityscapes_labelTrainIds_from_labelIds'));
  const dt = openDataset(`cityscapes:${join(dir, 'cityscapes')}:val`, { cityscapesLabels: 'labelTrainIds' });
  assert.deepEqual(asStrKeys(histogram(dt.load(0).label!.data)), expected(dir, 'cityscapes_labelTrainIds_file'));
});

test('Cityscapes palette covers every colour of the colour-coded fixture label (black = ignore)', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const png = decodePngRaw(readFileSync(join(dir, 'cityscapes-color/label_color.png')));
  const known = new Set([...CITYSCAPES_PALETTE, [0, 0, 0]].map((c) => c.join(',')));
  const seen = new Set<string>();
  const d = png.data, c = png.channels;
  for (let i = 0; i < png.width * png.height; i++) seen.add(`${d[i * c]},${d[i * c + 1]},${d[i * c + 2]}`);
  assert.deepEqual([...seen].filter((s) => !known.has(s)), []);
  assert.ok(seen.size >= 8);
});

test('parseDatasetSpec: TYPE:ROOT[:SPLIT] and clear errors', () => {
  assert.deepEqual(parseDatasetSpec('gta5:/d/GTA5'), { type: 'gta5', root: '/d/GTA5' });
  assert.deepEqual(parseDatasetSpec('cityscapes:/d/cs:val'), { type: 'cityscapes', root: '/d/cs', split: 'val' });
  assert.deepEqual(parseDatasetSpec('folder:/a:b/c:train'), { type: 'folder', root: '/a:b/c', split: 'train' });
  assert.throws(() => parseDatasetSpec('gta5'), (e: unknown) => e instanceof UsageError && /TYPE:ROOT\[:SPLIT\]/.test(e.message));
  assert.throws(() => parseDatasetSpec(':/x'), /empty TYPE/);
  assert.throws(() => parseDatasetSpec('gta5:'), /empty ROOT/);
  assert.throws(() => parseDatasetSpec('gta5:/x:a/b'), /split 'a\/b'/);
  assert.throws(() => openDataset('gtav:/x'), (e: unknown) => e instanceof UsageError && /did you mean 'gta5'/.test(e.message));
});

// ---- temp folders ----------------------------------------------------------------------------------------

function tmp(t: { after: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'clan-data-'));
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
const palettePng = (w: number, h: number, v = 7): Uint8Array =>
  encodePng({ width: w, height: h, channels: 1, depth: 8, data: new Uint8Array(w * h).fill(v),
    palette: Array.from({ length: 34 }, (_, i) => [i, i, i]) });

function problemsOf(fn: () => unknown): DatasetProblemsError {
  try { fn(); } catch (e) { if (e instanceof DatasetProblemsError) return e; throw e; }
  assert.fail('expected a DatasetProblemsError');
}

test('gta5: every problem collected in one DataError naming each file', (t) => {
  const root = tmp(t);
  put(root, 'images/00001.png', rgbPng(8, 6)); put(root, 'labels/00001.png', palettePng(8, 6)); // good
  put(root, 'images/00002.png', rgbPng(8, 6));                                                  // no label
  put(root, 'images/00003.png', rgbPng(8, 6)); put(root, 'labels/00003.png', rgbPng(8, 6));      // RGB label
  put(root, 'images/00004.png', new TextEncoder().encode('not an image'));                      // unreadable
  put(root, 'labels/00004.png', palettePng(8, 6));
  const full = rgbPng(8, 6);
  put(root, 'images/00005.png', full.subarray(0, full.length - 20)); put(root, 'labels/00005.png', palettePng(8, 6)); // truncated
  const e = problemsOf(() => openDataset(`gta5:${root}`));
  assert.ok(e instanceof DataError);
  const lines = e.message.split('\n');
  assert.match(lines[0]!, /^dataset gta5:.*: 4 problems found when opening/);
  assert.match(e.message, /images\/00002\.png: has no label file \(expected .*labels\/00002\.png\)/);
  assert.match(e.message, /labels\/00003\.png: is an RGB PNG; labels must be single-channel/);
  assert.match(e.message, /images\/00004\.png: cannot read image header: not a PNG or JPEG file/);
  assert.match(e.message, /images\/00005\.png: .*truncated/);
  assert.equal(e.problems.length, 4);
});

test('gta5: skipBad logs and skips; size mismatch resizes later and warns once', (t) => {
  const root = tmp(t);
  put(root, 'images/00001.png', rgbPng(8, 6)); put(root, 'labels/00001.png', palettePng(4, 3));
  put(root, 'images/00002.png', rgbPng(8, 6)); put(root, 'labels/00002.png', palettePng(5, 3));
  put(root, 'images/00003.png', rgbPng(8, 6));
  const warnings: string[] = [];
  const ds = openDataset(`gta5:${root}`, { skipBad: true, warn: (m) => warnings.push(m) });
  assert.deepEqual([ds.length, ds.name(0), ds.name(1)], [2, '00001', '00002']);
  assert.equal(warnings.filter((w) => /differ in size/.test(w)).length, 1);
  assert.match(warnings.find((w) => /differ in size/.test(w))!, /2 label file\(s\).*labels\/00001\.png: label is 4x3 but its image images\/00001\.png is 8x6/);
  assert.ok(warnings.some((w) => /skipping: .*images\/00003\.png: has no label file/.test(w)));
  assert.deepEqual([ds.load(0).label!.width, ds.load(0).label!.data[0]], [4, 0]); // labelId 7 → trainId 0
});

test('gta5/cityscapes: missing folders are reported', (t) => {
  const root = tmp(t);
  put(root, 'images/00001.png', rgbPng(4, 4));
  assert.match(problemsOf(() => openDataset(`gta5:${root}`)).message, /labels: label folder not found/);
  assert.equal(openDataset(`gta5:${root}`, { labels: 'none' }).hasLabels, false);
  assert.match(problemsOf(() => openDataset(`cityscapes:${root}:val`)).message, /leftImg8bit\/val: image folder not found/);
  assert.match(problemsOf(() => openDataset(`gta5:${join(root, 'nope')}`)).message, /nope: dataset root folder not found/);
  assert.throws(() => openDataset(`gta5:${root}:val`), /only split 'train'/);
});

test('synthia: palette label rejected, 16-bit RGB label read from channel 0', (t) => {
  const root = tmp(t);
  const lab = new Uint16Array(4 * 2 * 3);
  for (let i = 0; i < 8; i++) { lab[3 * i] = [3, 21, 11, 300, 0, 1, 8, 2][i]!; lab[3 * i + 1] = 1000 + i; }
  put(root, 'RGB/0000000.png', rgbPng(4, 2)); put(root, 'GT/LABELS/0000000.png', encodePng({ width: 4, height: 2, channels: 3, depth: 16, data: lab }));
  assert.deepEqual([...openDataset(`synthia:${root}`).load(0).label!.data], [0, 3, 18, 255, 255, 10, 13, 2]);
  put(root, 'RGB/0000001.png', rgbPng(4, 2)); put(root, 'GT/LABELS/0000001.png', palettePng(4, 2));
  assert.match(problemsOf(() => openDataset(`synthia:${root}`)).message, /GT\/LABELS\/0000001\.png: is a palette PNG/);
});

test('folder: size mismatch is an error naming the label file', (t) => {
  const root = tmp(t);
  put(root, 'images/a.png', rgbPng(8, 6)); put(root, 'labels/a.png', grayPng(8, 5));
  assert.match(problemsOf(() => openDataset(`folder:${root}`)).message, /labels\/a\.png: label is 8x5 but its image images\/a\.png is 8x6/);
});

test('folder: RGB label files rejected with a message', (t) => {
  const root = tmp(t);
  put(root, 'images/a.png', rgbPng(4, 4)); put(root, 'labels/a.png', rgbPng(4, 4));
  assert.match(problemsOf(() => openDataset(`folder:${root}`)).message, /labels\/a\.png: is an RGB PNG.*convert colour-coded labels to indices/);
});

test('folder: classes.txt wins over numClasses, a conflict is an error; palette.json checked', (t) => {
  const root = tmp(t);
  put(root, 'images/a.png', rgbPng(4, 4)); put(root, 'labels/a.png', grayPng(4, 4, 2));
  put(root, 'classes.txt', 'bg\nroad\ncar\n');
  const ds = openDataset(`folder:${root}`);
  assert.deepEqual([ds.numClasses, ds.classNames], [3, ['bg', 'road', 'car']]);
  assert.match(problemsOf(() => openDataset(`folder:${root}`, { numClasses: 5 })).message, /classes\.txt: lists 3 classes but numClasses is 5/);
  put(root, 'palette.json', '[[0,0,0],[1,2,3]]');
  assert.match(problemsOf(() => openDataset(`folder:${root}`)).message, /palette\.json: has 2 colours for 3 classes/);
  put(root, 'palette.json', '[[0,0,0],[1,2,3],[9,9,9]]');
  assert.deepEqual(openDataset(`folder:${root}`).palette![2], [9, 9, 9]);
});

test('folder: out-of-range class index fails at load naming the file and pixel', (t) => {
  const root = tmp(t);
  put(root, 'images/a.png', rgbPng(4, 4));
  const lab = new Uint8Array(16).fill(255); lab[6] = 19;
  put(root, 'labels/a.png', encodePng({ width: 4, height: 4, channels: 1, depth: 8, data: lab }));
  const ds = openDataset(`folder:${root}`);
  assert.throws(() => ds.load(0), (e: unknown) => e instanceof DataError && /labels\/a\.png: class index 19 at pixel \(x=2, y=1\)/.test(e.message));
});

test('folder: JPEG + gray + RGBA images, palette labels, split subfolder, unlabelled target side', (t) => {
  const root = tmp(t);
  const j = jpeg.encode({ width: 8, height: 4, data: new Uint8Array(8 * 4 * 4).fill(200) }, 95).data;
  put(root, 'train/images/a.jpg', j);
  put(root, 'train/images/b.png', encodePng({ width: 8, height: 4, channels: 1, depth: 8, data: new Uint8Array(32).fill(17) }));
  put(root, 'train/images/c.png', encodePng({ width: 8, height: 4, channels: 4, depth: 8, data: new Uint8Array(128).fill(50) }));
  for (const n of ['a', 'b', 'c']) put(root, `train/labels/${n}.png`, palettePng(8, 4, 3));
  const opts: OpenOptions = {};
  const ds = openDataset(`folder:${root}:train`, opts);
  assert.equal(ds.length, 3);
  const a = ds.load(0), b = ds.load(1), c = ds.load(2);
  assert.ok(Math.abs(a.image.data[0]! - 200) <= 2);
  assert.deepEqual([...b.image.data.subarray(0, 3), ...c.image.data.subarray(0, 3)], [17, 17, 17, 50, 50, 50]);
  assert.equal(a.label!.data[0], 3); // palette INDEX, not colour
  rmSync(join(root, 'train/labels'), { recursive: true });
  assert.equal(openDataset(`folder:${root}:train`, { labels: 'optional' }).hasLabels, false);
});

test('folder: two images with one stem are both reported', (t) => {
  const root = tmp(t);
  put(root, 'images/a.png', rgbPng(4, 4));
  put(root, 'images/a.jpg', jpeg.encode({ width: 4, height: 4, data: new Uint8Array(64) }, 90).data);
  put(root, 'labels/a.png', grayPng(4, 4));
  const e = problemsOf(() => openDataset(`folder:${root}`));
  assert.match(e.message, /images\/a\.jpg: shares its stem with images\/a\.png/);
  assert.match(e.message, /images\/a\.png: shares its stem with images\/a\.jpg/);
});

test('folder: its default size is the images\' own (the most common [W, H]); mixed sizes say how many are resized', (t) => {
  const root = tmp(t);
  for (const [n, w, h] of [['a', 96, 64], ['b', 96, 64], ['c', 48, 32]] as const) {
    put(root, `images/${n}.png`, rgbPng(w, h));
    put(root, `labels/${n}.png`, grayPng(w, h));
  }
  const warned: string[] = [];
  const ds = openDataset(`folder:${root}`, { warn: (m) => warned.push(m) });
  assert.deepEqual(ds.defaultSize, [96, 64]);
  assert.deepEqual(warned, [`dataset folder:${root}: images come in 2 sizes; 1 of 3 are resized to the most common, 96x64 (set the section's size to choose)`]);
  rmSync(join(root, 'images', 'c.png')); rmSync(join(root, 'labels', 'c.png'));
  warned.length = 0;
  assert.deepEqual(openDataset(`folder:${root}`, { warn: (m) => warned.push(m) }).defaultSize, [96, 64]);
  assert.deepEqual(warned, [], 'one size: nothing to say');
});
