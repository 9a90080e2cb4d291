// JPEG decoding equal to Pillow's, byte for byte: libjpeg-turbo (the library under Pillow) compiled to WebAssembly,
// called through its TurboJPEG API with Pillow's defaults — ISLOW integer IDCT, fancy upsampling, EXIF orientation
// NOT applied (Image.open does not rotate). The wasm is @cwasm/jpeg-turbo's (libjpeg-turbo 2.0.4, no SIMD, no
// arithmetic decoder), driven directly, synchronously, so it runs the same in loader worker threads.
// Files are untrusted. Before the decoder allocates anything, the marker walk here checks the frame header (SOF)
// — kind, precision, components, pixel count (image.ts) — and that each scan holds at least the data any JPEG
// of the declared size needs (a bound that flat images from libjpeg's optimised Huffman tables meet exactly): a
// 1 KB file declaring 12000x12000 is refused at once (52 MB peak RSS), not after 1-3 GB and seconds.
// Where this differs from Pillow (libjpeg-turbo 2.1 and later) by design of the older build: arithmetic coding
// (refused in one line), progressive files whose scans leave coefficients unrefined or uncoded (2.1 changed the
// block smoothing used for them: 3 % of bytes by 1-2 levels on a cjpeg -scans file, more on one cut short), and
// corrupt Huffman data that libjpeg only warns about (2.1 decodes it a little differently: 3 bytes in a test).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { limit, limitText } from '../util/limits.js';
import { DataError } from '../util/errors.js';

export interface JpegComponent { id: number; h: number; v: number }
export interface JpegFrame {
  sof: number;       // the SOFn marker byte: 0xC0 baseline, 0xC1 extended sequential, 0xC2 progressive, …
  precision: number; // bits per sample
  width: number;     // as stored (EXIF orientation is not applied)
  height: number;
  components: JpegComponent[];
}
export interface JpegScan { components: number[]; ss: number; bytes: number } // frame component indices; entropy-coded bytes
export interface JpegLayout { frame: JpegFrame; scans: JpegScan[]; eoi: boolean }

function u16be(b: Uint8Array, i: number): number { return (b[i]! << 8) | b[i + 1]!; }
const isRst = (m: number): boolean => m >= 0xd0 && m <= 0xd7;
/** SOF0..SOF15 less DHT (C4), JPG (C8) and DAC (CC). */
export const isSof = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

/** Parses a SOFn segment's payload (after the length). */
export function parseSof(sof: number, seg: Uint8Array): JpegFrame {
  const n = seg[5] ?? 0;
  if (seg.length < 6 + 3 * n) throw new Error('corrupt JPEG frame header (SOF shorter than its components)');
  const components = Array.from({ length: n }, (_, c) => ({ id: seg[6 + 3 * c]!, h: seg[7 + 3 * c]! >> 4, v: seg[7 + 3 * c]! & 15 }));
  return { sof, precision: seg[0]!, height: u16be(seg, 1), width: u16be(seg, 3), components };
}

/** Why libjpeg-turbo (as built here) or Pillow would not give RGB for this frame, or undefined. */
export function frameProblem(f: JpegFrame): string | undefined {
  const kind = `SOF${f.sof - 0xc0}`;
  if (f.sof === 0xc3 || f.sof === 0xcb) return `lossless JPEG (${kind}) is not supported`;
  if (f.sof >= 0xc9) return f.sof === 0xcd || f.sof === 0xce || f.sof === 0xcf
    ? `hierarchical JPEG (${kind}) is not supported`
    : `arithmetic-coded JPEG (${kind}) is not supported (the decoder has no arithmetic decoding; re-save it with Huffman coding)`;
  if (f.sof >= 0xc5) return `hierarchical JPEG (${kind}) is not supported`;
  if (f.precision !== 8) return `${f.precision}-bit JPEG samples are not supported (8-bit only, as Pillow)`;
  if (f.width === 0 || f.height === 0) return `JPEG frame of ${f.width}x${f.height} pixels (a zero size, or a height left to a DNL marker) is not supported`;
  if (f.components.length === 4) return 'CMYK JPEG (4 components) is not supported: convert it to RGB';
  if (f.components.length !== 1 && f.components.length !== 3) return `JPEG with ${f.components.length} colour components; expected 1 (greyscale) or 3 (colour)`;
  if (f.components.some((c) => c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4)) return 'corrupt JPEG frame header (sampling factors outside 1..4)';
  return undefined;
}

