// Minimal zip reader for PyTorch's zip checkpoints (APPNOTE.TXT, PKWARE). Entries are located through the
// central directory (local headers may carry stale sizes when bit 3 is set); torch.save writes STORED
// entries, DEFLATE is supported via node:zlib; zip64 records are honoured when the 32-bit fields say so.
// The archive is untrusted: inflating stops at the member's declared size and at the archive's inflate budget
// (limits.ts) while it runs, and members whose records overlap (the "overlapping zip bomb") are refused.

import { crc32, inflateRawSync } from 'node:zlib';
import { CheckpointError } from '../util/errors.js';
import { limit, limitText } from '../util/limits.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc: number;
  /** Offset of the entry's local header in the archive. */
  localOffset: number;
}

export interface ZipArchive {
  entries: Map<string, ZipEntry>;
  /** The entry's uncompressed bytes (a view into the archive for stored entries), CRC-checked. */
  read(name: string): Uint8Array;
}

const SIG_EOCD = 0x06054b50, SIG_EOCD64 = 0x06064b50, SIG_LOC64 = 0x07064b50;
const SIG_CENTRAL = 0x02014b50, SIG_LOCAL = 0x04034b50;

/** True when the bytes start like a zip archive (a local header or an empty archive's end record). */
export function isZip(bytes: Uint8Array): boolean {
  if (bytes.byteLength < 4) return false;
  const sig = new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true);
  return sig === SIG_LOCAL || sig === SIG_EOCD;
}

/** Little-endian field reads over the archive, each bounds-failing with the file's name. */
interface Fields {
  bytes: Uint8Array; len: number;
  u16(at: number): number; u32(at: number): number; u64(at: number): number;
  fail(what: string): never;
}

function fields(bytes: Uint8Array, file: string): Fields {
  const fail = (what: string): never => { throw new CheckpointError(`${file}: ${what}`); };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { bytes, len: bytes.byteLength, fail, u16: (at) => dv.getUint16(at, true), u32: (at) => dv.getUint32(at, true),
    u64: (at) => {
      const v = dv.getBigUint64(at, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`zip64 field at ${at} too large`);
      return Number(v);
    } };
}

