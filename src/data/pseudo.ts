// `pseudo:DIR`: a target dataset with the pseudo-labels of one self-training round (train/pseudo.ts writes them).
// DIR/pseudo.json names the target dataset and the label size; DIR/labels/NNNNNN.png (sample index, 8-bit gray) is
// one label map of [2h, w]: rows 0..h−1 are the labels for C1, rows h..2h−1 those for C2 (co-training: C1 learns
// from C2's confident predictions and C2 from C1's; plain self-training writes the same labels twice). Two maps
// in one file keep them aligned through every augmentation for free: the loader flips rows (both halves mirror in
// place) and, with labelSize 'native', never resizes labels — they are written at the training size already.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Problems, parseDatasetSpec, type Dataset, type DatasetDesc, type DatasetSpec, type DatasetType, type LabelMap, type OpenOptions, type RawSample } from './dataset.js';
import { decodeLabel } from './files.js';
import { readBytes } from './image.js';
import { DataError } from '../util/errors.js';

/** DIR/pseudo.json: written last by train/pseudo.ts, so its presence means the round's labels are complete. */
export interface PseudoIndex {
  target: string;                 // the target dataset spec the labels belong to
  size: [number, number];         // [W, H] of each of the two label maps (the training size)
  length: number;                 // samples (= the target dataset's length)
  round: number;
  variant: 'cotrain' | 'plain';
}

export const PSEUDO_INDEX = 'pseudo.json';
export const pseudoLabelFile = (dir: string, index: number): string => join(dir, 'labels', `${String(index).padStart(6, '0')}.png`);

interface PseudoDesc extends DatasetDesc { dir: string; base: DatasetDesc; index: PseudoIndex; spec: string }

class PseudoDataset implements Dataset {
  readonly length: number; readonly numClasses: number; readonly classNames: readonly string[];
  readonly palette?: readonly (readonly [number, number, number])[];
  readonly hasLabels = true;
  readonly defaultSize: readonly [number, number];
  constructor(readonly desc: PseudoDesc, private readonly base: Dataset) {
    this.length = base.length; this.numClasses = base.numClasses; this.classNames = base.classNames;
    if (base.palette) this.palette = base.palette;
    this.defaultSize = desc.index.size;
  }
  get spec(): string { return this.desc.spec; }
  name(i: number): string { return this.base.name(i); }
  load(i: number): RawSample {
    const s = this.base.load(i);
    const file = pseudoLabelFile(this.desc.dir, i);
    const label: LabelMap = decodeLabel(readBytes(file), file, 'train-ids', this.numClasses);
    const [w, h] = this.desc.index.size;
    if (label.width !== w || label.height !== 2 * h) throw new DataError(`${file}: ${label.width}x${label.height}; expected ${w}x${2 * h} (two ${w}x${h} label maps)`);
    return { ...s, label };
  }
}

/**
 * DIR/pseudo.json, every field checked (it is a file users can edit). Its `target` must be the dataset the labels
 * were made for, never another pseudo-label folder: that is how a file naming itself, or two naming each other,
 * cannot recurse.
 */
function readIndex(idxPath: string): PseudoIndex {
  let v: unknown;
  try { v = JSON.parse(readFileSync(idxPath, 'utf8')); } catch (e) { throw new DataError(`${idxPath}: not JSON (${(e as Error).message.split('\n')[0]})`); }
  const fields = 'target, size, length, round, variant';
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new DataError(`${idxPath}: expected a JSON object with ${fields}, got ${Array.isArray(v) ? 'a list' : JSON.stringify(v)}`);
  const o = v as Record<string, unknown>;
  const bad = (field: string, expected: string): never => { throw new DataError(`${idxPath}: field '${field}' is ${JSON.stringify(o[field]) ?? 'missing'}; expected ${expected}`); };
  const int = (x: unknown, min: number, max: number): boolean => Number.isSafeInteger(x) && (x as number) >= min && (x as number) <= max;
  if (typeof o.target !== 'string' || o.target === '') bad('target', 'the target dataset spec, e.g. cityscapes:/data/Cityscapes:train');
  let type: string;
  try { type = parseDatasetSpec(o.target as string).type; } catch (e) { return bad('target', `a dataset spec TYPE:ROOT[:SPLIT] (${(e as Error).message})`); }
  if (type === 'pseudo') bad('target', 'the dataset the labels were made for, not a pseudo-label folder');
  if (!Array.isArray(o.size) || o.size.length !== 2 || !o.size.every((x) => int(x, 1, 65535))) bad('size', '[W, H]: two integers from 1 to 65535');
  if (!int(o.length, 1, 2 ** 31)) bad('length', 'the number of samples, a positive integer');
  if (!int(o.round, 0, 2 ** 31)) bad('round', 'a non-negative integer');
  if (o.variant !== 'cotrain' && o.variant !== 'plain') bad('variant', "'cotrain' or 'plain'");
  return { target: o.target as string, size: [(o.size as number[])[0]!, (o.size as number[])[1]!], length: o.length as number, round: o.round as number, variant: o.variant as PseudoIndex['variant'] };
}

/** The dataset type; `open`/`revive` of the base target dataset come from the registry (no import cycle). */
export function pseudoType(open: (spec: string, o: OpenOptions) => Dataset, revive: (d: DatasetDesc) => Dataset): DatasetType {
  return {
    summary: 'a target dataset with one self-training round\'s pseudo-labels (clan selftrain writes DIR)',
    open(spec: DatasetSpec, opts: OpenOptions): Dataset {
      const dir = resolve(spec.split ? `${spec.root}:${spec.split}` : spec.root);
      const idxPath = join(dir, PSEUDO_INDEX);
      if (!existsSync(idxPath)) throw new DataError(`pseudo:${dir}: no ${PSEUDO_INDEX} (the round's pseudo-labels are missing or incomplete)`);
      const index = readIndex(idxPath);
      const base = open(index.target, { ...opts, labels: 'none' });
      const problems = new Problems(`pseudo:${dir}`, { ...opts, skipBad: false }); // a missing label is never skipped
      if (base.length !== index.length) problems.addFatal(`${idxPath}: lists ${index.length} samples but ${index.target} has ${base.length}`);
      for (let i = 0; i < base.length && problems.count < 20; i++) if (!existsSync(pseudoLabelFile(dir, i))) problems.add(i, pseudoLabelFile(dir, i), 'is missing');
      problems.settle(base.length);
      return new PseudoDataset({ type: 'pseudo', dir, base: base.desc, index, spec: `pseudo:${dir}`, ...(base.desc.module ? { module: base.desc.module } : {}) }, base);
    },
    revive(desc: DatasetDesc): Dataset {
      const d = desc as PseudoDesc;
      return new PseudoDataset(d, revive(d.base));
    },
  };
}
