// Adapter that turns a sample generator (synthetic data such as `digitscapes`, written in another module)
// into a DatasetType usable by openDataset and by loader workers.
//
// In the generator's module:
//   registerDatasetType('digitscapes', generatedDatasetType({
//     module: import.meta.url, summary: '...',
//     make: (root, split) => ({ length, hasLabels: true, sample: (i) => ({ width, height, rgb, label }) }),
//   }));
// `root`/`split` are the free text of the spec `digitscapes:ROOT[:SPLIT]` (e.g. a domain name); `make` runs again
// in each worker (after importing `module`), so it must be deterministic and cheap.
import { DataError } from '../util/errors.js';
import { formatSpec, type Dataset, type DatasetDesc, type DatasetType, type RawSample } from './dataset.js';
import { CITYSCAPES_CLASSES, IGNORE_INDEX, NUM_CLASSES } from './labels.js';

export interface GeneratedSample {
  width: number;
  height: number;
  rgb: Uint8Array;    // [H, W, 3]
  label?: Uint8Array; // [H, W] class indices, 255 = ignore
}

export interface GeneratedSource {
  length: number;
  hasLabels: boolean;
  numClasses?: number;                 // default 19
  classNames?: readonly string[];      // default the Cityscapes names when 19 classes
  palette?: readonly (readonly [number, number, number])[];
  defaultSize?: readonly [number, number];
  sample(index: number): GeneratedSample;
}

export interface GeneratedTypeOptions {
  module?: string;
  summary: string;
  make(root: string, split: string | undefined): GeneratedSource;
}

interface GeneratedDesc extends DatasetDesc {
  readonly spec: string;
  readonly root: string;
  readonly split?: string;
  readonly withLabels: boolean;
}

export function generatedDatasetType(o: GeneratedTypeOptions): DatasetType {
  const build = (desc: GeneratedDesc): Dataset => new GeneratedDataset(desc, o.make(desc.root, desc.split));
  return {
    summary: o.summary,
    open(spec, opts) {
      const mode = opts.labels ?? 'required';
      const src = o.make(spec.root, spec.split);
      if (mode === 'required' && !src.hasLabels) throw new DataError(`dataset ${formatSpec(spec)}: has no labels; labels are needed here (a training source, an eval or validation set)`);
      const desc: GeneratedDesc = {
        type: spec.type, module: o.module, spec: formatSpec(spec), root: spec.root, withLabels: mode !== 'none' && src.hasLabels,
        ...(spec.split === undefined ? {} : { split: spec.split }),
      };
      return new GeneratedDataset(desc, src);
    },
    revive: (desc) => build(desc as GeneratedDesc),
  };
}

class GeneratedDataset implements Dataset {
  readonly numClasses: number;
  readonly classNames: readonly string[];
  constructor(readonly desc: GeneratedDesc, private readonly src: GeneratedSource) {
    this.numClasses = src.numClasses ?? NUM_CLASSES;
    this.classNames = src.classNames ?? (this.numClasses === NUM_CLASSES ? CITYSCAPES_CLASSES : Array.from({ length: this.numClasses }, (_, i) => `class ${i}`));
  }
  get spec(): string { return this.desc.spec; }
  get length(): number { return this.src.length; }
  get hasLabels(): boolean { return this.desc.withLabels; }
  get palette(): readonly (readonly [number, number, number])[] | undefined { return this.src.palette; }
  get defaultSize(): readonly [number, number] | undefined { return this.src.defaultSize; }
  name(i: number): string { return String(i).padStart(6, '0'); }

  load(index: number): RawSample {
    if (!(Number.isInteger(index) && index >= 0 && index < this.length)) throw new RangeError(`dataset ${this.spec}: index ${index} outside [0, ${this.length})`);
    const s = this.src.sample(index);
    const where = `dataset ${this.spec} sample ${index}`;
    if (s.rgb.length !== s.width * s.height * 3) throw new DataError(`${where}: rgb has ${s.rgb.length} bytes, expected ${s.width}x${s.height}x3`);
    const base = { index, name: this.name(index), image: { width: s.width, height: s.height, data: s.rgb } };
    if (!this.desc.withLabels) return base;
    if (!s.label || s.label.length !== s.width * s.height) throw new DataError(`${where}: label missing or not ${s.width}x${s.height}`);
    for (const v of s.label) if (v >= this.numClasses && v !== IGNORE_INDEX) throw new DataError(`${where}: class index ${v} not in [0, ${this.numClasses}) nor 255`);
    return { ...base, label: { width: s.width, height: s.height, data: s.label } };
  }
}
