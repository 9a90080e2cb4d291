// Image and label file decoding on the host (no engine): PNG via fast-png, JPEG via libjpeg-turbo in wasm (jpeg.ts).
// Two decoders because labels and images want different things from the same PNG:
//   decodeRgb   → 8-bit RGB [H, W, 3] for network input (palette expanded, alpha dropped, 16-bit → high byte);
//   decodePlane → one channel of raw sample values [H, W] (palette INDEX kept, 16-bit kept) for label files.
// probeImage reads headers only (PNG IHDR + IEND check, JPEG markers up to SOF), for validation at open time.
// Files are untrusted: the pixel count is checked against src/util/limits.ts from the header before any decoder
// allocates, and a PNG's chunk CRCs and inflated size are checked before fast-png sees it.
// Pixels are what PyTorch pipelines get from Pillow's Image.open(f).convert('RGB'): JPEG EXIF orientation is
// reported in the header but not applied (Image.open does not rotate; orient() does, as ImageOps.exif_transpose).
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { constants as zlibConstants, crc32, inflateSync } from 'node:zlib';
import { decode as decodePngRaw, type DecodedPng } from 'fast-png';
import { limit, limitText } from '../util/limits.js';
import { DataError } from '../util/errors.js';
import { decodeJpeg, frameProblem, isSof, parseSof } from './jpeg.js';

export type ImageFormat = 'png' | 'jpeg';
/** PNG colour types by name; JPEG reports 'gray' (1 component) or 'rgb' (3; others are refused). */
export type ColorType = 'gray' | 'gray-alpha' | 'rgb' | 'rgba' | 'palette';

export interface ImageHeader {
  format: ImageFormat;
  width: number;   // as stored: a JPEG's EXIF orientation is not applied (as Pillow's Image.open)
  height: number;
  colorType: ColorType;
  channels: number; // samples per pixel as stored (palette = 1)
  bitDepth: number; // bits per sample (1, 2, 4, 8, 16)
  orientation: number; // EXIF orientation 1..8 (1 for PNG), for callers that want to apply it (orient())
}

/** 8-bit RGB pixels, row-major [H, W, 3]. */
export interface RgbImage { width: number; height: number; data: Uint8Array }

/** One channel of raw values, row-major [H, W]: palette index, gray value, or channel c of a colour PNG. */
export interface Plane {
  width: number;
  height: number;
  data: Uint8Array | Uint16Array;
  colorType: ColorType;
  bitDepth: number;
}

const PNG_SIG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const PNG_COLOR: Record<number, [ColorType, number]> = {
  0: ['gray', 1], 2: ['rgb', 3], 3: ['palette', 1], 4: ['gray-alpha', 2], 6: ['rgba', 4],
};
/** Bit depths allowed per colour type (PNG spec §11.2.2). */
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

type ReadAt = (pos: number, len: number) => Uint8Array;

function u16be(b: Uint8Array, i: number): number { return (b[i]! << 8) | b[i + 1]!; }
function u32be(b: Uint8Array, i: number): number { return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0; }

/** What is wrong with a PNG's IHDR fields (PNG spec §11.2.2), or undefined: fast-png would fail obscurely on them. */
function ihdrProblem(d: Uint8Array): string | undefined {
  const w = u32be(d, 0), h = u32be(d, 4), depth = d[8]!, ct = d[9]!;
  if (w === 0 || h === 0 || w > 2 ** 31 - 1 || h > 2 ** 31 - 1) return `PNG header declares ${w}x${h} pixels; each side must be 1 to 2^31-1`;
  if (!PNG_COLOR[ct]) return `PNG colour type ${ct} is invalid`;
  if (!PNG_DEPTHS[ct]!.includes(depth)) return `PNG colour type ${ct} with bit depth ${depth} is invalid`;
  if (d[10] !== 0 || d[11] !== 0) return `PNG compression method ${d[10]} / filter method ${d[11]} is invalid (both must be 0)`;
  if (d[12]! > 1) return `PNG interlace method ${d[12]} is invalid`;
  return undefined;
}

/** Header of PNG or JPEG data given a positional reader; throws a plain Error with the reason. */
function probeWith(readAt: ReadAt, size: number): ImageHeader {
  const head = readAt(0, 33);
  if (head.length >= 8 && PNG_SIG.every((v, i) => head[i] === v)) {
    if (head.length < 33 || String.fromCharCode(...head.subarray(12, 16)) !== 'IHDR') throw new Error('PNG without an IHDR chunk');
    const bad = ihdrProblem(head.subarray(16, 29));
    if (bad) throw new Error(bad);
    const ct = PNG_COLOR[head[25]!]!;
    const tail = readAt(size - 12, 12);
    if (String.fromCharCode(...tail.subarray(4, 8)) !== 'IEND') throw new Error('PNG is truncated (no IEND chunk at the end)');
    return { format: 'png', width: u32be(head, 16), height: u32be(head, 20), colorType: ct[0], channels: ct[1], bitDepth: head[24]!, orientation: 1 };
  }
  if (head[0] === 0xff && head[1] === 0xd8) return probeJpeg(readAt, size);
  throw new Error('not a PNG or JPEG file');
}

