import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { decode as decodePngRaw, encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import { DataError } from '../util/errors.js';
import { decodePlane, decodeRgb, orient, pngRawBytes, probeBytes, probeImage } from './image.js';
import { repoRoot, sharedFixtures } from './data.testing.js';

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
  const p2 = encodePng({ width: 5, height: 2, channels: 1, depth: 2,
    data: new Uint8Array([...pack2([3, 1, 0, 2, 1]), ...pack2([0, 0, 1, 3, 3])]), palette: PAL });
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

test('JPEG EXIF orientation is reported, not applied by decodeRgb (as Image.open); orient() applies it', () => {
  // [orientation, width, height, cell colour at output top-left, at output top-right] after orient()
  const cases: [number, number, number, number, number][] = [
    [1, 32, 48, 0, 1], [2, 32, 48, 1, 0], [3, 32, 48, 5, 4], [4, 32, 48, 4, 5],
    [5, 48, 32, 0, 4], [6, 48, 32, 4, 0], [7, 48, 32, 5, 1], [8, 48, 32, 1, 5],
  ];
  for (const [o, w, h, tl, tr] of cases) {
    const bytes = cellsJpeg(o);
    const img = decodeRgb(bytes, `o${o}.jpg`);
    assert.deepEqual([o, img.width, img.height, colorAt(img, 8, 8), colorAt(img, 24, 8)], [o, 32, 48, 0, 1]);
    const hd = probeBytes(bytes);
    assert.deepEqual([hd.format, hd.width, hd.height, hd.orientation, hd.channels], ['jpeg', 32, 48, o, 3]);
    const turned = orient(img, hd.orientation);
    assert.deepEqual([o, turned.width, turned.height], [o, w, h]);
    assert.deepEqual([o, colorAt(turned, 8, 8), colorAt(turned, w - 8, 8)], [o, tl, tr]);
  }
});

test('fixture 16-bit instanceIds keep ids above 255', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const f = join(dir, 'cityscapes/gtFine/val/frankfurt/frankfurt_000000_000294_gtFine_instanceIds.png');
  const p = decodePlane(readFileSync(f), f);
  assert.ok(p.data instanceof Uint16Array);
  assert.ok(p.data.includes(26000) && p.data.includes(24000));
});

// ---- resource limits (src/io/limits.ts) and integrity checks before decoding -------------------------------------

const LIMITS_FIXTURES = join(repoRoot(), 'test', 'fixtures', 'limits');

function withEnv<T>(key: string, value: string, fn: () => T): T {
  const old = process.env[key];
  process.env[key] = value;
  try { return fn(); } finally { if (old === undefined) delete process.env[key]; else process.env[key] = old; }
}

