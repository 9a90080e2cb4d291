// What every dataset reader provides, the command-line spec `TYPE:ROOT[:SPLIT]`, and the problem list that
// readers fill while validating at open time (headers only) before throwing ONE DataError.
import { DataError, UsageError } from '../util/errors.js';
import type { RgbImage } from './image.js';

/** Labels of one image as trainIds, row-major [H, W]; 255 = ignore. */
export interface LabelMap { width: number; height: number; data: Uint8Array }

/** One sample at native resolution, before any resize/augmentation (docs/method.md §5.4 comes after). */
export interface RawSample {
  index: number;
  name: string;      // stable id for logs and saved predictions, e.g. 'frankfurt/frankfurt_000000_000294'
  image: RgbImage;   // [H, W, 3] 8-bit RGB
  label?: LabelMap;  // absent on unlabelled datasets; may differ in size from the image (GTA5, §5.1)
}

/**
 * Plain-data description from which a dataset is rebuilt in a worker thread without re-validating.
 * Structured-cloneable. `module` is the URL of a module that registers `type` when imported (types defined
 * outside src/data/registry.ts, e.g. digitscapes); workers import it before reviving.
 */
export interface DatasetDesc {
  readonly type: string;
  readonly module?: string;
  readonly [key: string]: unknown;
}

export interface Dataset {
  readonly desc: DatasetDesc;
  readonly spec: string;                    // 'TYPE:ROOT:SPLIT' as opened, for messages
  readonly length: number;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly palette?: readonly (readonly [number, number, number])[];
  readonly hasLabels: boolean;
  /** Nominal [W, H] the reference resizes to (§5.1–5.3), if the dataset has one. */
  readonly defaultSize?: readonly [number, number];
  /** The largest image [W, H] (by pixels) its headers gave when opened: what a command's memory estimate is made for
   *  (infer/cost.ts). Absent: the images are all `defaultSize` (generated sets, pseudo-labels). */
  readonly largestSize?: readonly [number, number];
  name(index: number): string;
  /** Decodes sample `index` (0 ≤ index < length). Throws DataError naming the file. */
  load(index: number): RawSample;
}

export interface OpenOptions {
  /** 'required' (default): every image needs a label; 'optional': use labels if the label folder exists; 'none': ignore labels. */
  labels?: 'required' | 'optional' | 'none';
  /** Log and skip bad samples found at open time instead of throwing (default false). */
  skipBad?: boolean;
  /** How the user asks for skipBad, named in the error that lists the problems (default: the flag and the config keys). */
  skipHint?: string;
  /** Where warnings go (default console.warn). */
  warn?: (message: string) => void;
  /** cityscapes: which gtFine file to read (default 'labelIds', mapped to trainIds as info.json does). */
  cityscapesLabels?: 'labelIds' | 'labelTrainIds';
  /** folder: number of classes when there is no classes.txt (default 19). */
  numClasses?: number;
}

export interface DatasetSpec { type: string; root: string; split?: string }

export interface DatasetType {
  /** One line for `--help`. */
  readonly summary: string;
  /** Opens and validates (headers only); throws DataError listing every problem unless skipBad. */
  open(spec: DatasetSpec, opts: OpenOptions): Dataset;
  /** Rebuilds an opened dataset from its desc (in a worker); no validation. */
  revive(desc: DatasetDesc): Dataset;
}

/** Parses `TYPE:ROOT[:SPLIT]`. With three or more parts the last is the split, so a ROOT containing ':' needs an explicit split. */
export function parseDatasetSpec(text: string): DatasetSpec {
  const usage = `expected TYPE:ROOT[:SPLIT], e.g. gta5:/data/GTA5 or cityscapes:/data/Cityscapes:val`;
  const parts = text.split(':');
  if (parts.length < 2) throw new UsageError(`dataset spec '${text}' has no ':'; ${usage}`);
  const type = parts[0]!.trim();
  const split = parts.length >= 3 ? parts[parts.length - 1]! : undefined;
  const root = (parts.length >= 3 ? parts.slice(1, -1) : parts.slice(1)).join(':');
  if (!type) throw new UsageError(`dataset spec '${text}' has an empty TYPE; ${usage}`);
  if (!root) throw new UsageError(`dataset spec '${text}' has an empty ROOT; ${usage}`);
  const s: DatasetSpec = split === undefined ? { type, root } : { type, root, split };
  checkSplit(s, text);
  return s;
}

