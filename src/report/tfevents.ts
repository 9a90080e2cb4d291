// TensorBoard event files, written and read without TensorFlow. An events file is a sequence of TFRecords:
//
//   uint64 LE length | uint32 LE masked CRC-32C of those 8 bytes | data | uint32 LE masked CRC-32C of data
//
// (tensorflow/core/lib/io/record_writer.cc; the mask keeps a CRC of data that itself holds CRCs from being
// trivially zero). Each data block is a protobuf `Event`; we hand-encode only the fields we use
// (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto):
//
//   Event         { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5;
//                   SessionLog session_log = 6; }
//   SessionLog    { SessionStatus status = 1; }   (START = 1: TensorBoard drops earlier events at steps ≥ this one)
//   Summary       { repeated Value value = 1; }
//   Summary.Value { string tag = 1; float simple_value = 2; Image image = 4; }
//   Summary.Image { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
//
// A field is a varint key (field_number << 3 | wire_type) then its value: wire 0 varint, 1 fixed64 (LE double),
// 2 varint length + bytes (strings, messages), 5 fixed32 (LE float). The first record of a file is an Event
// carrying only file_version "brain.Event:2". TensorBoard merges every events file in a folder, so a resumed
// run opens a new file rather than appending to an old one.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ClanError, DataError } from '../util/errors.js';

export interface TfImage { width: number; height: number; colorspace: number; png: Uint8Array }
export interface TfValue { tag: string; simpleValue?: number; image?: TfImage }
export interface TfEvent { wallTime: number; step: number; fileVersion?: string; sessionStart?: boolean; values: TfValue[] }

// CRC-32C (Castagnoli), reflected polynomial 0x82F63B78, one table lookup per byte.
const TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  return c;
});

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15, add a constant (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0;
}

// ---- protobuf encoding ----

function varint(n: number): number[] {
  const out: number[] = [];
  // Division, not >>>: steps may exceed 2^32.
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return out;
}

const varintField = (field: number, n: number): Buffer => Buffer.from([field << 3, ...varint(n)]);
const bytesField = (field: number, body: Uint8Array | string): Buffer => {
  const b = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(b.length)]), b]);
};

function encodeEvent(wallTime: number, step: number, fileVersion: string | undefined, values: Buffer[], sessionStart = false): Buffer {
  const time = Buffer.alloc(9);
  time[0] = (1 << 3) | 1;
  time.writeDoubleLE(wallTime, 1);
  const parts: Buffer[] = [time];
  if (step !== 0) parts.push(varintField(2, step)); // proto3 leaves a zero scalar out
  if (fileVersion !== undefined) parts.push(bytesField(3, fileVersion));
  if (values.length > 0) parts.push(bytesField(5, Buffer.concat(values.map((v) => bytesField(1, v)))));
  if (sessionStart) parts.push(bytesField(6, varintField(1, 1)));
  return Buffer.concat(parts);
}

function scalarValue(tag: string, value: number): Buffer {
  const f = Buffer.alloc(5);
  f[0] = (2 << 3) | 5;
  f.writeFloatLE(value, 1); // float32 keeps NaN and ±Inf
  return Buffer.concat([bytesField(1, tag), f]);
}

/** One TFRecord around `data`. */
function frame(data: Uint8Array): Buffer {
  const out = Buffer.alloc(data.length + 16);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return out;
}

// ---- writer ----

export class TfEventsWriter {
  /** The events file this writer appends to. */
  readonly path: string;
  private fd: number | undefined;

  constructor(dir: string, opts: { suffix?: string } = {}) {
    const suffix = opts.suffix === undefined ? '' : `.${opts.suffix.replace(/^\./, '')}`;
    if (/[/\\]/.test(suffix)) throw new ClanError(`TfEventsWriter: suffix "${opts.suffix}" has a path separator; expected a file-name part`);
    mkdirSync(dir, { recursive: true });
    const now = Date.now() / 1000;
    this.path = join(dir, `events.out.tfevents.${String(Math.floor(now)).padStart(10, '0')}.${hostname()}${suffix}`);
    // 'ax': two writers with the same name in the same second would interleave records in one file.
    try {
      this.fd = openSync(this.path, 'ax');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      throw new ClanError(`${this.path}: already exists; expected a new events file (pass a distinct suffix)`);
    }
    this.append(encodeEvent(now, 0, 'brain.Event:2', []));
  }

  scalar(tag: string, value: number, step: number, wallTime?: number): void {
    this.scalars(step, { [tag]: value }, wallTime);
  }

  /** Several scalars in one Event (one Summary with a Value per tag). */
  scalars(step: number, record: Record<string, number>, wallTime?: number): void {
    this.event(step, wallTime, Object.entries(record).map(([tag, v]) => scalarValue(tag, v)));
  }

  /** A PNG image; colorspace as in Summary.Image: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  image(tag: string, png: Uint8Array, width: number, height: number, step: number, wallTime?: number, colorspace: 1 | 2 | 3 | 4 = 3): void {
    for (const [k, v] of [['width', width], ['height', height]] as const) {
      if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) throw new ClanError(`TfEventsWriter.image "${tag}": ${k} = ${v}; expected a positive int32`);
    }
    const img = Buffer.concat([varintField(1, height), varintField(2, width), varintField(3, colorspace), bytesField(4, png)]);
    this.event(step, wallTime, [Buffer.concat([bytesField(1, tag), bytesField(4, img)])]);
  }

  /**
   * A SessionLog START at `step` (what PyTorch's SummaryWriter(purge_step=…) writes): TensorBoard forgets this run's
   * events at steps ≥ `step` from earlier files, so a resumed run's repeated steps are not drawn twice.
   */
  sessionStart(step: number, wallTime?: number): void {
    if (!Number.isSafeInteger(step) || step < 0) throw new ClanError(`${this.path}: step = ${step}; expected a non-negative integer`);
    this.append(encodeEvent(wallTime ?? Date.now() / 1000, step, undefined, [], true));
  }

