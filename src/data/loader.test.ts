import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode as encodePng } from 'fast-png';
import { ConfigError, DataError } from '../util/errors.js';
import { Loader, type Batch, type LoaderOptions } from './loader.js';
import { openDataset } from './registry.js';
import { Rng } from './rng.js';

/** A folder dataset of n random 20x12 RGB images with random 0..3/255 labels. */
function makeFolder(n: number): string {
  const root = mkdtempSync(join(tmpdir(), 'clan-loader-'));
  mkdirSync(join(root, 'images')); mkdirSync(join(root, 'labels'));
  const rng = new Rng(99);
  for (let i = 0; i < n; i++) {
    const img = Uint8Array.from({ length: 20 * 12 * 3 }, () => rng.int(256));
    const lab = Uint8Array.from({ length: 20 * 12 }, () => [0, 1, 2, 3, 255][rng.int(5)]!);
    writeFileSync(join(root, 'images', `s${i}.png`), encodePng({ width: 20, height: 12, channels: 3, depth: 8, data: img }));
    writeFileSync(join(root, 'labels', `s${i}.png`), encodePng({ width: 20, height: 12, channels: 1, depth: 8, data: lab }));
  }
  writeFileSync(join(root, 'classes.txt'), 'a\nb\nc\nd\n');
  return root;
}

async function take(l: Loader, k: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for (let i = 0; i < k; i++) { const b = await l.next(); if (!b) break; out.push(b); }
  return out;
}

const ROOT = makeFolder(7);
process.on('exit', () => rmSync(ROOT, { recursive: true, force: true }));
const base = (): LoaderOptions => ({
  dataset: openDataset(`folder:${ROOT}`), seed: 7, batchSize: 2, epochs: 3,
  transform: { size: [16, 10], randomScale: true, flip: true },
});

test('same seed → identical batches with 0 and 2 workers (finite, 3 epochs, last batch partial)', async () => {
  const a = new Loader(base());
  const b = new Loader({ ...base(), workers: 2, prefetch: 3 });
  const ba = await take(a, 100), bb = await take(b, 100);
  await b.close();
  assert.equal(ba.length, 11); // 21 samples / 2
  assert.equal(ba[10]!.size, 1);
  assert.deepEqual(bb, ba);
  // shuffled per epoch: each epoch's indices are a permutation of 0..6, and epochs differ.
  const idx = ba.flatMap((x) => x.indices);
  const epochsSeen = [idx.slice(0, 7), idx.slice(7, 14), idx.slice(14, 21)];
  for (const e of epochsSeen) assert.deepEqual([...e].sort(), [0, 1, 2, 3, 4, 5, 6]);
  assert.notDeepEqual(epochsSeen[0], epochsSeen[1]);
  // a batch shares its scale (image size); flips are per sample; labels stay at the nominal size.
  for (const x of ba) {
    assert.equal(new Set(x.augments.map((g) => g.scale)).size, 1);
    assert.deepEqual([x.labelWidth, x.labelHeight], [16, 10]);
    assert.equal(x.images.length, x.size * 3 * x.width * x.height);
  }
  assert.ok(new Set(ba.map((x) => x.width)).size > 1, 'random scale never fired');
  assert.ok(ba.some((x) => x.augments.some((g) => g.flip)) && ba.some((x) => x.augments.some((g) => !g.flip)));
  assert.equal(a.consumed, 21);
  assert.equal(await a.next(), undefined);
});

