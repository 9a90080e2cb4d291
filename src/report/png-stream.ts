// A PNG written a block of rows at a time: the rows are made by the caller on demand, deflated as a stream (fflate's
// Zlib, level 3 and no row filter as fast-png's encodePng) and written straight to the file, so an image's pixels are
// never whole in memory — `clan predict` draws a 13376² image's colour, overlay and heat-map PNGs from its labels
// this way. Decoders read the same pixels as from encodePng (the compressed bytes may differ: IDAT chunk boundaries).
import { crc32 } from 'node:zlib';
import { Zlib } from 'fflate';
import { atomicWriteWith } from '../util/atomic.js';
import { DataError } from '../util/errors.js';

const SIGNATURE = new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]);
/** About this many raw bytes are made and deflated per block of rows. */
const BLOCK_BYTES = 1 << 20;

export interface PngStreamSpec {
  width: number;
  height: number;
  channels: 1 | 3;                 // gray or RGB, 8 bits each
  text?: Record<string, string>;   // tEXt chunks (Latin-1 keyword → value)
}

/**
 * Write `path` (atomically) as a PNG whose rows y0..y1 − 1 are `rows(y0, y1)`: [(y1 − y0)·width·channels] bytes,
 * row-major. Called with consecutive blocks from the top; each block may be dropped once it returns.
 */
export function writePngRows(path: string, s: PngStreamSpec, rows: (y0: number, y1: number) => Uint8Array): void {
  const { width: W, height: H, channels: C } = s;
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 1 || H < 1) throw new DataError(`writePngRows: size ${W}×${H}; expected positive integers`);
  const stride = W * C + 1;                                     // a filter byte (0: none) before each row
  const step = Math.max(1, Math.floor(BLOCK_BYTES / stride));
  atomicWriteWith(path, (write) => {
    write(SIGNATURE);
    write(chunk('IHDR', ihdr(W, H, C)));
    for (const [k, v] of Object.entries(s.text ?? {})) write(chunk('tEXt', latin1(`${k}\0${v}`)));
    const z = new Zlib({ level: 3 }, (data) => { if (data.length) write(chunk('IDAT', data)); });
    for (let y0 = 0; y0 < H; y0 += step) {
      const y1 = Math.min(H, y0 + step);
      const px = rows(y0, y1);
      if (px.length !== (y1 - y0) * W * C) throw new DataError(`writePngRows: rows ${y0}..${y1 - 1} gave ${px.length} bytes; expected ${(y1 - y0) * W * C}`);
      const raw = new Uint8Array((y1 - y0) * stride);
      for (let y = 0; y < y1 - y0; y++) raw.set(px.subarray(y * W * C, (y + 1) * W * C), y * stride + 1);
      z.push(raw, y1 === H);
    }
    write(chunk('IEND', new Uint8Array(0)));
  });
}

/** IHDR: width, height, bit depth 8, colour type 0 (gray) or 2 (RGB), deflate, no filter method, no interlace. */
function ihdr(width: number, height: number, channels: 1 | 3): Uint8Array {
  const b = new Uint8Array(13);
  const v = new DataView(b.buffer);
  v.setUint32(0, width); v.setUint32(4, height);
  b[8] = 8; b[9] = channels === 1 ? 0 : 2;
  return b;
}

/** One chunk: length, type, data, CRC-32 of type + data. */
function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  v.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)) >>> 0);
  return out;
}

function latin1(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) throw new DataError(`writePngRows: tEXt '${text.split('\0')[0]}' holds '${text[i]}', not Latin-1; PNG text chunks are Latin-1`);
    out[i] = c;
  }
  return out;
}
