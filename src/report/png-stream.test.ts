// writePngRows: a PNG made a block of rows at a time decodes to the pixels encodePng would have written, over one
// block, several and a row longer than a block; its tEXt chunks read back; a failure leaves no file and no temp file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { crc32 } from 'node:zlib';
import { writePngRows } from './png-stream.js';
import { encodePng } from './png.js';

/** Pixels with structure and every byte value (so both deflate and the row split are exercised). */
function pixels(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + (i >> 9) * 13 + ((i * i) >> 11)) & 255);
}

test('writePngRows decodes to encodePng\'s pixels: gray and RGB, one block, several blocks, a row over a block', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-pngs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const cases: [number, number, 1 | 3][] = [[5, 3, 1], [7, 2, 3], [1100, 700, 3], [1_200_000, 2, 1], [1, 1, 1]];
  for (const [W, H, C] of cases) {
    const px = pixels(W * H * C);
    const calls: [number, number][] = [];
    const path = join(dir, `p${W}x${H}x${C}.png`);
    writePngRows(path, { width: W, height: H, channels: C }, (y0, y1) => {
      calls.push([y0, y1]); return px.subarray(y0 * W * C, y1 * W * C);
    });
    const a = decode(readFileSync(path)), b = decode(encodePng(px, W, H, C));
    assert.deepEqual([a.width, a.height, a.channels, a.depth], [W, H, C, 8], `${W}×${H}×${C}`);
    assert.deepEqual(a.data, b.data, `${W}×${H}×${C} pixels`);
    // consecutive blocks from the top, each of about 1 MiB of rows (one row at least)
    assert.equal(calls[0]![0], 0); assert.equal(calls.at(-1)![1], H);
    for (let i = 1; i < calls.length; i++) assert.equal(calls[i]![0], calls[i - 1]![1]);
    if (W * H * C > 2 ** 21) assert.ok(calls.length >= 2, `${W}×${H}×${C}: ${calls.length} blocks`);
  }
});

test('writePngRows: tEXt chunks read back, every chunk\'s CRC holds, IEND last', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-pngs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 't.png');
  writePngRows(path, { width: 2, height: 2, channels: 3, text: { 'clan:key': '0.1', Description: 'viridis, café' } }, () => pixels(12));
  assert.deepEqual(decode(readFileSync(path)).text, { 'clan:key': '0.1', Description: 'viridis, café' });
  const f = readFileSync(path);
  const types: string[] = [];
  for (let at = 8; at < f.length;) {
    const n = f.readUInt32BE(at), type = f.subarray(at + 4, at + 8).toString('latin1');
    assert.equal(f.readUInt32BE(at + 8 + n), crc32(f.subarray(at + 4, at + 8 + n)) >>> 0, `${type} CRC`);
    types.push(type); at += 12 + n;
  }
  assert.deepEqual([types[0], types.at(-1)], ['IHDR', 'IEND']);
  assert.ok(types.includes('IDAT') && types.filter((x) => x === 'tEXt').length === 2, types.join(','));
});

test('writePngRows: rows of the wrong length, a failing row source or text outside Latin-1 leave no file behind', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-pngs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'x.png');
  assert.throws(() => writePngRows(path, { width: 3, height: 2, channels: 3 }, () => new Uint8Array(5)),
    /writePngRows: rows 0\.\.1 gave 5 bytes; expected 18/);
  assert.throws(() => writePngRows(path, { width: 3, height: 2, channels: 1 }, () => { throw new Error('source failed'); }), /source failed/);
  assert.throws(() => writePngRows(path, { width: 1, height: 1, channels: 1, text: { k: 'π' } }, () => new Uint8Array(1)),
    /tEXt 'k' holds 'π', not Latin-1/);
  assert.throws(() => writePngRows(path, { width: 0, height: 2, channels: 1 }, () => new Uint8Array(0)), /size 0×2; expected positive integers/);
  assert.equal(existsSync(path), false);
  assert.deepEqual(readdirSync(dir), []);
});