/**
 * Walks JPEG marker segments up to the first SOFn, reading the EXIF orientation on the way, and refuses a frame
 * the decoder would not turn into RGB (CMYK, 12-bit, arithmetic-coded, …) so datasets report it at open time.
 * Bytes between segments that are not a marker are skipped, as libjpeg and Pillow skip them.
 */
function probeJpeg(readAt: ReadAt, size: number): ImageHeader {
  let pos = 2;
  let orientation = 1;
  while (pos + 4 <= size) {
    const m = readAt(pos, 4);
    if (m[0] !== 0xff || m[1] === 0xff || m[1] === 0x00) {
      const skip = readAt(pos + 1, 4096).indexOf(0xff);
      pos += skip < 0 ? 4097 : skip + 1;
      continue;
    }
    const marker = m[1]!, len = u16be(m, 2);
    if (isSof(marker)) {
      const frame = parseSof(marker, readAt(pos + 4, len - 2));
      const bad = frameProblem(frame);
      if (bad) throw new Error(bad);
      const nc = frame.components.length;
      return { format: 'jpeg', width: frame.width, height: frame.height, colorType: nc === 1 ? 'gray' : 'rgb', channels: nc, bitDepth: 8, orientation };
    }
    if (marker === 0xe1) orientation = exifOrientation(readAt(pos + 4, len - 2)) ?? orientation;
    if (marker === 0xda || marker === 0xd9) break;
    pos += 2 + len;
  }
  throw new Error('JPEG without a frame header (SOF)');
}

/** EXIF orientation tag (0x0112) from an APP1 payload, or undefined. */
function exifOrientation(app1: Uint8Array): number | undefined {
  if (app1.length < 14 || String.fromCharCode(...app1.subarray(0, 4)) !== 'Exif') return undefined;
  const t = app1.subarray(6); // TIFF header
  const le = t[0] === 0x49;
  const r16 = (i: number): number => (le ? t[i]! | (t[i + 1]! << 8) : u16be(t, i));
  const r32 = (i: number): number => (le ? (t[i]! | (t[i + 1]! << 8) | (t[i + 2]! << 16) | (t[i + 3]! << 24)) >>> 0 : u32be(t, i));
  const ifd = r32(4);
  if (ifd + 2 > t.length) return undefined;
  const n = r16(ifd);
  for (let e = 0; e < n; e++) {
    const at = ifd + 2 + 12 * e;
    if (at + 12 > t.length) return undefined;
    if (r16(at) === 0x0112) {
      const v = r16(at + 8);
      return v >= 1 && v <= 8 ? v : undefined;
    }
  }
  return undefined;
}

/** Header of an image file without reading its pixels. Throws DataError naming the file. */
export function probeImage(path: string): ImageHeader {
  let fd: number | undefined;
  let header: ImageHeader;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const f = fd;
    const readAt: ReadAt = (pos, len) => {
      const buf = new Uint8Array(Math.max(0, Math.min(len, size - pos)));
      if (pos >= 0 && buf.length > 0) readSync(f, buf, 0, buf.length, pos);
      return buf;
    };
    header = probeWith(readAt, size);
  } catch (e) {
    throw new DataError(`${path}: cannot read image header: ${reason(e)}`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  checkPixels(header.width, header.height, path);
  return header;
}

/** Header of in-memory image bytes. */
export function probeBytes(bytes: Uint8Array): ImageHeader {
  return probeWith((pos, len) => bytes.subarray(Math.max(0, pos), Math.max(0, pos + len)), bytes.length);
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err?.code === 'ENOENT') return 'file not found';
  if (err?.code === 'EACCES') return 'permission denied';
  return err instanceof Error ? err.message : String(e);
}

/** Reads a whole file; DataError naming the file on failure. */
export function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new DataError(`${path}: cannot read: ${reason(e)}`);
  }
}

/** Refuses an image over the pixel limit (Pillow's decompression-bomb check), from its header alone. */
function checkPixels(width: number, height: number, file: string): void {
  // Both factors are below 2^32, so the product is exact far beyond any limit it is compared with.
  if (width * height > limit('imagePixels')) {
    throw new DataError(`${file}: ${width}x${height} = ${width * height} pixels is over ${limitText('imagePixels')}; a decompression bomb, or raise the limit`);
  }
}

