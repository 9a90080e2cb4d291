// safetensors read/write (https://github.com/huggingface/safetensors, "Format" section):
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data]
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
// start) plus an optional "__metadata__" string→string map. It is our own checkpoint format: simple,
// no code execution, and readable by the Python safetensors package.
// Read as strictly as the reference Rust reader (safetensors/src/tensor.rs, `validate`): tensors tile the data
// exactly (no overlap, no hole, no trailing bytes), keys are unique, element counts are checked products.

import { readFileSync } from 'node:fs';
import { DTYPE_SIZE, numel, type DType, type HostTensor } from '../torch/dtype.js';
import { CheckpointError, ClanError } from '../util/errors.js';
import { atomicWrite } from '../util/atomic.js';
import { arrayBytes, bytesToArray } from './hostarray.js';
import { limit, limitText } from '../util/limits.js';

export type TensorMap = Map<string, HostTensor> | Record<string, HostTensor>;
export interface Safetensors {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const TO_ST: Record<DType, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'BOOL',
};
const FROM_ST = new Map<string, DType>(Object.entries(TO_ST).map(([d, s]) => [s, d as DType]));

function entries(tensors: TensorMap): [string, HostTensor][] {
  return tensors instanceof Map ? [...tensors] : Object.entries(tensors);
}

/**
 * Serialises tensors. Like the reference writer, tensors are laid out by element size (largest first)
 * then name, and the header is space-padded to a multiple of 8, so every tensor is aligned in the file.
 */
export function encodeSafetensors(tensors: TensorMap, metadata: Record<string, string> = {}): Uint8Array {
  const list = entries(tensors).sort(([a, ta], [b, tb]) =>
    DTYPE_SIZE[tb.dtype] - DTYPE_SIZE[ta.dtype] || (a < b ? -1 : a > b ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new CheckpointError(`safetensors: tensor name '__metadata__' is reserved`);
    const n = numel(t.shape);
    if (t.data.length !== n) throw new CheckpointError(`safetensors: tensor '${name}' has ${t.data.length} elements for shape [${t.shape}]`);
    const size = n * DTYPE_SIZE[t.dtype];
    header[name] = { dtype: TO_ST[t.dtype], shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const [, t] of list) {
    out.set(arrayBytes(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}

type Fail = (what: string) => never;

/**
 * Parses safetensors bytes. Tensor data are views into `bytes` where aligned (copies otherwise), so the
 * caller must not reuse the buffer. `file` only names the source in error messages.
 */
export function decodeSafetensors(bytes: Uint8Array, file = '<bytes>'): Safetensors {
  // Explicitly typed so TypeScript narrows after `fail(...)` calls.
  const fail: Fail = (what) => { throw new CheckpointError(`${file}: ${what}`); };
  const { header, dataStart } = parseHeader(bytes, fail);
  const data = bytes.subarray(dataStart);
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, HostTensor>();
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') {
      Object.assign(metadata, parseMetadata(raw, fail));
      continue;
    }
    const { dtype, shape, begin, end, count } = parseEntry(name, raw, data.byteLength, fail);
    tensors.set(name, { dtype, shape, data: bytesToArray(dtype, data.subarray(begin, end), count) });
    spans.push([begin, end, name]);
  }
  checkTiling(spans, data.byteLength, fail);
  return { tensors, metadata };
}

/** The JSON header (an object with unique top-level keys) and where the data start. */
function parseHeader(bytes: Uint8Array, fail: Fail): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.byteLength < 8) fail(`too short for a safetensors header (${bytes.byteLength} bytes)`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(limit('safetensorsHeaderBytes'))) fail(`header length ${n} is over ${limitText('safetensorsHeaderBytes')}; corrupt or not safetensors`);
  if (n > BigInt(bytes.byteLength - 8)) fail(`header length ${n} exceeds the file (${bytes.byteLength} bytes); truncated or not safetensors`);
  const dataStart = 8 + Number(n);
  // The reference reader refuses a header that does not begin with '{' (InvalidHeaderStart): no BOM, no leading
  // whitespace. TextDecoder would strip a BOM silently and JSON.parse skips whitespace, so check the byte itself.
  if (n === 0n || bytes[8] !== 0x7b) fail(`header starts with ${headerStart(bytes.subarray(8, dataStart))}; expected '{' (a JSON object, as the reference reader)`);
  let text = '', header: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, dataStart));
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  // JSON.parse keeps the last of duplicate keys; the reference reader refuses them, and so do we.
  const seen = new Set<string>();
  for (const key of topLevelKeys(text)) {
    if (seen.has(key)) fail(key === '__metadata__' ? 'header has __metadata__ twice' : `header has tensor '${key}' twice`);
    seen.add(key);
  }
  return { header: header as Record<string, unknown>, dataStart };
}