/**
 * A split names a folder inside ROOT: letters, digits, '_', '-' or '.', and never '.' or '..' (which would read ROOT
 * itself or its parent: `folder:/data/x:..` is /data). Checked when a spec is parsed and again when a reader opens
 * one (a spec built in code skips the parser).
 */
export function checkSplit(spec: DatasetSpec, text = formatSpec(spec)): void {
  const { split } = spec;
  if (split === undefined) return;
  if (!/^[A-Za-z0-9_.-]+$/.test(split)) {
    throw new UsageError(`dataset spec '${text}' has split '${split}'; a split is letters, digits, '_', '-' or '.'; expected TYPE:ROOT[:SPLIT], e.g. gta5:/data/GTA5 or cityscapes:/data/Cityscapes:val`);
  }
  if (split === '.' || split === '..') throw new UsageError(`dataset spec '${text}' has split '${split}', which leaves the dataset's folders; expected a folder name inside ROOT (e.g. train, val)`);
}

export function formatSpec(s: DatasetSpec): string {
  return `${s.type}:${s.root}${s.split === undefined ? '' : ':' + s.split}`;
}

/** DataError carrying every problem found; message = summary line + one line per problem (first 50). */
/** What skips bad samples, in the user's words: `clan eval|predict --skip-bad`, or a training config's skipBad keys. */
export const DEFAULT_SKIP_HINT = '--skip-bad (clan eval) or --set source.skipBad=true / target.skipBad=true (clan train)';

export class DatasetProblemsError extends DataError {
  /** `skipHint` null: nothing to skip (a missing folder, no images), so no flag is offered. */
  constructor(readonly spec: string, readonly problems: readonly string[], skipHint: string | null = DEFAULT_SKIP_HINT) {
    const shown = problems.slice(0, 50).map((p) => `  ${p}`);
    if (problems.length > 50) shown.push(`  ... and ${problems.length - 50} more`);
    super(`dataset ${spec}: ${problems.length} problem${problems.length === 1 ? '' : 's'} found when opening ` +
      `(fix ${problems.length === 1 ? 'it' : 'them'}${skipHint === null ? '' : `, or skip the affected samples with ${skipHint}`}):\n${shown.join('\n')}`);
  }
}

/**
 * Problems found while opening. `fatal` ones (missing folder, nothing to read) always throw; per-sample ones
 * throw together, or with skipBad are logged and their samples dropped. Never substitutes a neighbour.
 */
export class Problems {
  private readonly fatal: string[] = [];
  private readonly perSample = new Map<number, string[]>();

  constructor(private readonly spec: string, private readonly opts: OpenOptions) {}

  /** A problem that makes the whole dataset unusable (missing folder, empty listing). */
  addFatal(message: string): void { this.fatal.push(message); }

  /** A problem with sample `i`; `file` is named first on the line. */
  add(i: number, file: string, message: string): void {
    const list = this.perSample.get(i) ?? [];
    list.push(`${file}: ${message}`);
    this.perSample.set(i, list);
  }

  get count(): number { return this.fatal.length + [...this.perSample.values()].reduce((a, l) => a + l.length, 0); }

  /** Throws if needed; otherwise returns the indices of the samples to keep (all of 0..n-1 minus skipped). */
  settle(n: number): number[] {
    const sampleLines = [...this.perSample.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, l]) => l);
    if (this.fatal.length > 0 || (sampleLines.length > 0 && !this.opts.skipBad)) {
      const skippable = this.fatal.length === 0;  // skipping samples cannot mend a missing folder
      throw new DatasetProblemsError(this.spec, [...this.fatal, ...sampleLines], skippable ? this.opts.skipHint : null);
    }
    const warn = this.opts.warn ?? ((m: string) => console.warn(m));
    for (const line of sampleLines) warn(`dataset ${this.spec}: skipping: ${line}`);
    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (!this.perSample.has(i)) keep.push(i);
    if (keep.length === 0) throw new DatasetProblemsError(this.spec, ['no usable samples left after skipping bad ones', ...sampleLines]);
    if (sampleLines.length > 0) warn(`dataset ${this.spec}: skipped ${n - keep.length} of ${n} samples`);
    return keep;
  }
}