/**
 * Walks the PNG's chunks before fast-png sees it: every CRC (fast-png does not look; Pillow checks those of the
 * header chunks, and verify() all), the pixel limit from the IHDR, and the IDAT stream inflated with a bound
 * (fast-png would inflate all of it).
 */
function checkPng(bytes: Uint8Array, file: string): void {
  const fail = (what: string): never => { throw new DataError(`${file}: cannot decode PNG: ${what}`); };
  let ihdr: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let plte = false;
  for (let pos = 8; ;) {
    if (pos + 12 > bytes.length) fail('truncated (no IEND chunk)');
    const type = bytes.subarray(pos + 4, pos + 8);
    if (!type.every((c) => (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)) fail(`chunk at byte ${pos} has an invalid type; corrupt`);
    const name = String.fromCharCode(...type), end = pos + 12 + u32be(bytes, pos);
    if (end > bytes.length) fail(`chunk ${name} at byte ${pos} runs past the end of the file; truncated`);
    if (crc32(bytes.subarray(pos + 4, end - 4)) >>> 0 !== u32be(bytes, end - 4)) fail(`chunk ${name} at byte ${pos} has a bad CRC; corrupt`);
    if (ihdr === undefined) {
      if (name !== 'IHDR' || end - pos !== 25) fail('it does not start with an IHDR chunk');
      ihdr = bytes.subarray(pos + 8, pos + 21);
      const bad = ihdrProblem(ihdr);
      if (bad) fail(bad);
      checkPixels(u32be(ihdr, 0), u32be(ihdr, 4), file);
    } else if (name === 'PLTE') plte = true;
    else if (name === 'IDAT') {
      // A palette image needs its PLTE before the data (PNG spec); without it a decoder invents the colours.
      if (ihdr[9] === 3 && !plte) fail('palette image without a PLTE chunk before IDAT');
      idat.push(bytes.subarray(pos + 8, end - 4));
    }
    else if (name === 'IEND') break;
    pos = end;
  }
  checkInflatedSize(idat, ihdr!, file);
}

/**
 * Inflates the IDAT stream natively, stopping at twice what the IHDR needs: the bound on what fast-png will
 * allocate. Twice, not exactly: Pillow ignores surplus image data, so a sloppy encoder's few extra bytes pass.
 */
function checkInflatedSize(idat: Uint8Array[], ihdr: Uint8Array, file: string): void {
  const need = pngRawBytes(u32be(ihdr, 0), u32be(ihdr, 4), PNG_COLOR[ihdr[9]!]![1] * ihdr[8]!, ihdr[12] === 1);
  try {
    // Z_SYNC_FLUSH: a stream cut short is fast-png's to judge; only the size is checked here.
    inflateSync(Buffer.concat(idat), { maxOutputLength: Math.max(1, 2 * need), finishFlush: zlibConstants.Z_SYNC_FLUSH });
  } catch (e) {
    const big = (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
    throw new DataError(`${file}: ${big ? `PNG image data inflates past ${2 * need} bytes, twice what its IHDR needs; corrupt or a decompression bomb` : `PNG image data is corrupt (zlib: ${reason(e)})`}`);
  }
}

/** Bytes of filtered scanlines (one filter byte per row) for a PNG of `bits` per pixel, Adam7 passes summed. */
export function pngRawBytes(width: number, height: number, bits: number, adam7: boolean): number {
  const rows = (w: number, h: number): number => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bits) / 8)) : 0);
  if (!adam7) return rows(width, height);
  // [x0, y0, dx, dy] of the seven passes (PNG spec §8.2).
  const passes = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
  return passes.reduce((sum, [x0, y0, dx, dy]) => sum + rows(Math.ceil((width - x0!) / dx!), Math.ceil((height - y0!) / dy!)), 0);
}

function decodePng(bytes: Uint8Array, file: string): DecodedPng {
  if (bytes.length < 8 || !PNG_SIG.every((v, i) => bytes[i] === v)) throw new DataError(`${file}: not a PNG file`);
  checkPng(bytes, file);
  try {
    return decodePngRaw(bytes);
  } catch (e) {
    throw new DataError(`${file}: cannot decode PNG: ${reason(e)}`);
  }
}

