import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { crc32, deflateRawSync } from 'node:zlib';
import { CheckpointError } from '../util/errors.js';
import { isZip, openZip } from './zip.js';
import { assertOneLine, fixture } from './io.testing.js';

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

test('stored and deflated entries (written by Python zipfile)', (t) => {
  const path = fixture(t, 'deflate.zip');
  if (path === undefined) return;
  const zip = openZip(readFileSync(path), path);
  assert.deepEqual([...zip.entries.keys()], ['a/stored.txt', 'a/deflated.txt']);
  assert.equal(zip.entries.get('a/stored.txt')!.method, 0);
  assert.equal(zip.entries.get('a/deflated.txt')!.method, 8);
  assert.ok(zip.entries.get('a/deflated.txt')!.compressedSize < 550);
  assert.equal(text(zip.read('a/stored.txt')), 'plain bytes');
  assert.equal(text(zip.read('a/deflated.txt')), 'deflate me '.repeat(50));
});

test('zip64 extra fields and the zip64 end record', (t) => {
  const path = fixture(t, 'zip64.zip');
  if (path === undefined) return;
  const bytes = new Uint8Array(readFileSync(path));
  const check = (b: Uint8Array): void => {
    const zip = openZip(b, path);
    const one = zip.entries.get('big/one.bin')!;
    assert.equal(one.size, 40); // from the zip64 extra field: the 32-bit field holds 0xFFFFFFFF
    assert.deepEqual(Array.from(zip.read('big/one.bin')), Array.from({ length: 40 }, (_, i) => i));
    assert.ok(zip.entries.get('big/two.bin')!.localOffset > 0);
    assert.equal(text(zip.read('big/two.bin')), 'second entry');
  };
  check(bytes);
  // Python left the 32-bit end record unsaturated; saturate it so the zip64 record must be used.
  const dv = new DataView(bytes.buffer);
  const eocd = bytes.length - 22;
  assert.equal(dv.getUint32(eocd, true), 0x06054b50);
  dv.setUint16(eocd + 10, 0xffff, true);
  dv.setUint32(eocd + 12, 0xffffffff, true);
  dv.setUint32(eocd + 16, 0xffffffff, true);
  check(bytes);
});

test('a torch.save archive lists its records', (t) => {
  const path = fixture(t, 'net_zip.pth');
  if (path === undefined) return;
  const bytes = readFileSync(path);
  assert.ok(isZip(bytes));
  const zip = openZip(bytes, path);
  assert.ok(zip.entries.has('net_zip/data.pkl'));
  assert.equal(text(zip.read('net_zip/version')).trim(), '3');
  // torch aligns record data to 64 bytes in the file, so storages can be viewed without copying.
  const e = zip.entries.get('net_zip/data/0')!;
  assert.equal((zip.read('net_zip/data/0').byteOffset - bytes.byteOffset) % 64, 0);
  assert.equal(e.method, 0);
});

test('truncated, corrupt and foreign bytes are rejected', (t) => {
  const path = fixture(t, 'deflate.zip');
  if (path === undefined) return;
  const bytes = new Uint8Array(readFileSync(path));
  assert.equal(isZip(Uint8Array.of(0x80, 2)), false);
  assertOneLine(() => openZip(bytes.subarray(0, bytes.length - 30), 'x.zip'), CheckpointError, /^x\.zip: not a zip archive/);
  assertOneLine(() => openZip(new Uint8Array(100), 'x.zip'), CheckpointError, /no end-of-central-directory/);
  assertOneLine(() => openZip(bytes, 'x.zip').read('nope'), CheckpointError, /missing zip entry 'nope'/);
  const flipped = bytes.slice();
  const at = flipped.indexOf(0x70, 30 + 'a/stored.txt'.length); // the 'p' of 'plain bytes'
  flipped[at] ^= 0xff;
  assertOneLine(() => openZip(flipped, 'x.zip').read('a/stored.txt'), CheckpointError, /'a\/stored\.txt': CRC mismatch/);
  // A central directory that points past the end of the data (its offset field corrupted).
  const moved = bytes.slice();
  new DataView(moved.buffer).setUint32(moved.length - 22 + 16, 1_000_000, true);
  assertOneLine(() => openZip(moved, 'x.zip'), CheckpointError, /central directory .* beyond end of file/);
});

// ---- resource limits (src/io/limits.ts) ----------------------------------------------------------------------

interface Member { name: string; data: Uint8Array; deflate?: boolean; declared?: number; recordOf?: number }

