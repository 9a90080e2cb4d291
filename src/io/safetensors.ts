// safetensors read/write (https://github.com/huggingface/safetensors, "Format" section):
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data]
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
// start) plus an optional "__metadata__" string→string map. It is our own checkpoint format: simple,
// no code execution, and readable by the Python safetensors package.

import { readFileSync } from 'node:fs';
import { DTYPE_SIZE, numel, type DType, type HostTensor } from '../torch/dtype.js';
import { CheckpointError } from '../util/errors.js';
import { atomicWrite } from '../util/atomic.js';
import { arrayBytes, bytesToArray } from './hostarray.js';

export type TensorMap = Map<string, HostTensor> | Record<string, HostTensor>;
export interface Safetensors {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const TO_ST: Record<DType, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', uint8: 'U8', bool: 'BOOL',
};
const FROM_ST = new Map<string, DType>(Object.entries(TO_ST).map(([d, s]) => [s, d as DType]));
// The reference implementation refuses headers above 100 MB; a bigger one means a corrupt length.
const MAX_HEADER = 100_000_000;

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

/**
 * Parses safetensors bytes. Tensor data are views into `bytes` where aligned (copies otherwise), so the
 * caller must not reuse the buffer. `file` only names the source in error messages.
 */
export function decodeSafetensors(bytes: Uint8Array, file = '<bytes>'): Safetensors {
  // Explicitly typed so TypeScript narrows after `fail(...)` calls.
  const fail: (what: string) => never = (what) => { throw new CheckpointError(`${file}: ${what}`); };
  if (bytes.byteLength < 8) fail(`too short for a safetensors header (${bytes.byteLength} bytes)`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(bytes.byteLength - 8) || n > BigInt(MAX_HEADER)) fail(`header length ${n} exceeds the file (${bytes.byteLength} bytes); truncated or not safetensors`);
  const dataStart = 8 + Number(n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart)));
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const data = bytes.subarray(dataStart);
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, HostTensor>();
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
    const dtype = FROM_ST.get(String(info.dtype));
    if (dtype === undefined) fail(`tensor '${name}': unsupported dtype ${JSON.stringify(info.dtype)} (expected one of ${[...FROM_ST.keys()].join(', ')})`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) fail(`tensor '${name}': shape must be a list of non-negative integers`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0)) fail(`tensor '${name}': data_offsets must be [begin, end]`);
    const [begin, end] = offs as [number, number];
    if (begin > end || end > data.byteLength) fail(`tensor '${name}': data_offsets [${begin}, ${end}] out of range (data is ${data.byteLength} bytes)`);
    const count = numel(shape as number[]);
    if (end - begin !== count * DTYPE_SIZE[dtype]) fail(`tensor '${name}': ${end - begin} bytes but shape [${shape}] of ${info.dtype} needs ${count * DTYPE_SIZE[dtype]}`);
    tensors.set(name, { dtype: dtype, shape: [...(shape as number[])], data: bytesToArray(dtype, data.subarray(begin, end), count) });
    spans.push([begin, end, name]);
  }
  // Overlapping tensors would alias each other's data: the reference reader rejects them too.
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) fail(`tensors '${spans[i - 1][2]}' and '${spans[i][2]}' overlap`);
  }
  return { tensors, metadata };
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
    throw new CheckpointError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}
