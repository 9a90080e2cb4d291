// The hook for generator-backed types (digitscapes): a module registers a type on import; loader workers
// import the same module from desc.module, so 0 and 2 workers give identical batches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DataError } from '../util/errors.js';
import { Loader } from './loader.js';
import { openDataset } from './registry.js';

test('generatedDatasetType: registered from its own module, usable in loader workers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-gen-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'toygen.mjs');
  writeFileSync(file, `
    import { registerDatasetType } from ${JSON.stringify(new URL('./registry.js', import.meta.url).href)};
    import { generatedDatasetType } from ${JSON.stringify(new URL('./generated.js', import.meta.url).href)};
    registerDatasetType('toygen', generatedDatasetType({
      module: import.meta.url, summary: 'toy',
      make: (root) => ({ length: 5, hasLabels: true, numClasses: 3, sample: (i) => ({
        width: 6, height: 4,
        rgb: Uint8Array.from({ length: 72 }, (_, k) => (k * 7 + i * 31 + root.length) % 256),
        label: Uint8Array.from({ length: 24 }, (_, k) => (k + i) % 4 === 3 ? 255 : (k + i) % 4),
      }) }),
    }));`);
  await import(pathToFileURL(file).href);
  const ds = openDataset('toygen:src');
  assert.deepEqual([ds.length, ds.numClasses, ds.name(2), ds.classNames], [5, 3, '000002', ['class 0', 'class 1', 'class 2']]);
  assert.equal(ds.load(1).label!.data[1], 2);
  const opts = { dataset: ds, seed: 3, epochs: 2, transform: { size: [6, 4] as const, flip: true, randomScale: true } };
  const a = new Loader(opts), b = new Loader({ ...opts, workers: 2 });
  const ba = [], bb = [];
  for (let i = 0; i < 10; i++) { ba.push(await a.next()); bb.push(await b.next()); }
  await b.close();
  assert.deepEqual(bb, ba);
  assert.equal(openDataset('toygen:tgt', { labels: 'none' }).load(0).label, undefined);
});

test('generatedDatasetType: bad generator output is a DataError naming the sample', async () => {
  const { generatedDatasetType } = await import('./generated.js');
  const type = generatedDatasetType({
    module: import.meta.url, summary: 'bad',
    make: () => ({ length: 1, hasLabels: true,
      sample: () => ({ width: 2, height: 2, rgb: new Uint8Array(12), label: new Uint8Array([0, 19, 0, 0]) }) }),
  });
  const ds = type.open({ type: 'bad', root: 'x' }, {});
  assert.throws(() => ds.load(0), (e: unknown) => e instanceof DataError && /dataset bad:x sample 0: class index 19/.test(e.message));
});
