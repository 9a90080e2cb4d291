// The dataset behind every file-based type (gta5, synthia, cityscapes, folder): a list of (image, label) paths
// plus how to turn a label file into trainIds. Readers differ only in how they list and validate files.
import { readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { DataError } from '../util/errors.js';
import type { Dataset, DatasetDesc, LabelMap, Problems, RawSample } from './dataset.js';
import { decodePlane, decodeRgb, probeImage, readBytes, type ImageHeader } from './image.js';
import { CITYSCAPES_ID_TO_TRAINID, IGNORE_INDEX, SYNTHIA_ID_TO_TRAINID, mapIds } from './labels.js';

/**
 * How label files encode classes:
 *  'cityscapes-ids' — 8-bit gray or palette index = Cityscapes labelId (Cityscapes gtFine_labelIds, GTA5), §5.1/§5.3;
 *  'synthia'        — channel 0 of a (16-bit) PNG = SYNTHIA class id, §5.2;
 *  'train-ids'      — 8-bit gray or palette index = class index, 255 = ignore (labelTrainIds, folder).
 */
export type LabelFormat = 'cityscapes-ids' | 'synthia' | 'train-ids';

/** Paths relative to the desc's root, with '/' separators. */
export interface FileEntry { name: string; image: string; label?: string }

export interface FileDesc extends DatasetDesc {
  readonly spec: string;
  readonly root: string;
  readonly entries: readonly FileEntry[];
  readonly labelFormat: LabelFormat;
  readonly hasLabels: boolean;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly palette?: readonly (readonly [number, number, number])[];
  readonly defaultSize?: readonly [number, number];
  readonly largestSize?: readonly [number, number];
}

export class FileDataset implements Dataset {
  constructor(readonly desc: FileDesc) {}
  get spec(): string { return this.desc.spec; }
  get length(): number { return this.desc.entries.length; }
  get numClasses(): number { return this.desc.numClasses; }
  get classNames(): readonly string[] { return this.desc.classNames; }
  get palette(): readonly (readonly [number, number, number])[] | undefined { return this.desc.palette; }
  get hasLabels(): boolean { return this.desc.hasLabels; }
  get defaultSize(): readonly [number, number] | undefined { return this.desc.defaultSize; }
  get largestSize(): readonly [number, number] | undefined { return this.desc.largestSize; }
  name(i: number): string { return this.entry(i).name; }

  load(index: number): RawSample {
    const e = this.entry(index);
    const imagePath = join(this.desc.root, e.image);
    const image = decodeRgb(readBytes(imagePath), imagePath);
    if (e.label === undefined) return { index, name: e.name, image };
    const labelPath = join(this.desc.root, e.label);
    return { index, name: e.name, image, label: decodeLabel(readBytes(labelPath), labelPath, this.desc.labelFormat, this.desc.numClasses) };
  }

  private entry(i: number): FileEntry {
    const e = this.desc.entries[i];
    if (e === undefined) throw new RangeError(`dataset ${this.desc.spec}: index ${i} outside [0, ${this.length})`);
    return e;
  }
}

/** Decodes one label file to trainIds [H, W] according to its format. Throws DataError naming the file. */
export function decodeLabel(bytes: Uint8Array, file: string, format: LabelFormat, numClasses: number): LabelMap {
  const plane = decodePlane(bytes, file, 0);
  const bad = labelHeaderProblem({ colorType: plane.colorType, bitDepth: plane.bitDepth, format: 'png' }, format);
  if (bad) throw new DataError(`${file}: ${bad}`);
  const { width, height } = plane;
  if (format === 'cityscapes-ids') return { width, height, data: mapIds(plane.data, CITYSCAPES_ID_TO_TRAINID) };
  if (format === 'synthia') return { width, height, data: mapIds(plane.data, SYNTHIA_ID_TO_TRAINID) };
  const data = plane.data as Uint8Array;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v >= numClasses && v !== IGNORE_INDEX) {
      throw new DataError(`${file}: class index ${v} at pixel (x=${i % width}, y=${Math.floor(i / width)}) is not in [0, ${numClasses}) nor 255 (ignore)`);
    }
  }
  return { width, height, data };
}

/** Why a label file's header does not fit its format, or undefined when it fits. */
export function labelHeaderProblem(h: Pick<ImageHeader, 'colorType' | 'bitDepth' | 'format'>, format: LabelFormat): string | undefined {
  if (h.format !== 'png') return 'labels must be PNG (JPEG is lossy and changes class ids)';
  if (format === 'synthia') {
    return h.colorType === 'palette' ? 'is a palette PNG; SYNTHIA labels are (16-bit) PNGs with the class id in channel 0' : undefined;
  }
  if (h.colorType === 'rgb' || h.colorType === 'rgba') {
    return `is an ${h.colorType.toUpperCase()} PNG; labels must be single-channel class-index PNGs (8-bit gray or palette, ` +
      `read by index, 255 = ignore): convert colour-coded labels to indices first`;
  }
  if (h.colorType === 'gray-alpha') return 'is a gray+alpha PNG; expected an 8-bit gray or palette PNG of class indices';
  if (h.colorType === 'gray' && h.bitDepth !== 8) return `is a ${h.bitDepth}-bit gray PNG; expected 8-bit`;
  return undefined;
}

