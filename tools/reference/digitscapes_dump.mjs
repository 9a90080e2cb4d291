// Writes the digitscapes splits (seed 0, default lengths) as raw uint8 arrays for digitscapes_sweep.py:
//   {split}_rgb.bin [N, 64, 64, 3] and {split}_lab.bin [N, 64, 64] (11 classes, 255 = ignore).
// Run after `npm run build`:  node tools/reference/digitscapes_dump.mjs /tmp/ds
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digitscapesSample, DIGITSCAPES_LENGTHS } from '../../dist/src/data/digitscapes.js';

const out = process.argv[2] ?? '/tmp/ds';
mkdirSync(out, { recursive: true });
for (const split of ['source', 'target', 'val']) {
  const n = DIGITSCAPES_LENGTHS[split];
  const rgb = new Uint8Array(n * 64 * 64 * 3), lab = new Uint8Array(n * 64 * 64);
  for (let i = 0; i < n; i++) {
    const s = digitscapesSample(split, i, 0);
    rgb.set(s.rgb, i * 64 * 64 * 3);
    lab.set(s.label, i * 64 * 64);
  }
  writeFileSync(join(out, `${split}_rgb.bin`), rgb);
  writeFileSync(join(out, `${split}_lab.bin`), lab);
  process.stderr.write(`${split}: ${n} scenes → ${out}\n`);
}