/** A zip archive by hand (APPNOTE 4.3): local records, then the central directory. `recordOf` reuses a record. */
function makeZip(members: Member[]): Uint8Array {
  const parts: Uint8Array[] = [], central: Uint8Array[] = [], offsets: number[] = [];
  let at = 0;
  for (const [i, m] of members.entries()) {
    const name = new TextEncoder().encode(m.name);
    const body = m.deflate ? deflateRawSync(m.data) : m.data;
    const fields = { method: m.deflate ? 8 : 0, crc: crc32(m.data), csize: body.length, size: m.declared ?? m.data.length };
    if (m.recordOf === undefined) {
      const local = new Uint8Array(30 + name.length);
      const dv = new DataView(local.buffer);
      dv.setUint32(0, 0x04034b50, true); dv.setUint16(4, 20, true); dv.setUint16(8, fields.method, true);
      dv.setUint32(14, fields.crc, true); dv.setUint32(18, fields.csize, true); dv.setUint32(22, fields.size, true);
      dv.setUint16(26, name.length, true);
      local.set(name, 30);
      offsets[i] = at;
      parts.push(local, body);
      at += local.length + body.length;
    } else offsets[i] = offsets[m.recordOf]!;
    const c = new Uint8Array(46 + name.length);
    const dv = new DataView(c.buffer);
    dv.setUint32(0, 0x02014b50, true); dv.setUint16(6, 20, true); dv.setUint16(10, fields.method, true);
    dv.setUint32(16, fields.crc, true); dv.setUint32(20, fields.csize, true); dv.setUint32(24, fields.size, true);
    dv.setUint16(28, name.length, true); dv.setUint32(42, offsets[i]!, true);
    c.set(name, 46);
    central.push(c);
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22);
  const dv = new DataView(eocd.buffer);
  dv.setUint32(0, 0x06054b50, true); dv.setUint16(8, members.length, true); dv.setUint16(10, members.length, true);
  dv.setUint32(12, cdSize, true); dv.setUint32(16, at, true);
  return Buffer.concat([...parts, ...central, eocd]);
}

function withEnv<T>(key: string, value: string, fn: () => T): T {
  const old = process.env[key];
  process.env[key] = value;
  try { return fn(); } finally { if (old === undefined) delete process.env[key]; else process.env[key] = old; }
}

const bytesOf = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * seed) & 255);
/** Inflated members come back as Buffers: compare contents only. */
const same = (got: Uint8Array, want: Uint8Array): void => assert.deepEqual(new Uint8Array(got), want);

test('a normal archive of stored and deflated members reads back byte for byte', () => {
  const a = bytesOf(1000, 7), b = bytesOf(3000, 13);
  const zip = openZip(makeZip([{ name: 'd/a', data: a, deflate: true }, { name: 'd/b', data: b }]), 'ok.zip');
  same(zip.read('d/a'), a);
  same(zip.read('d/b'), b);
});

test('inflating stops at the declared size: a small member that inflates to megabytes is refused', () => {
  // 4 MiB of zeros deflate to ~4 KB; the central directory claims 1000 bytes.
  const bomb = makeZip([{ name: 'd/x', data: new Uint8Array(4 * 2 ** 20), deflate: true, declared: 1000 }]);
  assertOneLine(() => openZip(bomb, 'bomb.pth').read('d/x'), CheckpointError,
    /^bomb\.pth: entry 'd\/x' inflates past its declared 1000 bytes; corrupt or a zip bomb$/);
});

test('an archive inflates at most CLAN_MAX_ZIP_INFLATE_BYTES in all, refused before inflating', () => {
  // A member declaring 1 GiB is refused under the default (512 MiB) without inflating anything.
  const huge = makeZip([{ name: 'd/x', data: bytesOf(100, 3), deflate: true, declared: 2 ** 30 }]);
  assertOneLine(() => openZip(huge, 'big.pth').read('d/x'), CheckpointError,
    /^big\.pth: entry 'd\/x' would inflate to 1073741824 bytes, past the limit of 536870912 \(CLAN_MAX_ZIP_INFLATE_BYTES\) for the archive \(0 used\)$/);
  // The budget is per archive: with 1500 bytes, the first 1000-byte member fits and the second does not.
  const a = bytesOf(1000, 5);
  const two = makeZip([{ name: 'd/a', data: a, deflate: true }, { name: 'd/b', data: a, deflate: true }]);
  withEnv('CLAN_MAX_ZIP_INFLATE_BYTES', '1500', () => {
    const zip = openZip(two, 'two.pth');
    same(zip.read('d/a'), a);
    assertOneLine(() => zip.read('d/b'), CheckpointError, /^two\.pth: entry 'd\/b' would inflate to 1000 bytes, past the limit of 1500 \(CLAN_MAX_ZIP_INFLATE_BYTES\) for the archive \(1000 used\)$/);
  });
  withEnv('CLAN_MAX_ZIP_INFLATE_BYTES', '2000', () => same(openZip(two, 'two.pth').read('d/b'), a));
});

test('members sharing one record (the overlapping zip bomb) are refused at open', () => {
  const data = bytesOf(500, 11);
  const shared = makeZip([{ name: 'd/a', data, deflate: true }, { name: 'd/b', data, deflate: true, recordOf: 0 }]);
  assertOneLine(() => openZip(shared, 'o.pth'), CheckpointError, /^o\.pth: entry 'd\/[ab]' overlaps entry 'd\/[ab]'; corrupt or a zip bomb$/);
  // A record whose compressed size runs into the central directory.
  const long = makeZip([{ name: 'd/a', data }]);
  new DataView(long.buffer, long.byteOffset).setUint32(long.length - 22 - 46 - 3 + 20, 600, true);
  assertOneLine(() => openZip(long, 'o.pth'), CheckpointError, /^o\.pth: entry 'd\/a' overlaps the central directory/);
});
