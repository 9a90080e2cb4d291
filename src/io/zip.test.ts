import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CheckpointError } from '../util/errors.js';
import { isZip, openZip } from './zip.js';
import { assertOneLine, fixture } from './testing.js';

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
