// DAFormer's rare-class sampling (docs/method.md §12; lhoyer/DAFormer mmseg/datasets/uda_dataset.py and
// tools/convert_datasets/gta.py): source images are drawn by class, not uniformly. Once per dataset the pixels of each
// class in each label are counted (cached as JSON); class c is then drawn with probability softmax((1 − f_c)/T) over
// the classes present, f_c its share of all labelled pixels, T = 0.01, and an image uniformly among those with more
// than `minPixels` pixels of c. DAFormer's 3000 pixels are for GTA5's 1914×1052 labels: the threshold here scales
// with each label's size. Draws come from the loader's Rng of the stream position, so a run resumes them exactly.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWrite } from '../util/atomic.js';
import { DataError } from '../util/errors.js';
import type { Dataset } from './dataset.js';
import type { Rng } from './rng.js';

/** Per sample: its label's pixel count and the pixels of each class present ({ class: count }). */
export interface ClassStats { version: 1; spec: string; numClasses: number; samples: { pixels: number; classes: Record<string, number> }[] }

/** The label area DAFormer's min_pixels refers to (GTA5's labels, 1914×1052). */
export const RCS_PAPER_PIXELS = 1914 * 1052;

/** Counts every label's class pixels (255 and values ≥ K are not classes), with a progress line every `every` samples. */
export function computeClassStats(ds: Dataset, log: (line: string) => void, every = 500): ClassStats {
  const samples: ClassStats['samples'] = [];
  for (let i = 0; i < ds.length; i++) {
    const label = ds.load(i).label;
    if (!label) throw new DataError(`rare-class sampling needs labels: ${ds.spec} sample ${ds.name(i)} has none`);
    const counts = new Float64Array(ds.numClasses);
    for (const v of label.data) if (v < ds.numClasses) counts[v]! += 1;
    const classes: Record<string, number> = {};
    counts.forEach((n, c) => { if (n > 0) classes[String(c)] = n; });
    samples.push({ pixels: label.width * label.height, classes });
    if ((i + 1) % every === 0 || i + 1 === ds.length) log(`rare-class sampling: class statistics of ${ds.spec}: ${i + 1}/${ds.length} labels`);
  }
  return { version: 1, spec: ds.spec, numClasses: ds.numClasses, samples };
}

/** The statistics of `ds` from `dir` (keyed by its spec, classes and sample names), computed and written once. */
export function cachedClassStats(ds: Dataset, dir: string, log: (line: string) => void): ClassStats {
  const h = createHash('sha256').update(`${ds.spec}\n${ds.numClasses}\n${ds.length}\n`);
  for (let i = 0; i < ds.length; i++) h.update(`${ds.name(i)}\n`);
  const file = join(dir, `class-stats-${h.digest('hex').slice(0, 16)}.json`);
  if (existsSync(file)) {
    const s = JSON.parse(readFileSync(file, 'utf8')) as ClassStats;
    if (s.version === 1 && s.samples.length === ds.length) return s;
  }
  const stats = computeClassStats(ds, log);
  mkdirSync(dir, { recursive: true });
  atomicWrite(file, JSON.stringify(stats));
  log(`rare-class sampling: class statistics cached in ${file}`);
  return stats;
}

/** What the sampler draws from: the classes (rarest first, as DAFormer sorts them), their probabilities, the pools. */
export interface RcsTable { classes: number[]; probs: number[]; pools: number[][] }

/**
 * DAFormer's get_rcs_class_probs and samples_with_class: p_c = softmax((1 − f_c)/T) over the classes with pixels;
 * pool_c = the samples with more than minPixels·(label pixels / 1914·1052) pixels of c. A class whose pool is empty
 * is left out (DAFormer asserts there is none) and the others renormalised.
 */
export function rcsTable(stats: ClassStats, temperature: number, minPixels: number): RcsTable {
  const total = new Float64Array(stats.numClasses);
  for (const s of stats.samples) for (const [c, n] of Object.entries(s.classes)) total[Number(c)]! += n;
  const sum = total.reduce((a, b) => a + b, 0);
  const present = [...total.keys()].filter((c) => total[c]! > 0).sort((a, b) => total[a]! - total[b]! || a - b);
  const pools = present.map((c) => stats.samples.flatMap((s, i) =>
    ((s.classes[String(c)] ?? 0) > minPixels * (s.pixels / RCS_PAPER_PIXELS) ? [i] : [])));
  const keep = present.map((_, k) => pools[k]!.length > 0);
  const classes = present.filter((_, k) => keep[k]);
  if (classes.length === 0) throw new DataError(`rare-class sampling: no class of ${stats.spec} covers more than ${minPixels} pixels (at 1914×1052) of any label`);
  const logits = classes.map((c) => (1 - total[c]! / sum) / temperature);
  const top = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - top));
  const z = e.reduce((a, b) => a + b, 0);
  return { classes, probs: e.map((v) => v / z), pools: pools.filter((_, k) => keep[k]) };
}

/** One draw: a class by its probability, then a sample uniformly from its pool (two uniforms of `rng`). */
export function rcsDraw(t: RcsTable, rng: Rng): { cls: number; index: number } {
  const u = rng.next();
  let k = 0;
  for (let acc = t.probs[0]!; acc <= u && k < t.probs.length - 1; acc += t.probs[++k]!);
  const pool = t.pools[k]!;
  return { cls: t.classes[k]!, index: pool[rng.int(pool.length)]! };
}
