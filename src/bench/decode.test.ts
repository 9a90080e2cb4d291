// `clan bench decode`: one JSON line whose pixel comparison is real (ours equals Pillow byte for byte, jpeg-js does
// not), and an unreadable --input named in one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { benchDecode } from './decode.js';
import { pythonPath } from '../util/python.js';

const hasPil = spawnSync(pythonPath(), ['-c', 'import PIL'], { encoding: 'utf8' }).status === 0;

test('bench decode: timings of each decoder and the pixel comparison against Pillow', { skip: hasPil ? false : 'no Pillow here' }, () => {
  const lines: Record<string, unknown>[] = [];
  benchDecode({ width: 200, height: 96, quality: 90, reps: 1, compare: true }, (l) => lines.push(l as Record<string, unknown>));
  assert.equal(lines.length, 1);
  const l = lines[0]!;
  assert.deepEqual([l.bench, l.width, l.height, l.reps, l.file], ['decode', 200, 96, 1, '200x96 photos, quality 90 (pillow)']);
  for (const k of ['ours_ms', 'jpegjs_ms', 'pillow_ms', 'ratio_ours_vs_jpegjs', 'ratio_ours_vs_pillow']) assert.ok(typeof l[k] === 'number' && (l[k] as number) > 0, k);
  // the loaders' decoder is Pillow's libjpeg-turbo path: every byte the same; jpeg-js's IDCT and upsampling are not
  assert.deepEqual(l.ours_vs_pillow, { differing: 0, max: 0 });
  const js = l.jpegjs_vs_pillow as { differing: number; max: number };
  assert.ok(js.differing > 0 && js.max > 0);
});

test('bench decode: an --input that is not a JPEG is one line naming the file', () => {
  assert.throws(
    () => benchDecode({ input: new URL(import.meta.url).pathname, width: 8, height: 8, quality: 90, reps: 1, compare: false }, () => {}),
    (e: Error) => e.message.includes('decode.test.js') && !e.message.includes('\n'));
});
