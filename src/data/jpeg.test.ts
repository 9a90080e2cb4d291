import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { DataError } from '../util/errors.js';
import { decodeRgb, probeImage } from './image.js';
import { jpegDecodeBytes, jpegLayout } from './jpeg.js';
import { repoRoot } from './data.testing.js';

// The corpus and Pillow's decodes of it: tools/reference/make_jpeg_fixtures.py.
const DIR = join(repoRoot(), 'test', 'fixtures', 'jpeg');
interface Case { name: string; what: string; mode: string; size: [number, number]; sha256?: string; pillow?: string }
const MANIFEST = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as { cases: Case[] };
const jpg = (name: string): Uint8Array => readFileSync(join(DIR, `${name}.jpg`));
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Where we part from Pillow on purpose: the one-line refusal expected for each such case. */
const REFUSED: Record<string, RegExp> = {
  // Pillow opens it as mode CMYK and converts naively; the wasm build has no arithmetic decoder.
  cmyk: /^cmyk\.jpg: CMYK JPEG \(4 components\) is not supported: convert it to RGB$/,
  arithmetic_420: /^arithmetic_420\.jpg: arithmetic-coded JPEG \(SOF9\) is not supported \(the decoder has no arithmetic decoding; re-save it with Huffman coding\)$/,
  // Pillow: "image file is truncated (195 bytes not processed)".
  truncated: /^truncated\.jpg: JPEG is truncated \(no end-of-image marker after its last scan\)$/,
};

function refused(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof DataError && re.test(e.message) && !e.message.includes('\n'));
}

/** Rewrites the width and height of the first SOF (a forged header over real, small data). */
function withSize(bytes: Uint8Array, width: number, height: number): Uint8Array {
  const out = Uint8Array.from(bytes); // a copy with its own buffer (Buffer.slice would share a pooled one)
  let at = 2;
  while (!(out[at + 1]! >= 0xc0 && out[at + 1]! <= 0xc2)) at += 2 + ((out[at + 2]! << 8) | out[at + 3]!);
  new DataView(out.buffer).setUint16(at + 5, height);
  new DataView(out.buffer).setUint16(at + 7, width);
  return out;
}

test('every corpus JPEG decodes to exactly the bytes of Pillow\'s Image.open(f).convert(\'RGB\')', () => {
  assert.ok(MANIFEST.cases.length >= 20);
  for (const c of MANIFEST.cases) {
    if (REFUSED[c.name]) { refused(() => decodeRgb(jpg(c.name), `${c.name}.jpg`), REFUSED[c.name]!); continue; }
    assert.ok(c.sha256, `${c.name}: Pillow refused it (${c.pillow}) but we have no refusal for it`);
    const img = decodeRgb(jpg(c.name), `${c.name}.jpg`);
    const want = readFileSync(join(DIR, `${c.name}.rgb`));
    assert.deepEqual([c.name, img.width, img.height], [c.name, ...c.size]);
    const firstDiff = img.data.findIndex((v, i) => v !== want[i]);
    assert.equal(firstDiff, -1, `${c.name} (${c.what}): byte ${firstDiff} is ${img.data[firstDiff]}, Pillow's ${want[firstDiff]}`);
    assert.equal(sha(img.data), c.sha256, c.name);
  }
});