/** Where the central directory is and how many entries it has (from the end record, or its zip64 version). */
function endRecord(f: Fields): { count: number; cdSize: number; cdOffset: number } {
  const { len, u16, u32, u64, fail } = f;
  // The end-of-central-directory record sits in the last 22 + (≤ 65535 comment) bytes; scan backwards.
  let eocd = -1;
  for (let at = len - 22; at >= Math.max(0, len - 22 - 0xffff); at--) {
    if (u32(at) === SIG_EOCD && at + 22 + u16(at + 20) <= len) { eocd = at; break; }
  }
  if (eocd < 0) fail('not a zip archive (no end-of-central-directory record); truncated or corrupt');
  let count = u16(eocd + 10), cdSize = u32(eocd + 12), cdOffset = u32(eocd + 16);
  // Saturated 32/16-bit fields mean the real values live in the zip64 end record, found via its locator.
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== SIG_LOC64) fail('zip64 end-of-central-directory locator missing');
    const rec = u64(loc + 8);
    if (rec + 56 > len || u32(rec) !== SIG_EOCD64) fail('zip64 end-of-central-directory record missing');
    count = u64(rec + 32); cdSize = u64(rec + 40); cdOffset = u64(rec + 48);
  }
  if (cdOffset + cdSize > len) fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) beyond end of file (${len} bytes); truncated`);
  return { count, cdSize, cdOffset };
}

/** Central directory entry `i` at `at`: the entry and the offset of the next one. */
function centralEntry(f: Fields, at: number, i: number): { entry: ZipEntry; next: number } {
  const { bytes, len, u16, u32, u64, fail } = f;
  if (at + 46 > len || u32(at) !== SIG_CENTRAL) fail(`central directory entry ${i} is corrupt`);
  const flags = u16(at + 8), method = u16(at + 10), crc = u32(at + 16);
  let compressedSize = u32(at + 20), size = u32(at + 24), localOffset = u32(at + 42);
  const nameLen = u16(at + 28), extraLen = u16(at + 30), commentLen = u16(at + 32);
  if (at + 46 + nameLen + extraLen > len) fail(`central directory entry ${i} is truncated`);
  const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLen));
  // Zip64 extended information (id 0x0001) holds, in order, only the fields saturated above.
  for (let x = at + 46 + nameLen; x + 4 <= at + 46 + nameLen + extraLen;) {
    const id = u16(x), n = u16(x + 2);
    if (id === 0x0001) {
      let p = x + 4;
      const next = (): number => { if (p + 8 > x + 4 + n) fail(`entry '${name}': short zip64 extra field`); p += 8; return u64(p - 8); };
      if (size === 0xffffffff) size = next();
      if (compressedSize === 0xffffffff) compressedSize = next();
      if (localOffset === 0xffffffff) localOffset = next();
    }
    x += 4 + n;
  }
  if (flags & 1) fail(`entry '${name}' is encrypted`);
  if (method !== 0 && method !== 8) fail(`entry '${name}' uses compression method ${method} (only stored and deflate are supported)`);
  return { entry: { name, method, compressedSize, size, crc, localOffset }, next: at + 46 + nameLen + extraLen + commentLen };
}

/** Parses the central directory of a zip archive held in memory. `file` names the source in errors. */
export function openZip(bytes: Uint8Array, file = '<bytes>'): ZipArchive {
  const f = fields(bytes, file);
  const { len, u16, u32, fail } = f;
  const { count, cdOffset } = endRecord(f);
  const entries = new Map<string, ZipEntry>();
  for (let i = 0, at = cdOffset; i < count; i++) {
    const { entry, next } = centralEntry(f, at, i);
    entries.set(entry.name, entry);
    at = next;
  }
  checkNoOverlap([...entries.values()], cdOffset, fail);

  let inflated = 0; // bytes inflated so far from this archive, against limits.ts zipInflateBytes
  function inflate(e: ZipEntry, raw: Uint8Array): Uint8Array {
    const budget = limit('zipInflateBytes') - inflated;
    if (e.size > budget) fail(`entry '${e.name}' would inflate to ${e.size} bytes, past ${limitText('zipInflateBytes')} for the archive (${inflated} used)`);
    try {
      // maxOutputLength stops zlib as soon as the output passes the declared size, instead of after the bomb.
      const out = inflateRawSync(raw, { maxOutputLength: Math.max(1, e.size) });
      inflated += out.byteLength;
      return out;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') fail(`entry '${e.name}' inflates past its declared ${e.size} bytes; corrupt or a zip bomb`);
      return fail(`entry '${e.name}': deflate data corrupt (${(err as Error).message})`);
    }
  }

  function read(name: string): Uint8Array {
    const e = entries.get(name);
    if (e === undefined) return fail(`missing zip entry '${name}'`);
    if (e.localOffset + 30 > len || u32(e.localOffset) !== SIG_LOCAL) fail(`entry '${name}': bad local header`);
    const start = e.localOffset + 30 + u16(e.localOffset + 26) + u16(e.localOffset + 28);
    if (start + e.compressedSize > len) fail(`entry '${name}' runs past end of file; truncated`);
    const raw = bytes.subarray(start, start + e.compressedSize);
    const out = e.method === 8 ? inflate(e, raw) : raw;
    if (out.byteLength !== e.size) fail(`entry '${name}': ${out.byteLength} bytes, central directory says ${e.size}`);
    if (crc32(out) >>> 0 !== e.crc) fail(`entry '${name}': CRC mismatch; file corrupt`);
    return out;
  }
  return { entries, read };
}

/**
 * Refuses members whose records overlap one another or the central directory: a zip bomb reuses one
 * compressed record under many names (each read would inflate, or copy, the same bytes again).
 * Each record spans at least its 30-byte local header plus its compressed data.
 */
function checkNoOverlap(list: ZipEntry[], cdOffset: number, fail: (what: string) => never): void {
  const sorted = [...list].sort((a, b) => a.localOffset - b.localOffset);
  sorted.forEach((e, i) => {
    const next = sorted[i + 1];
    if (e.localOffset + 30 + e.compressedSize > (next?.localOffset ?? cdOffset)) {
      fail(`entry '${e.name}' overlaps ${next === undefined ? 'the central directory' : `entry '${next.name}'`}; corrupt or a zip bomb`);
    }
  });
}
