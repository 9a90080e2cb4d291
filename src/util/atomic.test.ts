// atomicWrite: the file appears whole or not at all, and a failed write is one line naming the file (not the temp
// name, not a bare "ENOSPC: no space left on device, write"), with the temp file removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClanError } from './errors.js';
import { atomicWrite } from './atomic.js';

const refusal = (message: string) => (e: unknown): boolean => e instanceof ClanError && e.message === message;

test('atomicWrite replaces the file whole; a system error names the file, the temp file is gone', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-atomic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'a.json');
  writeFileSync(path, 'old');
  atomicWrite(path, 'new text');
  assert.equal(readFileSync(path, 'utf8'), 'new text');
  // The disk fills up half-way (the error a full disk gives write(2), raised where the writer is).
  const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
  assert.throws(() => atomicWrite(path, 'newer', { midWrite: () => { throw full; } }), refusal(`${path}: cannot write (ENOSPC: no space left on device)`));
  assert.equal(readFileSync(path, 'utf8'), 'new text', 'the old file is untouched');
  assert.deepEqual(readdirSync(dir), ['a.json'], 'no temp file left');
  // Real system errors: a missing folder, a folder in the way, a read-only folder.
  const missing = join(dir, 'nope', 'x.png');
  assert.throws(() => atomicWrite(missing, 'x'), refusal(`${missing}: cannot write (ENOENT: no such file or directory)`));
  mkdirSync(join(dir, 'sub'));
  assert.throws(() => atomicWrite(join(dir, 'sub'), 'x'), refusal(`${join(dir, 'sub')}: cannot write (EISDIR: illegal operation on a directory)`));
  if (process.getuid?.() !== 0) { // root writes anywhere
    chmodSync(join(dir, 'sub'), 0o500);
    t.after(() => chmodSync(join(dir, 'sub'), 0o700));
    assert.throws(() => atomicWrite(join(dir, 'sub', 'y.csv'), 'x'), refusal(`${join(dir, 'sub', 'y.csv')}: cannot write (EACCES: permission denied)`));
  }
  // An error that is not a system error (a test hook's own) passes through unchanged.
  const own = new Error('interrupted');
  assert.throws(() => atomicWrite(path, 'x', { midWrite: () => { throw own; } }), (e) => e === own);
});