test('EXIF orientation is reported but not applied, as Image.open (stored 45x37, orientation 6)', () => {
  const img = decodeRgb(jpg('exif_orientation6'), 'o.jpg');
  assert.deepEqual([img.width, img.height], [45, 37]);
  assert.deepEqual(img.data, decodeRgb(jpg('baseline_420_q90'), 'b.jpg').data); // same pixels, one APP1 more
  const dir = mkdtempSync(join(tmpdir(), 'clan-jpeg-'));
  try {
    writeFileSync(join(dir, 'o.jpg'), jpg('exif_orientation6'));
    const h = probeImage(join(dir, 'o.jpg'));
    assert.deepEqual([h.width, h.height, h.orientation, h.colorType], [45, 37, 6, 'rgb']);
    writeFileSync(join(dir, 'cmyk.jpg'), jpg('cmyk'));
    refused(() => probeImage(join(dir, 'cmyk.jpg')), /cmyk\.jpg: cannot read image header: CMYK JPEG \(4 components\) is not supported/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('the marker walk: frame, scans with their entropy-coded bytes, restart markers inside a scan', () => {
  const base = jpegLayout(jpg('baseline_420_q90'));
  assert.deepEqual([base.frame.sof, base.frame.width, base.frame.height, base.eoi], [0xc0, 45, 37, true]);
  assert.deepEqual(base.frame.components.map((c) => [c.h, c.v]), [[2, 2], [1, 1], [1, 1]]);
  assert.deepEqual(base.scans.map((s) => [s.components, s.ss]), [[[0, 1, 2], 0]]);
  // jpegtran -restart 2B: the same coefficients with an RSTn (2 bytes) after every 2 of the 3x3 = 9 MCUs.
  const rst = jpegLayout(jpg('restart_420'));
  assert.equal(rst.scans.length, 1);
  const rsts = (b: Uint8Array): number => b.reduce((n, v, i) => n + (v === 0xff && b[i + 1]! >= 0xd0 && b[i + 1]! <= 0xd7 ? 1 : 0), 0);
  assert.equal(rsts(jpg('restart_420')), 4);
  const prog = jpegLayout(jpg('progressive_420'));
  assert.equal(prog.frame.sof, 0xc2);
  // libjpeg's progression (jpeg_simple_progression): 10 scans, of which the first DC pass and its refinement.
  assert.deepEqual(prog.scans.map((s) => s.ss === 0 ? s.components : s.components.length), [[0, 1, 2], 1, 1, 1, 1, 1, [0, 1, 2], 1, 1, 1]);
  assert.equal(jpegLayout(jpg('truncated')).eoi, false);
  // The least data there is (decoded exactly by the corpus test): 16x4 blocks at 2 bits, 8x2 MCUs of 6 blocks at 1 bit.
  assert.deepEqual(jpegLayout(jpg('flat_gray_optimized')).scans.map((s) => s.bytes), [16]);
  assert.deepEqual(jpegLayout(jpg('flat_progressive')).scans.filter((s) => s.ss === 0).map((s) => s.bytes), [12, 12]);
});

test('1.2 KB JPEGs declaring 12000² and 13376² (colour, grey, progressive) fail fast, naming file and size, in little memory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-jpeg-'));
  try {
    const bombs: [string, Uint8Array][] = [
      ['c12000.jpg', withSize(jpg('baseline_420_q90'), 12000, 12000)],
      ['g13376.jpg', withSize(jpg('gray_baseline'), 13376, 13376)],
      ['p12000.jpg', withSize(jpg('progressive_420'), 12000, 12000)],
    ];
    for (const [name, bytes] of bombs) {
      assert.ok(bytes.length < 2300, name);
      writeFileSync(join(dir, name), bytes);
    }
    // Scan 1 of the baseline colour one: 4:2:0 MCUs of 6 blocks, 750x750 of them, 2 bits each at least.
    refused(() => decodeRgb(bombs[0]![1], 'c12000.jpg'),
      /^c12000\.jpg: declares 12000x12000 pixels but its scan 1 holds \d+ bytes of image data where a JPEG of that size needs at least 843750; truncated or corrupt/);
    refused(() => decodeRgb(bombs[1]![1], 'g13376.jpg'), /^g13376\.jpg: declares 13376x13376 pixels but its scan 1 holds \d+ bytes .* at least 698896;/);
    refused(() => decodeRgb(bombs[2]![1], 'p12000.jpg'), /^p12000\.jpg: declares 12000x12000 pixels but its scan 1 holds \d+ bytes .* at least 421875;/);
    // Peak memory of a fresh process that decodes all three (jpeg-js spent 1.9-2.8 GB on each).
    const script = `import { decodeRgb, readBytes } from ${JSON.stringify(pathToFileURL(join(repoRoot(), 'dist/src/data/image.js')).href)};
      for (const f of ${JSON.stringify(bombs.map(([n]) => join(dir, n)))}) { try { decodeRgb(readBytes(f), f); } catch (e) { if (e.name !== 'DataError') throw e; } }
      console.log(process.resourceUsage().maxRSS);`;
    const maxRssKb = Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim());
    assert.ok(maxRssKb > 0 && maxRssKb < 200 * 1024, `peak RSS ${maxRssKb} KB`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a scan without data, a component without a DC scan, or no scan at all is refused before decoding', () => {
  const b = jpg('gray_progressive');
  const lay = jpegLayout(b);
  assert.deepEqual(lay.scans[0], { components: [0], ss: 0, bytes: lay.scans[0]!.bytes });
  // Cut after the DC scan's header and let EOI follow: no byte of DC data is left for 6x4 blocks (3 bytes needed).
  const sos = b.findIndex((v, i) => v === 0xff && b[i + 1] === 0xda);
  const cut = Buffer.concat([b.subarray(0, sos + 2 + ((b[sos + 2]! << 8) | b[sos + 3]!)), Buffer.from([0xff, 0xd9])]);
  refused(() => decodeRgb(cut, 'cut.jpg'), /^cut\.jpg: declares 41x29 pixels but its scan 1 holds 0 bytes of image data where a JPEG of that size needs at least 3;/);
  refused(() => decodeRgb(Buffer.concat([b.subarray(0, sos), Buffer.from([0xff, 0xd9])]), 'none.jpg'), /^none\.jpg: declares 41x29 pixels but has no scan \(SOS\)$/);
  // The one scan of a 4:4:4 baseline JPEG names Cb twice and Cr never.
  const c = jpg('baseline_444_q95');
  const at = c.findIndex((v, i) => v === 0xff && c[i + 1] === 0xda);
  assert.deepEqual([c[at + 4], c[at + 5], c[at + 7], c[at + 9]], [3, 1, 2, 3]); // Ns, then the component ids
  c[at + 9] = 2;
  refused(() => decodeRgb(c, 'nocr.jpg'), /^nocr\.jpg: declares 45x37 pixels but no scan codes component 3; truncated or corrupt$/);
});

test('decoder memory is estimated from the frame header: output, and coefficient buffers when progressive', () => {
  // 1914x1052 4:2:0: luma 240x132 blocks (239.25 and 131.5 rounded up to even), chroma 120x66 each.
  const f = { sof: 0xc2, precision: 8, width: 1914, height: 1052,
    components: [{ id: 1, h: 2, v: 2 }, { id: 2, h: 1, v: 1 }, { id: 3, h: 1, v: 1 }] };
  assert.equal(jpegDecodeBytes(f, 1000, true), 1000 + 3 * 1914 * 1052 + 128 * (240 * 132 + 2 * 120 * 66));
  assert.equal(jpegDecodeBytes(f, 1000, false), 1000 + 3 * 1914 * 1052);
});

test('CLAN_MAX_JPEG_MEMORY_MB and CLAN_MAX_JPEG_SCANS refuse with the number and the variable', () => {
  const set = (k: string, v: string | undefined): void => { if (v === undefined) delete process.env[k]; else process.env[k] = v; };
  const old = [process.env.CLAN_MAX_JPEG_MEMORY_MB, process.env.CLAN_MAX_JPEG_SCANS] as const;
  try {
    set('CLAN_MAX_JPEG_SCANS', '9');
    refused(() => decodeRgb(jpg('progressive_420'), 'p.jpg'), /^p\.jpg: has 10 scans, over the limit of 9 \(CLAN_MAX_JPEG_SCANS\); each scan costs a pass over the image$/);
    set('CLAN_MAX_JPEG_SCANS', '10');
    assert.equal(decodeRgb(jpg('progressive_420'), 'p.jpg').width, 45);
    // 8000x48 over the 11.5 KB of data of a 64x48 4:4:4 baseline (enough bits for its 18000 blocks; the rest is
    // grey): 11504 B of file + 1152000 B of RGB.
    const wide = withSize(jpg('baseline_444_q100'), 8000, 48);
    set('CLAN_MAX_JPEG_MEMORY_MB', '1');
    refused(() => decodeRgb(wide, 'w.jpg'), /^w\.jpg: decoding this 8000x48 JPEG needs 2 MB, over the limit of 1 \(CLAN_MAX_JPEG_MEMORY_MB\) MB$/);
    set('CLAN_MAX_JPEG_MEMORY_MB', '2');
    assert.deepEqual([decodeRgb(wide, 'w.jpg').width, decodeRgb(wide, 'w.jpg').height], [8000, 48]);
  } finally { set('CLAN_MAX_JPEG_MEMORY_MB', old[0]); set('CLAN_MAX_JPEG_SCANS', old[1]); }
});

test('after a libjpeg error (two frame headers) the decoder starts afresh and decodes the next file exactly', () => {
  const b = jpg('baseline_444_q95');
  let at = 2;
  while (b[at + 1] !== 0xc0) at += 2 + ((b[at + 2]! << 8) | b[at + 3]!);
  const sof = b.subarray(at, at + 2 + ((b[at + 2]! << 8) | b[at + 3]!));
  const two = Buffer.concat([b.subarray(0, at), sof, b.subarray(at)]);
  for (let i = 0; i < 3; i++) {
    refused(() => decodeRgb(two, 'two.jpg'), /^two\.jpg: cannot decode JPEG: corrupt data$/);
    assert.equal(sha(decodeRgb(b, 'b.jpg').data), MANIFEST.cases.find((c) => c.name === 'baseline_444_q95')!.sha256);
  }
});

test('decoding works the same in a worker thread (the data loader decodes there)', async () => {
  const code = `const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.url).then((m) => parentPort.postMessage(m.decodeRgb(workerData.bytes, 'w.jpg').data));`;
  const url = pathToFileURL(join(repoRoot(), 'dist/src/data/image.js')).href;
  const w = new Worker(code, { eval: true, workerData: { url, bytes: jpg('progressive_444') } });
  const data = await new Promise<Uint8Array>((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
  await w.terminate();
  assert.equal(sha(data), MANIFEST.cases.find((c) => c.name === 'progressive_444')!.sha256);
});