/**
 * Files under `dir` (recursively) whose extension is in `exts`, as sorted '/'-separated paths relative to `dir`.
 * Symbolic links are followed (to files and to folders); a folder reached twice (a link cycle, or a second link
 * into it) is walked once. What cannot be listed goes to `problems`, one line each, instead of going missing: a
 * wanted file or a folder whose name is not valid UTF-8 (fs calls take names as UTF-8, so such a file could be
 * neither named nor opened), a link into a folder already listed, and a wanted name that is not a regular file.
 */
export function listFiles(dir: string, exts: readonly string[], recursive = true, problems: string[] = []): string[] {
  const out: string[] = [];
  const seen = new Set<string>(); // real paths of the folders walked
  const wanted = (name: string): boolean => exts.some((x) => name.toLowerCase().endsWith(x.toLowerCase()));
  const walk = (d: string): void => {
    const real = realpathSync(d);
    if (seen.has(real)) { problems.push(`${d}: leads to ${real}, which is listed already (a symbolic-link cycle, or a second link into it); remove the link`); return; }
    seen.add(real);
    for (const ent of readdirSync(d, { withFileTypes: true, encoding: 'buffer' })) {
      const kind = entryKind(d, ent);
      const name = utf8Name(ent.name);
      if (name === undefined) {
        if ((kind === 'dir' && recursive) || (kind !== 'dir' && wanted(ent.name.toString('latin1')))) {
          problems.push(`${join(d, escapeName(ent.name))}: its name is not valid UTF-8, so it cannot be read; rename it`);
        }
        continue;
      }
      const p = join(d, name);
      if (kind === 'dir') { if (recursive) walk(p); continue; }
      if (!wanted(name)) continue;
      if (kind === 'other') problems.push(`${p}: not a regular file (a FIFO, socket or device?); expected an image or label file`);
      else out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

type EntryKind = 'dir' | 'file' | 'other';

/** What a directory entry is, following a symbolic link (a dangling link counts as a file: reading it names it). */
function entryKind(d: string, ent: Dirent<Buffer>): EntryKind {
  if (ent.isDirectory()) return 'dir';
  if (ent.isFile()) return 'file';
  if (!ent.isSymbolicLink()) return 'other';
  try {
    const st = statSync(Buffer.concat([Buffer.from(d + sep), ent.name])); // bytes: the name may not be UTF-8
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  } catch { return 'file'; }
}

/** The entry's name as UTF-8, or undefined when its bytes are not valid UTF-8. */
function utf8Name(b: Buffer): string | undefined {
  try { return new TextDecoder('utf-8', { fatal: true }).decode(b); } catch { return undefined; }
}

/** A name for messages: ASCII as is, every other byte as \xNN. */
function escapeName(b: Buffer): string {
  return [...b].map((c) => (c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
}

export function isDir(p: string): boolean {
  try { return statSync(p).isDirectory(); } catch { return false; }
}

export interface PairCheck {
  root: string;
  format: LabelFormat;
  /** 'error': image/label size mismatch is a problem; 'warn': allowed (label is resized to the crop size later). */
  sizeMismatch: 'error' | 'warn';
}

/**
 * Header-only validation of every entry: image readable; label readable, of the right kind, same size as the
 * image. Returns the label/image size mismatches (for 'warn') and each image's [W, H]; problems go to `problems`.
 */
export function checkEntries(entries: readonly FileEntry[], problems: Problems,
  c: PairCheck): { mismatched: string[]; sizes: ([number, number] | undefined)[] } {
  const mismatched: string[] = [];
  const sizes: ([number, number] | undefined)[] = [];
  entries.forEach((e, i) => {
    const imagePath = join(c.root, e.image);
    let img: ImageHeader | undefined;
    try { img = probeImage(imagePath); } catch (err) { problems.add(i, imagePath, stripPath(err, imagePath)); }
    sizes[i] = img ? [img.width, img.height] : undefined;
    if (e.label === undefined) return;
    const labelPath = join(c.root, e.label);
    let lab: ImageHeader;
    try { lab = probeImage(labelPath); } catch (err) { problems.add(i, labelPath, stripPath(err, labelPath)); return; }
    const bad = labelHeaderProblem(lab, c.format);
    if (bad) { problems.add(i, labelPath, bad); return; }
    if (img && (img.width !== lab.width || img.height !== lab.height)) {
      const what = `label is ${lab.width}x${lab.height} but its image ${e.image} is ${img.width}x${img.height}`;
      if (c.sizeMismatch === 'error') problems.add(i, labelPath, what);
      else mismatched.push(`${labelPath}: ${what}`);
    }
  });
  return { mismatched, sizes };
}

function stripPath(err: unknown, path: string): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.startsWith(`${path}: `) ? m.slice(path.length + 2) : m;
}
