import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeDirs } from './paths.js';

test('makeDirs: creates every missing level, accepts an existing folder, throws the first error', () => {
  const root = mkdtempSync(join(tmpdir(), 'clan-paths-'));
  try {
    const deep = join(root, 'a', 'b', 'c');
    makeDirs(deep);
    assert.ok(statSync(deep).isDirectory());
    makeDirs(deep); // already there
    writeFileSync(join(root, 'file'), '');
    assert.throws(() => makeDirs(join(root, 'file', 'x')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
    // Node's own mkdirSync(…, { recursive: true }) loops forever here
    if (existsSync('/proc/self')) assert.throws(() => makeDirs('/proc/clan-test/x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