/** What a header begins with, for the message: nothing, a UTF-8 byte-order mark, or its first byte. */
function headerStart(h: Uint8Array): string {
  if (h.length === 0) return 'nothing (length 0)';
  if (h[0] === 0xef && h[1] === 0xbb && h[2] === 0xbf) return 'a UTF-8 byte-order mark (ef bb bf)';
  return `byte 0x${h[0]!.toString(16).padStart(2, '0')}`;
}

/**
 * The top-level keys of a JSON object text, in order and with duplicates. The text already parsed, so a
 * scan that tracks nesting and skips strings suffices; keys are decoded by JSON.parse (escapes compare equal).
 */
export function topLevelKeys(json: string): string[] {
  const keys: string[] = [];
  let depth = 0, expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22) { // '"': find the closing quote, skipping escaped characters
      let j = i + 1;
      while (json.charCodeAt(j) !== 0x22) j += json.charCodeAt(j) === 0x5c ? 2 : 1;
      if (depth === 1 && expectKey) keys.push(JSON.parse(json.slice(i, j + 1)) as string);
      expectKey = false;
      i = j;
    } else if (c === 0x7b || c === 0x5b) { depth++; expectKey = depth === 1; } // '{' '['
    else if (c === 0x7d || c === 0x5d) depth--; // '}' ']'
    else if (c === 0x2c && depth === 1) expectKey = true; // ','
  }
  return keys;
}

function parseMetadata(raw: unknown, fail: Fail): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
    out[k] = v as string;
  }
  return out;
}

/** One tensor's header entry, checked against the data: dtype, shape (a safe element count), offsets, size. */
function parseEntry(name: string, raw: unknown, dataBytes: number, fail: Fail) {
  const info = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const dtype = FROM_ST.get(String(info.dtype));
  if (dtype === undefined) return fail(`tensor '${name}': unsupported dtype ${JSON.stringify(info.dtype)} (expected one of ${[...FROM_ST.keys()].join(', ')})`);
  const shape = info.shape;
  if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) fail(`tensor '${name}': shape must be a list of non-negative integers`);
  // Checked products (the reference uses checked_mul): an absurd shape must not wrap into a plausible size.
  let count = 1;
  for (const s of shape as number[]) count = Number.isSafeInteger(count * s) ? count * s : fail(`tensor '${name}': shape [${shape}] has too many elements`);
  const size = count * DTYPE_SIZE[dtype];
  if (!Number.isSafeInteger(size)) fail(`tensor '${name}': shape [${shape}] has too many elements`);
  const offs = info.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) fail(`tensor '${name}': data_offsets must be [begin, end]`);
  const [begin, end] = offs as [number, number];
  if (begin > end || end > dataBytes) fail(`tensor '${name}': data_offsets [${begin}, ${end}] out of range (data is ${dataBytes} bytes)`);
  if (end - begin !== size) fail(`tensor '${name}': ${end - begin} bytes but shape [${shape}] of ${info.dtype} needs ${size}`);
  return { dtype, shape: [...(shape as number[])], begin, end, count };
}

/** Tensors must tile the data exactly: overlaps would alias, holes and trailing bytes hide data (as the reference). */
function checkTiling(spans: [number, number, string][], dataBytes: number, fail: Fail): void {
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let at = 0, prev = '';
  for (const [begin, end, name] of spans) {
    if (begin < at) fail(`tensors '${prev}' and '${name}' overlap`);
    if (begin > at) fail(`${begin - at} bytes of data before tensor '${name}' belong to no tensor (a hole at [${at}, ${begin}))`);
    at = end;
    prev = name;
  }
  if (at !== dataBytes) fail(`${dataBytes - at} trailing bytes after the last tensor (data is ${dataBytes} bytes, tensors end at ${at})`);
}

/** Reads a .safetensors file (see decodeSafetensors). */
export function readSafetensorsFile(path: string): Safetensors {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return decodeSafetensors(bytes, path);
}

/** Writes a .safetensors file atomically (util/atomic.ts): a crash mid-write never leaves half a file under `path`. */
export function writeSafetensorsFile(path: string, tensors: TensorMap, metadata: Record<string, string> = {}): void {
  const bytes = encodeSafetensors(tensors, metadata);
  try {
    atomicWrite(path, bytes);
  } catch (e) {
    throw new CheckpointError(e instanceof ClanError ? e.message : `${path}: cannot write (${(e as Error).message})`);
  }
}