/** Unpacks sub-byte samples (1/2/4-bit, rows padded to whole bytes) into one byte per sample. */
function samples(png: DecodedPng): Uint8Array | Uint16Array {
  const n = png.width * png.height * png.channels;
  if (png.depth >= 8) return png.data as Uint8Array | Uint16Array;
  const src = png.data as Uint8Array;
  const out = new Uint8Array(n);
  const perRow = png.width * png.channels;
  const rowBytes = Math.ceil((perRow * png.depth) / 8);
  const mask = (1 << png.depth) - 1;
  for (let y = 0, o = 0; y < png.height; y++) {
    for (let i = 0; i < perRow; i++) {
      const bit = i * png.depth;
      out[o++] = (src[y * rowBytes + (bit >> 3)]! >> (8 - png.depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/**
 * One channel of a PNG as raw values [H, W]. Palette PNGs give the palette INDEX (GTA5 labels store the
 * Cityscapes labelId there; reading colours is the classic bug). 16-bit stays 16-bit (SYNTHIA labels,
 * docs/method.md §5.2).
 */
export function decodePlane(bytes: Uint8Array, file: string, channel = 0): Plane {
  const png = decodePng(bytes, file);
  const ct: ColorType = png.palette ? 'palette' : (['gray', 'gray', 'gray-alpha', 'rgb', 'rgba'] as const)[png.channels] ?? 'gray';
  if (channel >= png.channels) throw new DataError(`${file}: has ${png.channels} channel(s); channel ${channel} was requested`);
  const all = samples(png);
  const n = png.width * png.height;
  const out = all instanceof Uint16Array ? new Uint16Array(n) : new Uint8Array(n);
  if (png.channels === 1) out.set(all);
  else for (let i = 0; i < n; i++) out[i] = all[i * png.channels + channel]!;
  return { width: png.width, height: png.height, data: out, colorType: ct, bitDepth: png.depth };
}

/** Decodes PNG or JPEG to 8-bit RGB [H, W, 3] as Pillow's Image.open(f).convert('RGB') (no EXIF rotation). */
export function decodeRgb(bytes: Uint8Array, file: string): RgbImage {
  let header: ImageHeader;
  try { header = probeBytes(bytes); } catch (e) { throw new DataError(`${file}: ${reason(e)}`); }
  checkPixels(header.width, header.height, file);
  return header.format === 'png' ? pngToRgb(decodePng(bytes, file)) : decodeJpeg(bytes, file);
}

function pngToRgb(png: DecodedPng): RgbImage {
  const n = png.width * png.height;
  const out = new Uint8Array(n * 3);
  const s = samples(png);
  const c = png.channels;
  if (png.palette) {
    const pal = png.palette;
    for (let i = 0; i < n; i++) {
      const col = pal[s[i]!] ?? [0, 0, 0];
      out[3 * i] = col[0]!; out[3 * i + 1] = col[1]!; out[3 * i + 2] = col[2]!;
    }
    return { width: png.width, height: png.height, data: out };
  }
  // 16-bit keeps the high byte (as PIL's "RGB;16B" raw mode); 1/2/4-bit gray is stretched to 0..255 (as PIL "L;n").
  const to8 = png.depth === 16 ? (v: number) => v >> 8
    : png.depth < 8 ? (v: number) => (v * 255) / ((1 << png.depth) - 1) : (v: number) => v;
  const gray = c <= 2;
  for (let i = 0; i < n; i++) {
    const b = i * c;
    if (gray) { const v = to8(s[b]!); out[3 * i] = v; out[3 * i + 1] = v; out[3 * i + 2] = v; }
    else { out[3 * i] = to8(s[b]!); out[3 * i + 1] = to8(s[b + 1]!); out[3 * i + 2] = to8(s[b + 2]!); }
  }
  return { width: png.width, height: png.height, data: out };
}

/** Applies EXIF orientation 1..8 (as PIL's ImageOps.exif_transpose) to an RGB image. */
export function orient(img: RgbImage, orientation: number): RgbImage {
  if (orientation <= 1 || orientation > 8) return img;
  const { width: W, height: H } = img;
  const swap = orientation >= 5;
  const ow = swap ? H : W, oh = swap ? W : H;
  const out = new Uint8Array(W * H * 3);
  // Source pixel (x, y) for each output pixel (u, v).
  type Map2 = (u: number, v: number) => [number, number];
  const src = ([
    (u, v) => [u, v], (u, v) => [u, v], (u, v) => [W - 1 - u, v], (u, v) => [W - 1 - u, H - 1 - v], (u, v) => [u, H - 1 - v],
    (u, v) => [v, u], (u, v) => [v, H - 1 - u], (u, v) => [W - 1 - v, H - 1 - u], (u, v) => [W - 1 - v, u],
  ] as Map2[])[orientation]!;
  for (let v = 0; v < oh; v++) {
    for (let u = 0; u < ow; u++) {
      const [x, y] = src(u, v);
      const s = 3 * (y * W + x), d = 3 * (v * ow + u);
      out[d] = img.data[s]!; out[d + 1] = img.data[s + 1]!; out[d + 2] = img.data[s + 2]!;
    }
  }
  return { width: ow, height: oh, data: out };
}