/** Position of the next marker (0xFF then a byte other than 0x00 stuffing or 0xFF fill) at or after pos, or -1. */
function nextMarker(b: Uint8Array, pos: number): number {
  for (;;) {
    const i = b.indexOf(0xff, pos);
    if (i < 0 || i + 1 >= b.length) return -1;
    const m = b[i + 1]!;
    if (m !== 0x00 && m !== 0xff) return i;
    pos = m === 0xff ? i + 1 : i + 2;
  }
}

function parseSos(seg: Uint8Array, frame: JpegFrame | undefined, at: number): Omit<JpegScan, 'bytes'> {
  if (!frame) throw new Error(`JPEG scan (SOS) at byte ${at} before any frame header (SOF)`);
  const n = seg[0] ?? 0;
  if (n < 1 || seg.length < 1 + 2 * n + 3) throw new Error(`corrupt JPEG scan header at byte ${at}`);
  const components = Array.from({ length: n }, (_, k) => {
    const c = frame.components.findIndex((fc) => fc.id === seg[1 + 2 * k]);
    if (c < 0) throw new Error(`JPEG scan at byte ${at} names component ${seg[1 + 2 * k]}, which the frame does not have`);
    return c;
  });
  return { components, ss: seg[1 + 2 * n]! };
}

/**
 * Walks every marker segment of an in-memory JPEG: the first frame header, each scan with the length of its
 * entropy-coded data (restart markers included), and whether an end-of-image marker closes it. Bytes between
 * segments that are not a marker are skipped, as libjpeg and Pillow skip them. Throws a plain Error (the reason).
 */
export function jpegLayout(b: Uint8Array): JpegLayout {
  let frame: JpegFrame | undefined;
  const scans: JpegScan[] = [];
  const done = (eoi: boolean): JpegLayout => {
    if (!frame) throw new Error('JPEG without a frame header (SOF)');
    return { frame, scans, eoi };
  };
  for (let pos = 2; ;) {
    const at = nextMarker(b, pos);
    if (at < 0) return done(false);
    const marker = b[at + 1]!;
    if (marker === 0xd9) return done(true);
    pos = at + 2;
    if (isRst(marker) || marker === 0x01 || marker === 0xd8) continue; // no length field
    if (pos + 2 > b.length || pos + u16be(b, pos) > b.length) return done(false);
    const len = u16be(b, pos);
    if (len < 2) throw new Error(`corrupt JPEG segment length ${len} at byte ${at}`);
    const seg = b.subarray(pos + 2, pos + len);
    pos += len;
    if (isSof(marker)) frame ??= parseSof(marker, seg); // libjpeg refuses a second one itself
    else if (marker === 0xda) {
      const scan = parseSos(seg, frame, at);
      let end = nextMarker(b, pos);
      while (end >= 0 && isRst(b[end + 1]!)) end = nextMarker(b, end + 2);
      if (end < 0) end = b.length;
      scans.push({ ...scan, bytes: end - pos });
      pos = end;
    }
  }
}