/** Asserts a DataError with a one-line message matching re. */
function refused(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof DataError && re.test(e.message) && !e.message.includes('\n'));
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** A PNG from its IHDR fields and the raw (filtered, uninflated) image data, deflated into one IDAT. */
function makePng(width: number, height: number, depth: number, colorType: number, raw: Uint8Array, extra: Uint8Array[] = []): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width); dv.setUint32(4, height); ihdr[8] = depth; ihdr[9] = colorType;
  const sig = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
  return Buffer.concat([sig, chunk('IHDR', ihdr), ...extra, chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

test('a PNG over the pixel limit is refused from its IHDR, before decoding (20000x20000 in a few hundred bytes)', (t) => {
  const bomb = makePng(20000, 20000, 1, 0, new Uint8Array(20000 * 2501)); // 1-bit gray: 50 MB raw, 50 KB deflated
  const re = /^bomb\.png: 20000x20000 = 400000000 pixels is over the limit of 178956970 \(CLAN_MAX_IMAGE_PIXELS\); a decompression bomb, or raise the limit$/;
  refused(() => decodeRgb(bomb, 'bomb.png'), re);
  refused(() => decodePlane(bomb, 'bomb.png'), re);
  const dir = mkdtempSync(join(tmpdir(), 'clan-img-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bomb.png'), bomb);
  refused(() => probeImage(join(dir, 'bomb.png')), /bomb\.png: 20000x20000 = 400000000 pixels is over the limit of 178956970/);
});

test('PNG header nonsense (a zero side, unknown methods) is one DataError naming the file, before fast-png', (t) => {
  const zero = makePng(0, 5, 8, 0, new Uint8Array(5)); // fast-png alone: "Unsupported filter: undefined"
  const re = /^z\.png: (cannot decode PNG: )?PNG header declares 0x5 pixels; each side must be 1 to 2\^31-1$/;
  refused(() => decodeRgb(zero, 'z.png'), re);
  refused(() => decodePlane(zero, 'z.png'), re);
  refused(() => decodeRgb(makePng(3, 0, 8, 2, new Uint8Array(0)), 'h.png'), /^h\.png: PNG header declares 3x0 pixels/);
  const dir = mkdtempSync(join(tmpdir(), 'clan-img-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'z.png'), zero);
  refused(() => probeImage(join(dir, 'z.png')), /z\.png: cannot read image header: PNG header declares 0x5 pixels/);
  /** A valid 2x1 gray PNG with one IHDR byte changed (CRC recomputed). */
  const patched = (at: number, v: number): Uint8Array => {
    const p = Uint8Array.from(makePng(2, 1, 8, 0, new Uint8Array([0, 7, 9])));
    p[16 + at] = v;
    new DataView(p.buffer).setUint32(29, crc32(p.subarray(12, 29)));
    return p;
  };
  assert.deepEqual([...decodeRgb(patched(12, 0), 'ok.png').data], [7, 7, 7, 9, 9, 9]);
  refused(() => decodeRgb(patched(12, 2), 'i.png'), /^i\.png: PNG interlace method 2 is invalid$/);
  refused(() => decodePlane(patched(10, 1), 'c.png'), /^c\.png: cannot decode PNG: PNG compression method 1 \/ filter method 0 is invalid \(both must be 0\)$/);
  refused(() => decodeRgb(patched(11, 1), 'f.png'), /^f\.png: PNG compression method 0 \/ filter method 1 is invalid/);
});

test('CLAN_MAX_IMAGE_PIXELS: an image of exactly the limit decodes unchanged, one pixel more is refused (PNG, JPEG)', () => {
  const png = encodePng({ width: 7, height: 5, channels: 3, depth: 8, data: Uint8Array.from({ length: 105 }, (_, i) => (i * 5) & 255) });
  const want = decodeRgb(png, 'p.png');
  assert.deepEqual([...want.data.subarray(0, 6)], [0, 5, 10, 15, 20, 25]);
  assert.deepEqual(withEnv('CLAN_MAX_IMAGE_PIXELS', '35', () => decodeRgb(png, 'p.png')), want);
  assert.deepEqual(withEnv('CLAN_MAX_IMAGE_PIXELS', '35', () => decodePlane(png, 'p.png', 2)), decodePlane(png, 'p.png', 2));
  refused(() => withEnv('CLAN_MAX_IMAGE_PIXELS', '34', () => decodeRgb(png, 'p.png')), /^p\.png: 7x5 = 35 pixels is over the limit of 34 \(CLAN_MAX_IMAGE_PIXELS\)/);
  refused(() => withEnv('CLAN_MAX_IMAGE_PIXELS', '34', () => decodePlane(png, 'p.png')), /^p\.png: 7x5 = 35 pixels is over the limit of 34/);
  const jpg = cellsJpeg(6); // 32x48 as stored (and as decoded: EXIF orientation is not applied)
  const jwant = decodeRgb(jpg, 'j.jpg');
  assert.deepEqual(withEnv('CLAN_MAX_IMAGE_PIXELS', '1536', () => decodeRgb(jpg, 'j.jpg')), jwant);
  refused(() => withEnv('CLAN_MAX_IMAGE_PIXELS', '1535', () => decodeRgb(jpg, 'j.jpg')), /^j\.jpg: 32x48 = 1536 pixels is over the limit of 1535/);
});

test('a JPEG whose frame header claims 20000x20000 is refused before decoding', () => {
  const jpg = cellsJpeg(1).slice();
  let at = 2;
  while (!(jpg[at + 1]! >= 0xc0 && jpg[at + 1]! <= 0xc2)) at += 2 + ((jpg[at + 2]! << 8) | jpg[at + 3]!); // walk to SOF0..2
  new DataView(jpg.buffer).setUint16(at + 5, 20000); // height
  new DataView(jpg.buffer).setUint16(at + 7, 20000); // width
  refused(() => decodeRgb(jpg, 'big.jpg'), /^big\.jpg: 20000x20000 = 400000000 pixels is over the limit of 178956970 \(CLAN_MAX_IMAGE_PIXELS\)/);
});

test('every PNG chunk CRC is checked: a bad IDAT CRC (which fast-png alone ignores) is refused', () => {
  const bad = readFileSync(join(LIMITS_FIXTURES, 'bad_idat_crc.png'));
  assert.equal(decodePngRaw(bad).width, 16, 'fast-png decodes it without complaint');
  refused(() => decodeRgb(bad, 'crc.png'), /^crc\.png: cannot decode PNG: chunk IDAT at byte 33 has a bad CRC; corrupt$/);
  refused(() => decodePlane(bad, 'crc.png'), /^crc\.png: cannot decode PNG: chunk IDAT at byte 33 has a bad CRC; corrupt$/);
  // An ancillary chunk too, and a chunk type that is not four letters.
  const text = chunk('tEXt', new TextEncoder().encode('Comment\0hi'));
  const ok = makePng(2, 1, 8, 0, Uint8Array.of(0, 7, 9), [text]);
  assert.deepEqual([...decodePlane(ok, 'ok.png').data], [7, 9]);
  const flipped = ok.slice();
  flipped[33 + 10] ^= 1; // a byte of the tEXt payload
  refused(() => decodePlane(flipped, 't.png'), /^t\.png: cannot decode PNG: chunk tEXt at byte 33 has a bad CRC; corrupt$/);
  const junk = ok.slice();
  junk[33 + 4] = 0x0a;
  refused(() => decodePlane(junk, 'j.png'), /^j\.png: cannot decode PNG: chunk at byte 33 has an invalid type; corrupt$/);
});

test('PNG image data may inflate to at most twice what the IHDR needs (fast-png alone would inflate it all)', () => {
  // 1x1 8-bit gray needs 2 bytes (filter byte + sample); this IDAT inflates to 4 MiB.
  const bomb = makePng(1, 1, 8, 0, new Uint8Array(4 * 2 ** 20));
  assert.equal(decodePngRaw(bomb).width, 1, 'fast-png decodes it after inflating 4 MiB');
  refused(() => decodePlane(bomb, 'z.png'), /^z\.png: PNG image data inflates past 4 bytes, twice what its IHDR needs; corrupt or a decompression bomb$/);
  // Surplus up to twice the need opens, as in Pillow, with the same pixels.
  assert.deepEqual([...decodePlane(makePng(1, 1, 8, 0, Uint8Array.of(0, 42, 0, 0)), 's.png').data], [42]);
  refused(() => decodePlane(makePng(1, 1, 8, 0, Uint8Array.of(0, 42, 0, 0, 0)), 's.png'), /inflates past 4 bytes/);
});

test('pngRawBytes is the exact inflated size of PNGs written by fast-png, plain and Adam7-interlaced', () => {
  const idatSize = (png: Uint8Array): number => {
    const idat: Uint8Array[] = [];
    for (let pos = 8; pos < png.length;) {
      const len = new DataView(png.buffer, png.byteOffset).getUint32(pos);
      if (String.fromCharCode(...png.subarray(pos + 4, pos + 8)) === 'IDAT') idat.push(png.subarray(pos + 8, pos + 8 + len));
      pos += 12 + len;
    }
    return inflateSync(Buffer.concat(idat)).length;
  };
  const cases: [number, number, 1 | 3 | 4, 8 | 16][] = [[1, 1, 1, 8], [13, 7, 3, 16], [9, 11, 4, 8], [33, 17, 3, 8], [2, 9, 1, 16]];
  for (const [w, h, channels, depth] of cases) {
    const n = w * h * channels;
    const data = depth === 16 ? Uint16Array.from({ length: n }, (_, i) => i * 977) : Uint8Array.from({ length: n }, (_, i) => i * 7);
    const plain = encodePng({ width: w, height: h, channels, depth, data });
    const adam7 = encodePng({ width: w, height: h, channels, depth, data }, { interlace: 'Adam7' });
    assert.equal(pngRawBytes(w, h, channels * depth, false), idatSize(plain), `${w}x${h}x${channels}@${depth}`);
    assert.equal(pngRawBytes(w, h, channels * depth, true), idatSize(adam7), `${w}x${h}x${channels}@${depth} Adam7`);
    assert.deepEqual(decodePlane(adam7, 'a.png', channels - 1), decodePlane(plain, 'p.png', channels - 1));
  }
  // Sub-byte Adam7, by hand (fast-png's encoder mis-sizes these): 5x2 at 2 bits has passes 1, 2, 4, 6, 7 of
  // 1, 1, 1, 2 and 5 pixels in one row each: 2 + 2 + 2 + 2 + (1 + ceil(10 / 8)) = 11 bytes; 3x1 at 1 bit: 2 + 2 + 2.
  assert.equal(pngRawBytes(5, 2, 2, true), 11);
  assert.equal(pngRawBytes(3, 1, 1, true), 6);
  assert.equal(pngRawBytes(5, 2, 2, false), 6); // 2 rows of 1 + ceil(10 / 8)
});

test('the PIL fixtures decode exactly as fast-png decodes them (the checks change nothing)', () => {
  for (const f of ['nearest_gta5label_1280x720.png', 'noise_in.png', 'bicubic_cs_131x97.png']) {
    const bytes = readFileSync(join(repoRoot(), 'test', 'fixtures', 'pil', f));
    const raw = decodePngRaw(bytes);
    const plane = decodePlane(bytes, f);
    assert.deepEqual([plane.width, plane.height], [raw.width, raw.height]);
    if (raw.channels === 1) assert.deepEqual(plane.data, raw.data, f);
    else assert.deepEqual(plane.data, (raw.data as Uint8Array).filter((_, i) => i % raw.channels === 0), f);
  }
});
