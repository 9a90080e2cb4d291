import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { DataError } from '../util/errors.js';
import { decodePlane, decodeRgb, probeBytes, probeImage } from './image.js';
import { sharedFixtures } from './testing.js';

const PAL = [[10, 20, 30], [40, 50, 60], [70, 80, 90], [100, 110, 120]];

test('palette PNG: plane keeps the INDEX, RGB expands the colours', () => {
  const png = encodePng({ width: 3, height: 1, channels: 1, depth: 8, data: new Uint8Array([2, 0, 3]), palette: PAL });
  assert.deepEqual([...decodePlane(png, 'p.png').data], [2, 0, 3]);
  assert.equal(decodePlane(png, 'p.png').colorType, 'palette');
  assert.deepEqual([...decodeRgb(png, 'p.png').data], [70, 80, 90, 10, 20, 30, 100, 110, 120]);
});

test('sub-byte depths: 2-bit palette and 1-bit gray with odd widths (rows padded to bytes)', () => {
  // width 5 at 2 bits: row = 10 bits → 2 bytes. Indices 3,1,0,2,1 / 0,0,1,3,3.
  const pack2 = (v: number[]) => [((v[0]! << 6) | (v[1]! << 4) | (v[2]! << 2) | v[3]!), v[4]! << 6];
  const p2 = encodePng({ width: 5, height: 2, channels: 1, depth: 2, data: new Uint8Array([...pack2([3, 1, 0, 2, 1]), ...pack2([0, 0, 1, 3, 3])]), palette: PAL });
  assert.deepEqual([...decodePlane(p2, 'p2.png').data], [3, 1, 0, 2, 1, 0, 0, 1, 3, 3]);
  assert.deepEqual([...decodeRgb(p2, 'p2.png').data.subarray(0, 6)], [100, 110, 120, 40, 50, 60]);
  // 1-bit gray, width 3: 0b101_00000 and 0b011_00000. PIL stretches 1-bit gray to 0/255.
  const g1 = encodePng({ width: 3, height: 2, channels: 1, depth: 1, data: new Uint8Array([0b10100000, 0b01100000]) });
  assert.deepEqual([...decodePlane(g1, 'g1.png').data], [1, 0, 1, 0, 1, 1]);
  assert.deepEqual([...decodeRgb(g1, 'g1.png').data.filter((_, i) => i % 3 === 0)], [255, 0, 255, 0, 255, 255]);
});

test('16-bit: plane keeps 16 bits (channel choice), RGB keeps the high byte; RGBA drops alpha', () => {
  const d = new Uint16Array([0x1234, 7, 9, 0xff00, 8, 10]);
  const png = encodePng({ width: 2, height: 1, channels: 3, depth: 16, data: d });
  const p = decodePlane(png, 'x.png', 1);
  assert.ok(p.data instanceof Uint16Array);
  assert.deepEqual([...p.data, ...decodePlane(png, 'x.png', 0).data], [7, 8, 0x1234, 0xff00]);
  assert.deepEqual([...decodeRgb(png, 'x.png').data], [0x12, 0, 0, 0xff, 0, 0]);
  assert.throws(() => decodePlane(png, 'x.png', 3), /x\.png: has 3 channel\(s\); channel 3/);
  const rgba = encodePng({ width: 1, height: 1, channels: 4, depth: 8, data: new Uint8Array([1, 2, 3, 0]) });
  assert.deepEqual([...decodeRgb(rgba, 'a.png').data], [1, 2, 3]);
});

test('probe: PNG header, truncated PNG, garbage, missing file → DataError naming the file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-img-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const png = encodePng({ width: 7, height: 5, channels: 1, depth: 16, data: new Uint16Array(35) });
  assert.deepEqual(probeBytes(png), { format: 'png', width: 7, height: 5, colorType: 'gray', channels: 1, bitDepth: 16, orientation: 1 });
  writeFileSync(join(dir, 'cut.png'), png.subarray(0, png.length - 5));
  writeFileSync(join(dir, 'junk.png'), 'hello');
  assert.throws(() => probeImage(join(dir, 'cut.png')), (e: unknown) => e instanceof DataError && /cut\.png: cannot read image header: PNG is truncated/.test(e.message));
  assert.throws(() => probeImage(join(dir, 'junk.png')), /junk\.png: cannot read image header: not a PNG or JPEG/);
  assert.throws(() => probeImage(join(dir, 'none.png')), /none\.png: cannot read image header: file not found/);
  assert.throws(() => decodeRgb(new Uint8Array([0x89, 0x50]), 'tiny.png'), /tiny\.png/);
});

/** 32x48 JPEG of 2x3 cells of 16 px in six colours, with an EXIF APP1 holding `orientation`. */
const COLORS = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0], [0, 255, 255], [255, 0, 255]];
function cellsJpeg(orientation: number): Uint8Array {
  const W = 32, H = 48, data = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    const c = COLORS[Math.floor(y / 16) * 2 + Math.floor(x / 16)]!;
    data.set([...c, 255], 4 * (y * W + x));
  }
  const j = new Uint8Array(jpeg.encode({ width: W, height: H, data }, 95).data);
  const tiff = [0x49, 0x49, 0x2a, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, orientation, 0, 0, 0, 0, 0, 0, 0];
  const payload = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const app1 = [0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 255, ...payload];
  return new Uint8Array([...j.subarray(0, 2), ...app1, ...j.subarray(2)]);
}
function colorAt(img: { width: number; data: Uint8Array }, u: number, v: number): number {
  const i = 3 * (v * img.width + u);
  const px = [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
  const k = COLORS.findIndex((c) => c.every((x, j) => Math.abs(x - px[j]!) < 40));
  assert.ok(k >= 0, `unexpected colour ${px}`);
  return k;
}

test('JPEG EXIF orientation is honoured (decode and header probe)', () => {
  // [orientation, width, height, cell colour at output top-left, at output top-right]
  const cases: [number, number, number, number, number][] = [
    [1, 32, 48, 0, 1], [2, 32, 48, 1, 0], [3, 32, 48, 5, 4], [4, 32, 48, 4, 5],
    [5, 48, 32, 0, 4], [6, 48, 32, 4, 0], [7, 48, 32, 5, 1], [8, 48, 32, 1, 5],
  ];
  for (const [o, w, h, tl, tr] of cases) {
    const bytes = cellsJpeg(o);
    const img = decodeRgb(bytes, `o${o}.jpg`);
    assert.deepEqual([o, img.width, img.height], [o, w, h]);
    assert.deepEqual([o, colorAt(img, 8, 8), colorAt(img, w - 8, 8)], [o, tl, tr]);
    const hd = probeBytes(bytes);
    assert.deepEqual([hd.format, hd.width, hd.height, hd.orientation, hd.channels], ['jpeg', w, h, o, 3]);
  }
});

test('fixture 16-bit instanceIds keep ids above 255', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const f = join(dir, 'cityscapes/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_instanceIds.png');
  const p = decodePlane(readFileSync(f), f);
  assert.ok(p.data instanceof Uint16Array);
  assert.ok(p.data.includes(26000) && p.data.includes(24000));
});