/** 8x8 blocks a scan codes: a lone component's own blocks, or whole MCUs when it interleaves several. */
function scanBlocks(f: JpegFrame, comps: number[]): number {
  const hmax = Math.max(...f.components.map((c) => c.h)), vmax = Math.max(...f.components.map((c) => c.v));
  if (comps.length === 1) {
    const c = f.components[comps[0]!]!;
    return Math.ceil(Math.ceil((f.width * c.h) / hmax) / 8) * Math.ceil(Math.ceil((f.height * c.v) / vmax) / 8);
  }
  const mcus = Math.ceil(f.width / (8 * hmax)) * Math.ceil(f.height / (8 * vmax));
  return mcus * comps.reduce((s, k) => s + f.components[k]!.h * f.components[k]!.v, 0);
}

/**
 * Why the scans cannot hold the image the frame declares, or undefined. Huffman codes are at least one bit: a
 * sequential scan codes a DC and at least one AC symbol (end of block) per block, a progressive DC scan one symbol
 * or one refinement bit per block, and every component needs its DC coded once. Only a truncated or forged file
 * falls short (libjpeg would warn and fill the rest with grey).
 */
function dataProblem(f: JpegFrame, scans: JpegScan[]): string | undefined {
  const declared = `declares ${f.width}x${f.height} pixels`;
  if (scans.length === 0) return `${declared} but has no scan (SOS)`;
  if (scans.length > limit('jpegScans')) return `has ${scans.length} scans, over ${limitText('jpegScans')}; each scan costs a pass over the image`;
  const perBlock = f.sof === 0xc2 ? 1 : 2;
  for (const [k, s] of scans.entries()) {
    if (s.ss !== 0) continue; // progressive AC scans may code a whole band in one end-of-band run
    const need = Math.ceil((scanBlocks(f, s.components) * perBlock) / 8);
    if (s.bytes < need) return `${declared} but its scan ${k + 1} holds ${s.bytes} bytes of image data where a JPEG of that size needs at least ${need}; truncated or corrupt (a decompression bomb?)`;
  }
  const missing = f.components.findIndex((_, c) => !scans.some((s) => s.ss === 0 && s.components.includes(c)));
  return missing >= 0 ? `${declared} but no scan codes component ${missing + 1}; truncated or corrupt` : undefined;
}

/**
 * What the decoder holds at once, in bytes: the file and the RGB output in wasm memory and, for a progressive or
 * multi-scan JPEG, libjpeg's whole-image coefficient buffers (64 16-bit values per block, rows and columns of
 * blocks rounded up to the sampling factors).
 */
export function jpegDecodeBytes(f: JpegFrame, fileBytes: number, multiScan: boolean): number {
  const hmax = Math.max(...f.components.map((c) => c.h)), vmax = Math.max(...f.components.map((c) => c.v));
  const round = (n: number, m: number): number => Math.ceil(n / m) * m;
  const blocks = f.components.reduce((s, c) =>
    s + round(Math.ceil((f.width * c.h) / (8 * hmax)), c.h) * round(Math.ceil((f.height * c.v) / (8 * vmax)), c.v), 0);
  return fileBytes + 3 * f.width * f.height + (multiScan ? 128 * blocks : 0);
}

/** Decodes a JPEG to 8-bit RGB [H, W, 3] as stored (no EXIF rotation); DataError naming the file otherwise. */
export function decodeJpeg(bytes: Uint8Array, file: string): { width: number; height: number; data: Uint8Array } {
  let layout: JpegLayout;
  try { layout = jpegLayout(bytes); } catch (e) { throw new DataError(`${file}: ${e instanceof Error ? e.message : String(e)}`); }
  const { frame: f, scans } = layout;
  const bad = frameProblem(f) ?? dataProblem(f, scans);
  if (bad) throw new DataError(`${file}: ${bad}`);
  // Pillow reads to the end-of-image marker and calls a file that ends first truncated (its default; libjpeg
  // alone would pad with grey).
  if (!layout.eoi) throw new DataError(`${file}: JPEG is truncated (no end-of-image marker after its last scan)`);
  const need = jpegDecodeBytes(f, bytes.length, f.sof === 0xc2 || scans.length > 1);
  if (need > limit('jpegMemoryMB') * 2 ** 20) {
    throw new DataError(`${file}: decoding this ${f.width}x${f.height} JPEG needs ${Math.ceil(need / 2 ** 20)} MB, over ${limitText('jpegMemoryMB')} MB`);
  }
  return turboDecode(bytes, f.width, f.height, file);
}

