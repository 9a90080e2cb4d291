// resize.ts against stored Pillow 9.4 outputs (tools/reference/make_pil_fixtures.py → test/fixtures/pil/).
// Images: within 1 grey level (in practice identical); labels: exact. Full-size cases compare sha256 of the bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePlane, decodeRgb } from './image.js';
import { resizeBicubic, resizeBicubicRaw, resizeNearest } from './resize.js';
import { pilFixtures, sharedFixtures } from './data.testing.js';

interface Case { src: string; size: [number, number]; filter: 'bicubic' | 'nearest'; mode: string; sha256: string; file?: string }
const PIL_DIR = pilFixtures();
const manifest = JSON.parse(readFileSync(join(PIL_DIR, 'manifest.json'), 'utf8')) as { pillow: string; cases: Case[] };

function resized(path: string, c: Case): Uint8Array {
  const bytes = readFileSync(path);
  const [w, h] = c.size;
  if (c.filter === 'bicubic') return resizeBicubic(decodeRgb(bytes, path), w, h).data;
  const p = decodePlane(bytes, path);
  return resizeNearest({ width: p.width, height: p.height, data: p.data as Uint8Array }, w, h).data;
}

for (const c of manifest.cases) {
  test(`PIL ${manifest.pillow} ${c.filter} ${c.src} → ${c.size.join('x')}`, (t) => {
    let path: string;
    if (c.src.startsWith('pil:')) path = join(PIL_DIR, c.src.slice(4));
    else { const dir = sharedFixtures(t); if (!dir) return; path = join(dir, c.src); }
    const ours = resized(path, c);
    if (c.file === undefined) {
      assert.equal(createHash('sha256').update(ours).digest('hex'), c.sha256, 'bytes differ from PIL');
      return;
    }
    const expPath = join(PIL_DIR, c.file);
    assert.ok(existsSync(expPath), `missing fixture ${expPath}`);
    const exp = c.filter === 'bicubic' ? decodeRgb(readFileSync(expPath), expPath).data : decodePlane(readFileSync(expPath), expPath).data;
    assert.equal(ours.length, exp.length);
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i]! - exp[i]!));
    assert.ok(maxDiff <= (c.filter === 'bicubic' ? 1 : 0), `max difference ${maxDiff} grey levels`);
    assert.equal(createHash('sha256').update(ours).digest('hex'), c.sha256, 'not bit-identical to PIL (within tolerance though)');
  });
}

test('bicubic: same size copies; constant image stays constant; 1-pixel column upsamples flat', () => {
  const src = new Uint8Array([10, 20, 30, 40, 50, 60]);
  assert.deepEqual([...resizeBicubicRaw(src, 2, 1, 3, 2, 1)], [...src]);
  const flat = new Uint8Array(5 * 4 * 3).fill(77);
  assert.ok(resizeBicubicRaw(flat, 5, 4, 3, 11, 3).every((v) => v === 77));
  assert.deepEqual([...resizeBicubicRaw(new Uint8Array([9]), 1, 1, 1, 3, 2)], [9, 9, 9, 9, 9, 9]);
});

test('nearest: hand-computed 4 → 3 and 2 → 5 tables (PIL accumulates x += step from step/2)', () => {
  // 4 → 3: step 4/3, sources trunc(0.667, 2.0, 3.333) = 0, 2, 3.
  assert.deepEqual([...resizeNearest({ width: 4, height: 1, data: new Uint8Array([0, 1, 2, 3]) }, 3, 1).data], [0, 2, 3]);
  // 2 → 5: step 0.4, sources trunc(0.2, 0.6, 1.0, 1.4, 1.8) = 0, 0, 1, 1, 1.
  assert.deepEqual([...resizeNearest({ width: 2, height: 1, data: new Uint8Array([5, 6]) }, 5, 1).data], [5, 5, 6, 6, 6]);
});