test('resume from a saved position yields the same continuation (in-process and workers)', async () => {
  const full = await take(new Loader({ ...base(), epochs: undefined }), 9);
  const first = new Loader({ ...base(), epochs: undefined, workers: 1 });
  await take(first, 4);
  const state = first.state();
  await first.close();
  assert.deepEqual(state, { seed: 7, consumed: 8 });
  const resumed = new Loader({ ...base(), epochs: undefined, startAt: state, workers: 2 });
  assert.deepEqual(await take(resumed, 5), full.slice(4));
  await resumed.close();
  assert.throws(() => new Loader({ ...base(), startAt: { seed: 8, consumed: 2 } }), /saved with seed 8/);
  assert.throws(() => new Loader({ ...base(), startAt: 22 }), (e: unknown) => e instanceof ConfigError && /startAt 22 outside \[0, 21\]/.test(e.message));
  assert.throws(() => new Loader({ ...base(), batchSize: 0 }), /batchSize must be an integer ≥ 1/);
  assert.throws(() => new Loader({ ...base(), transform: { size: [16, 0] } }), (e: unknown) => e instanceof ConfigError && /transform\.size/.test(e.message));
});

test('consumed counts samples handed out, not prefetched ones', async () => {
  const l = new Loader({ ...base(), workers: 2, prefetch: 4 });
  await l.next();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(l.consumed, 2);
  assert.equal(l.epoch, 0);
  await l.close();
  await assert.rejects(l.next(), /after close/);
});

test('a file that fails to decode rejects with a DataError naming it (workers too)', async () => {
  const root = makeFolder(2);
  try {
    const png = encodePng({ width: 20, height: 12, channels: 3, depth: 8, data: new Uint8Array(720).fill(1) });
    const bad = png.slice(); for (let i = 45; i < 60; i++) bad[i] = 0xee; // inside IDAT, header and IEND intact
    writeFileSync(join(root, 'images', 's1.png'), bad);
    const opts: LoaderOptions = { dataset: openDataset(`folder:${root}`), seed: 1, shuffle: false, epochs: 1, transform: { size: [8, 6] } };
    for (const workers of [0, 1]) {
      const l = new Loader({ ...opts, workers });
      assert.ok(await l.next());
      await assert.rejects(l.next(), (e: unknown) => e instanceof DataError && /images\/s1\.png: cannot decode PNG/.test(e.message));
      await assert.rejects(l.next(), /s1\.png/); // the failure is sticky
      await l.close();
    }
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('a process that forgets close() still exits (idle workers are unref\'d)', () => {
  const script = `import { Loader } from ${JSON.stringify(new URL('./loader.js', import.meta.url).href)};
    import { openDataset } from ${JSON.stringify(new URL('./registry.js', import.meta.url).href)};
    const l = new Loader({ dataset: openDataset(${JSON.stringify(`folder:${ROOT}`)}), seed: 1, workers: 2, transform: { size: [8, 6] } });
    const b = await l.next(); console.log('got', b.size);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /got 1/);
});

test('data-parallel shards (rank r of W): disjoint samples, together the single stream in order; resumable per rank', async () => {
  const one = { ...base(), batchSize: 1, epochs: 2 };
  const all = (await take(new Loader(one), 100)).map((b) => [b.indices[0]!, b.epochs[0]!, b.augments[0]!.flip]);
  assert.equal(all.length, 14);
  const shards = await Promise.all([0, 1].map(async (rank) => (await take(new Loader({ ...one, rank, worldSize: 2 }), 100))
    .map((b) => [b.indices[0]!, b.epochs[0]!, b.augments[0]!.flip])));
  assert.deepEqual(shards.map((s) => s.length), [7, 7]);
  // Global position g = k·W + r: interleaving the two shards gives the one-process stream back, augmentation included.
  assert.deepEqual(all, all.map((_, g) => shards[g % 2]![Math.floor(g / 2)]));
  const epoch0 = [...shards[0]!, ...shards[1]!].filter((s) => s[1] === 0).map((s) => s[0]).sort();
  assert.deepEqual(epoch0, [0, 1, 2, 3, 4, 5, 6], 'epoch 0 split between the ranks without overlap');
  const resumed = await take(new Loader({ ...one, rank: 1, worldSize: 2, startAt: 3 }), 100);
  assert.deepEqual(resumed.map((b) => [b.indices[0]!, b.epochs[0]!, b.augments[0]!.flip]), shards[1]!.slice(3));
  assert.throws(() => new Loader({ ...one, rank: 2, worldSize: 2 }), /rank 2 of worldSize 2/);
});