// ---- the wasm decoder -------------------------------------------------------------------------------------------

/** The exports of jpeg-turbo.wasm (pointers are offsets into its memory). */
interface TurboJpeg {
  memory: WebAssembly.Memory;
  malloc(n: number): number;
  free(p: number): void;
  tjInitDecompress(): number;
  tjDecompressHeader3(h: number, src: number, size: number, w: number, hh: number, sub: number, cs: number): number;
  tjDecompress2(h: number, src: number, size: number, dst: number, w: number, pitch: number, hh: number, pf: number, flags: number): number;
  tjDestroy(h: number): number;
}

const TJPF_RGB = 0;
/** An instance whose memory grew past this is dropped after the decode, so one huge image does not pin its memory. */
const KEEP_BYTES = 256 * 2 ** 20;
class LibjpegError extends Error {}

let wasmModule: WebAssembly.Module | undefined;
let live: TurboJpeg | undefined;

function turbo(): TurboJpeg {
  wasmModule ??= new WebAssembly.Module(readFileSync(createRequire(import.meta.url).resolve('@cwasm/jpeg-turbo/jpeg-turbo.wasm')));
  // Built without setjmp support: libjpeg's error exit calls longjmp, which throws here and unwinds the wasm
  // stack. The instance is then dropped (its stack pointer and heap are not to be trusted) and a fresh one made.
  const stop = (): never => { throw new LibjpegError('libjpeg error'); };
  live ??= new WebAssembly.Instance(wasmModule, {
    env: { setjmp: () => 0, longjmp: stop },
    wasi_snapshot_preview1: { proc_exit: stop, environ_sizes_get: () => 0, environ_get: stop, fd_close: stop, fd_seek: stop,
      fd_write: stop },
  }).exports as unknown as TurboJpeg;
  return live;
}

function turboDecode(bytes: Uint8Array, width: number, height: number, file: string): { width: number; height: number; data: Uint8Array } {
  const tj = turbo();
  const n = width * height * 3;
  let src = 0, dst = 0, handle = 0, dims = 0;
  try {
    [src, dst, dims, handle] = [tj.malloc(bytes.length), tj.malloc(n), tj.malloc(16), tj.tjInitDecompress()];
    if (!src || !dst || !dims || !handle) throw new DataError(`${file}: decoding this JPEG needs more memory than WebAssembly's 4 GiB`);
    new Uint8Array(tj.memory.buffer, src, bytes.length).set(bytes);
    // libjpeg must see the frame the walk saw; a different one would make TurboJPEG scale it down to fit.
    tj.tjDecompressHeader3(handle, src, bytes.length, dims, dims + 4, dims + 8, dims + 12);
    const [w, h] = new Int32Array(tj.memory.buffer, dims, 2);
    if (w !== width || h !== height) throw new LibjpegError(`frame ${w}x${h}`);
    // A non-zero return without a longjmp is a libjpeg warning (corrupt data, decoded anyway): Pillow takes those.
    tj.tjDecompress2(handle, src, bytes.length, dst, width, width * 3, height, TJPF_RGB, 0);
    return { width, height, data: new Uint8Array(tj.memory.buffer, dst, n).slice() };
  } catch (e) {
    live = undefined;
    if (e instanceof LibjpegError || e instanceof WebAssembly.RuntimeError) throw new DataError(`${file}: cannot decode JPEG: corrupt data`);
    throw e;
  } finally {
    if (live === tj) {
      tj.tjDestroy(handle); tj.free(dims); tj.free(dst); tj.free(src);
      if (tj.memory.buffer.byteLength > KEEP_BYTES) live = undefined;
    }
  }
}
