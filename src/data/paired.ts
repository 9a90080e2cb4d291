// Shared open-time logic of the file-based readers: list images, pair each with its label file by name,
// validate headers, then throw one DataError with every problem (or skip them with skipBad).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Problems, checkSplit, formatSpec, type DatasetSpec, type OpenOptions } from './dataset.js';
import { FileDataset, checkEntries, isDir, listFiles, type FileEntry, type LabelFormat } from './files.js';

export interface PairedLayout {
  spec: DatasetSpec;
  opts: OpenOptions;
  root: string;            // absolute dataset root
  imageDir: string;        // relative to root, e.g. 'images' or 'leftImg8bit/val'
  labelDir: string;        // relative to root
  imageSuffixes: readonly string[]; // endings (case-insensitive) that select image files, e.g. ['.png']
  recursive: boolean;
  layoutHint: string;      // shown when a folder is missing, e.g. 'ROOT/images/00001.png + ROOT/labels/00001.png'
  /** Sample name and label path (relative to labelDir) for an image path relative to imageDir. */
  pair(imageRel: string): { name: string; labelRel: string };
  format: LabelFormat;
  sizeMismatch: 'error' | 'warn';
  sizeMismatchNote?: string;
  numClasses: number;
  classNames: readonly string[];
  palette?: readonly (readonly [number, number, number])[];
  defaultSize?: readonly [number, number];
  /** No fixed size (user folders): the default size is the images' own, the most common [W, H] of the listed ones. */
  sizeFromImages?: boolean;
  /** Extra per-sample checks (e.g. duplicate stems in folder datasets). */
  extraChecks?: (entries: readonly FileEntry[], problems: Problems) => void;
}

export function openPaired(L: PairedLayout): FileDataset {
  checkSplit(L.spec);
  const spec = formatSpec(L.spec);
  const problems = new Problems(spec, L.opts);
  const imageAbs = join(L.root, L.imageDir);
  const labelAbs = join(L.root, L.labelDir);
  const mode = L.opts.labels ?? 'required';
  if (!isDir(L.root)) problems.addFatal(`${L.root}: dataset root folder not found`);
  else if (!isDir(imageAbs)) problems.addFatal(`${imageAbs}: image folder not found (expected layout ${L.layoutHint})`);
  // Without the label folder there is nothing per image to report: one line says what is missing.
  const useLabels = isDir(labelAbs) ? mode !== 'none' : false;
  if (mode === 'required' && isDir(L.root) && !isDir(labelAbs)) {
    problems.addFatal(`${labelAbs}: label folder not found; labels are needed here (a training source, an eval or validation set): expected layout ${L.layoutHint}`);
  }
  const unlisted: string[] = []; // names that are not UTF-8, link cycles: never silently missing
  const images = isDir(imageAbs) ? listFiles(imageAbs, L.imageSuffixes, L.recursive, unlisted) : [];
  for (const p of unlisted) problems.addFatal(p);
  if (isDir(imageAbs) && images.length === 0) {
    problems.addFatal(`${imageAbs}: no image files (${L.imageSuffixes.join(', ')}) found (expected layout ${L.layoutHint})`);
  }
  const entries: FileEntry[] = images.map((rel) => {
    const { name, labelRel } = L.pair(rel);
    const e: FileEntry = { name, image: `${L.imageDir}/${rel}` };
    return useLabels ? { ...e, label: `${L.labelDir}/${labelRel}` } : e;
  });
  if (useLabels && isDir(labelAbs)) {
    entries.forEach((e, i) => {
      if (e.label !== undefined && !existsSync(join(L.root, e.label))) {
        problems.add(i, join(L.root, e.image), `has no label file (expected ${join(L.root, e.label)})`);
        delete e.label; // checked no further; reported above
      }
    });
  }
  L.extraChecks?.(entries, problems);
  const { mismatched, sizes } = checkEntries(entries, problems, { root: L.root, format: L.format, sizeMismatch: L.sizeMismatch });
  const keep = problems.settle(entries.length);
  const warn = L.opts.warn ?? ((m: string) => console.warn(m));
  const defaultSize = L.defaultSize ?? (L.sizeFromImages ? imagesSize(spec, keep.map((i) => sizes[i]), warn) : undefined);
  const largestSize = keep.map((i) => sizes[i])
    .reduce<[number, number] | undefined>((m, s) => (s && (!m || s[0] * s[1] > m[0] * m[1]) ? s : m), undefined);
  if (mismatched.length > 0) {
    warn(`dataset ${spec}: ${mismatched.length} label file(s) differ in size from their images; ${L.sizeMismatchNote ?? ''} ` +
      `first: ${mismatched[0]}`);
  }
  return new FileDataset({
    type: L.spec.type, spec, root: L.root, entries: keep.map((i) => entries[i]!), labelFormat: L.format, hasLabels: useLabels,
    numClasses: L.numClasses, classNames: L.classNames,
    ...(L.palette ? { palette: L.palette } : {}), ...(defaultSize ? { defaultSize } : {}), ...(largestSize ? { largestSize } : {}),
  });
}

/** The most common image size [W, H] (the first listed on a tie); a note when the images do not all share it. */
function imagesSize(spec: string, sizes: readonly ([number, number] | undefined)[],
  warn: (m: string) => void): [number, number] | undefined {
  const count = new Map<string, number>();
  for (const s of sizes) if (s) count.set(`${s[0]}x${s[1]}`, (count.get(`${s[0]}x${s[1]}`) ?? 0) + 1);
  if (count.size === 0) return undefined;
  const [best, n] = [...count].reduce((a, b) => (b[1] > a[1] ? b : a));
  if (count.size > 1) warn(`dataset ${spec}: images come in ${count.size} sizes; ${sizes.length - n} of ${sizes.length} are resized to the most common, ${best} (set the section's size to choose)`);
  const [w, h] = best.split('x').map(Number) as [number, number];
  return [w, h];
}