  /** Writes are unbuffered (writeSync); flush makes them durable on disk. */
  flush(): void {
    if (this.fd !== undefined) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }

  private event(step: number, wallTime: number | undefined, values: Buffer[]): void {
    if (!Number.isSafeInteger(step) || step < 0) throw new ClanError(`${this.path}: step = ${step}; expected a non-negative integer`);
    const t = wallTime ?? Date.now() / 1000;
    if (!Number.isFinite(t)) throw new ClanError(`${this.path}: wallTime = ${t}; expected seconds since the epoch`);
    this.append(encodeEvent(t, step, undefined, values));
  }

  // One writeSync per record: a killed process leaves at most one torn record at the end, which readers skip.
  private append(data: Buffer): void {
    if (this.fd === undefined) throw new ClanError(`${this.path}: writer is closed; expected writes before close()`);
    const rec = frame(data);
    for (let off = 0; off < rec.length;) off += writeSync(this.fd, rec, off);
  }
}

// ---- reader ----

interface Field { no: number; wire: number; int: number; bytes: Buffer }

/** The fields of one protobuf message, in order; unknown ones are returned too and skipped by the caller. */
function fields(b: Buffer, where: string): Field[] {
  const bad = (why: string): DataError => new DataError(`${where}: malformed protobuf (${why}); expected a TensorFlow Event`);
  let p = 0;
  const varintAt = (): number => {
    for (let v = 0, scale = 1; scale < 2 ** 70; scale *= 0x80) {
      if (p >= b.length) throw bad('varint runs past the end');
      const x = b[p++]!;
      v += (x & 0x7f) * scale;
      if (x < 0x80) return v;
    }
    throw bad('varint longer than 10 bytes');
  };
  const out: Field[] = [];
  while (p < b.length) {
    const key = varintAt();
    const no = Math.floor(key / 8), wire = key % 8;
    if (wire === 0) { out.push({ no, wire, int: varintAt(), bytes: b.subarray(0, 0) }); continue; }
    const n = wire === 1 ? 8 : wire === 5 ? 4 : wire === 2 ? varintAt() : -1;
    if (n < 0) throw bad(`field ${no} has wire type ${wire}`);
    if (p + n > b.length) throw bad(`field ${no} runs past the end`);
    out.push({ no, wire, int: 0, bytes: b.subarray(p, p + n) });
    p += n;
  }
  return out;
}

function decodeValue(b: Buffer, where: string): TfValue {
  const v: TfValue = { tag: '' };
  for (const f of fields(b, where)) {
    if (f.no === 1 && f.wire === 2) v.tag = f.bytes.toString('utf8');
    else if (f.no === 2 && f.wire === 5) v.simpleValue = f.bytes.readFloatLE(0);
    else if (f.no === 4 && f.wire === 2) {
      const img: TfImage = { width: 0, height: 0, colorspace: 0, png: new Uint8Array(0) };
      for (const g of fields(f.bytes, where)) {
        if (g.wire === 0 && g.no >= 1 && g.no <= 3) img[(['height', 'width', 'colorspace'] as const)[g.no - 1]!] = g.int;
        else if (g.no === 4 && g.wire === 2) img.png = new Uint8Array(g.bytes); // a copy, not a view of the file
      }
      v.image = img;
    }
  }
  return v;
}

function decodeEvent(b: Buffer, where: string): TfEvent {
  const ev: TfEvent = { wallTime: 0, step: 0, values: [] };
  for (const f of fields(b, where)) {
    if (f.no === 1 && f.wire === 1) ev.wallTime = f.bytes.readDoubleLE(0);
    else if (f.no === 2 && f.wire === 0) ev.step = f.int >= 2 ** 63 ? f.int - 2 ** 64 : f.int; // int64 two's complement
    else if (f.no === 3 && f.wire === 2) ev.fileVersion = f.bytes.toString('utf8');
    else if (f.no === 5 && f.wire === 2) {
      for (const s of fields(f.bytes, where)) if (s.no === 1 && s.wire === 2) ev.values.push(decodeValue(s.bytes, where));
    } else if (f.no === 6 && f.wire === 2) {
      if (fields(f.bytes, where).some((g) => g.no === 1 && g.wire === 0 && g.int === 1)) ev.sessionStart = true;
    }
  }
  return ev;
}

/** Every Event in an events file, both CRCs checked; a torn last record (a killed writer) is ignored, as TensorBoard does. */
export function readTfEvents(path: string): TfEvent[] {
  const buf = readFileSync(path);
  const events: TfEvent[] = [];
  let off = 0;
  while (buf.length - off >= 12) { // fewer bytes left: a torn header
    const where = `${path}: record at byte ${off}`;
    if (buf.readUInt32LE(off + 8) !== maskedCrc32c(buf.subarray(off, off + 8))) throw new DataError(`${where}: length CRC mismatch; expected an intact TFRecord`);
    const len = Number(buf.readBigUInt64LE(off));
    if (len > buf.length - off - 16) break; // torn data
    const data = buf.subarray(off + 12, off + 12 + len);
    if (buf.readUInt32LE(off + 12 + len) !== maskedCrc32c(data)) throw new DataError(`${where}: data CRC mismatch; expected an intact TFRecord`);
    events.push(decodeEvent(data, where));
    off += 16 + len;
  }
  return events;
}
