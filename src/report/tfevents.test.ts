import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode, encode } from 'fast-png';
import { ClanError, DataError } from '../util/errors.js';
import { crc32c, maskedCrc32c, readTfEvents, TfEventsWriter } from './tfevents.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'clan-tfevents-'));
}
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];

test('crc32c: RFC 3720 check values; the TFRecord mask by hand', () => {
  assert.equal(crc32c(Buffer.from('123456789', 'ascii')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(new Uint8Array(0)), 0);
  // 0xE3069283 >>> 15 = 0x0001C60D; 0xE3069283 << 17 = 0x25060000 (mod 2^32); OR = 0x2507C60D;
  // + 0xA282EAD8 = 0xC78AB0E5 (no carry out).
  assert.equal(maskedCrc32c(Buffer.from('123456789', 'ascii')), 0xc78ab0e5);
});

test('writer: one scalar event is the exact TFRecord derived by hand', () => {
  const dir = tmp();
  try {
    const w = new TfEventsWriter(dir);
    w.scalar('loss/seg', 0.5, 3, 1.5);
    w.close();
    const bytes = readFileSync(w.path);
    const value = [
      0x0a, 8, ...Buffer.from('loss/seg'), // Value.tag: field 1, wire 2, length 8
      0x15, 0x00, 0x00, 0x00, 0x3f,        // Value.simple_value: field 2, wire 5; 0.5f = 0x3F000000 LE
    ];
    const data = [
      0x09, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f,  // Event.wall_time: field 1, wire 1; 1.5 = 0x3FF8000000000000 LE
      0x10, 0x03,                          // Event.step: field 2, wire 0, varint 3
      0x2a, 2 + value.length,              // Event.summary: field 5, wire 2, length 17
      0x0a, value.length, ...value,        // Summary.value: field 1, wire 2, length 15
    ];
    assert.equal(data.length, 30);
    // The two masked CRCs come from an independent bit-by-bit CRC-32C (not this module's table).
    const record = [30, 0, 0, 0, 0, 0, 0, 0, ...u32(0x3212dcd9), ...data, ...u32(0x7af782ad)];
    assert.deepEqual([...bytes.subarray(bytes.length - record.length)], record);
    // The file_version record comes first and is the only other one: wall_time (9 bytes) + file_version (15), no
    // step field (proto3 leaves 0 out).
    const first = bytes.length - record.length;
    assert.equal(first, 16 + 24);
    assert.equal(Number(bytes.readBigUInt64LE(0)), 24);
    assert.equal(bytes[12], 0x09);
    assert.deepEqual([...bytes.subarray(first - 4 - 15, first - 4)], [0x1a, 13, ...Buffer.from('brain.Event:2')]); // field 3, wire 2
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer/reader: scalars, several tags per event, non-finite values and an image round-trip', () => {
  const dir = tmp();
  try {
    const w = new TfEventsWriter(dir, { suffix: 'run' });
    assert.match(w.path, new RegExp(`events\\.out\\.tfevents\\.\\d{10}\\.${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.run$`));
    const rgba = new Uint8Array([255, 0, 0, 255, 0, 255, 0, 128]); // 2×1 RGBA
    const png = encode({ width: 2, height: 1, channels: 4, depth: 8, data: rgba });
    w.scalars(0, { 'loss/seg': 0.1, 'loss/adv': 1 / 3 }, 100.25);
    w.scalar('lr', 2.5e-4, 2 ** 40, 101);
    w.scalars(7, { nan: NaN, inf: Infinity, big: 1e39 }, 102);
    w.image('pred', png, 2, 1, 7, 103, 4);
    w.flush();
    w.close();
    w.close(); // a second close is a no-op
    assert.throws(() => w.scalar('x', 1, 1), (e: unknown) => e instanceof ClanError && /writer is closed/.test(e.message));
    const ev = readTfEvents(w.path);
    assert.equal(ev.length, 5);
    assert.equal(ev[0]!.fileVersion, 'brain.Event:2');
    assert.equal(ev[0]!.step, 0);
    assert.deepEqual(ev[0]!.values, []);
    assert.ok(Math.abs(ev[0]!.wallTime - Date.now() / 1000) < 3600);
    assert.deepEqual(ev.slice(1, 4), [
      { wallTime: 100.25, step: 0, values: [{ tag: 'loss/seg', simpleValue: Math.fround(0.1) }, { tag: 'loss/adv', simpleValue: Math.fround(1 / 3) }] },
      { wallTime: 101, step: 2 ** 40, values: [{ tag: 'lr', simpleValue: Math.fround(2.5e-4) }] },
      { wallTime: 102, step: 7, values: [{ tag: 'nan', simpleValue: NaN }, { tag: 'inf', simpleValue: Infinity }, { tag: 'big', simpleValue: Infinity }] },
    ]);
    assert.deepEqual(ev[4], { wallTime: 103, step: 7, values: [{ tag: 'pred', image: { width: 2, height: 1, colorspace: 4, png } }] });
    assert.deepEqual([...decode(ev[4]!.values[0]!.image!.png).data], [...rgba]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer: rejects a negative or fractional step and a bad image size', () => {
  const dir = tmp();
  try {
    const w = new TfEventsWriter(dir);
    for (const step of [-1, 1.5, NaN]) {
      assert.throws(() => w.scalar('x', 1, step), (e: unknown) => e instanceof ClanError && new RegExp(`step = ${step}; expected a non-negative integer`).test(e.message));
    }
    assert.throws(() => w.image('im', new Uint8Array(1), 0, 1, 0), (e: unknown) => e instanceof ClanError && /"im": width = 0; expected a positive int32/.test(e.message));
    w.close();
    assert.equal(readTfEvents(w.path).length, 1); // nothing but file_version was written
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reader: a flipped byte names the file and record offset; a torn last record is ignored', () => {
  const dir = tmp();
  try {
    const w = new TfEventsWriter(dir);
    for (let s = 1; s <= 3; s++) w.scalar('loss', s, s, s);
    w.close();
    const good = readFileSync(w.path);
    const sizes = readTfEvents(w.path).length;
    assert.equal(sizes, 4);
    const second = 16 + Number(good.readBigUInt64LE(0)); // byte offset of the 2nd record
    const flip = (at: number): void => { const b = Buffer.from(good); b[at]! ^= 0x10; writeFileSync(w.path, b); };
    flip(second + 12 + 5); // inside its data
    assert.throws(() => readTfEvents(w.path), (e: unknown) => e instanceof DataError && e.message === `${w.path}: record at byte ${second}: data CRC mismatch; expected an intact TFRecord`);
    flip(second + 1); // inside its length
    assert.throws(() => readTfEvents(w.path), (e: unknown) => e instanceof DataError && e.message === `${w.path}: record at byte ${second}: length CRC mismatch; expected an intact TFRecord`);
    for (const cut of [1, 4, 20, 35]) { // the last record is 42 bytes: torn CRC, no CRC, torn data, torn header
      writeFileSync(w.path, good);
      truncateSync(w.path, good.length - cut);
      assert.deepEqual(readTfEvents(w.path).map((e) => e.step), [0, 1, 2], `cut ${cut}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reader: skips unknown fields of every wire type (as real TensorFlow files have)', () => {
  const dir = tmp();
  try {
    const value = [0x0a, 1, 0x61, 0x4a, 2, 0x08, 0x01, 0x15, 0, 0, 0x80, 0x3f]; // tag "a", metadata (9) {1}, 1.0f
    const data = [0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0x10, 0xac, 0x02, 0x38, 0x05, 0x41, 1, 2, 3, 4, 5, 6, 7, 8, 0x4d, 1, 2, 3, 4,
      0x2a, 2 + value.length, 0x0a, value.length, ...value];
    const head = Buffer.alloc(8);
    head.writeBigUInt64LE(BigInt(data.length));
    const path = join(dir, 'events.out.tfevents.0000000000.x');
    writeFileSync(path, Buffer.from([...head, ...u32(maskedCrc32c(head)), ...data, ...u32(maskedCrc32c(Buffer.from(data)))]));
    assert.deepEqual(readTfEvents(path), [{ wallTime: 1, step: 300, values: [{ tag: 'a', simpleValue: 1 }] }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer: two writers in one folder make two readable files; a name clash is refused', () => {
  const dir = tmp();
  try {
    const a = new TfEventsWriter(dir, { suffix: 'a' });
    const b = new TfEventsWriter(join(dir), { suffix: '.b' });
    a.scalar('x', 1, 1, 10);
    b.scalar('x', 2, 2, 20);
    a.close();
    b.close();
    assert.deepEqual(readdirSync(dir).map((f) => f.slice(-2)).sort(), ['.a', '.b']);
    assert.deepEqual(readTfEvents(a.path).slice(1), [{ wallTime: 10, step: 1, values: [{ tag: 'x', simpleValue: 1 }] }]);
    assert.deepEqual(readTfEvents(b.path).slice(1), [{ wallTime: 20, step: 2, values: [{ tag: 'x', simpleValue: 2 }] }]);
    // Files for this second and the next two already exist: the writer must not append to one of them.
    const now = Math.floor(Date.now() / 1000);
    for (let s = now; s <= now + 2; s++) writeFileSync(join(dir, `events.out.tfevents.${s}.${hostname()}.c`), '');
    assert.throws(() => new TfEventsWriter(dir, { suffix: 'c' }), (e: unknown) => e instanceof ClanError && /already exists; expected a new events file \(pass a distinct suffix\)$/.test(e.message));
    assert.throws(() => new TfEventsWriter(dir, { suffix: 'x/y' }), (e: unknown) => e instanceof ClanError && /path separator/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writer: a SessionLog START (purge marker of a resumed run) is field 6 { status: 1 } and reads back', () => {
  const dir = tmp();
  try {
    const w = new TfEventsWriter(dir);
    w.sessionStart(7, 2);
    w.scalar('x', 1, 7, 2);
    w.close();
    const bytes = readFileSync(w.path);
    // Second record's data: wall_time (9 bytes), step 7 (0x10 0x07), session_log: field 6 wire 2 = 0x32, length 2, status 1.
    const data = bytes.subarray(16 + 24 + 12, 16 + 24 + 12 + 15);
    assert.deepEqual([...data.subarray(9)], [0x10, 0x07, 0x32, 0x02, 0x08, 0x01]);
    const ev = readTfEvents(w.path);
    assert.deepEqual(ev.map((e) => [e.step, e.sessionStart ?? false, e.values.length]), [[0, false, 0], [7, true, 0], [7, false, 1]]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
