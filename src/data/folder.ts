// Generic folder reader for user data: ROOT[/SPLIT]/images/**.{png,jpg,jpeg} (any channel count) and
// ROOT[/SPLIT]/labels/** with the same stems as .png class-index maps (8-bit gray or palette, read by INDEX,
// 255 = ignore). RGB label files are rejected: colour-coded labels must be converted to indices first.
// Optional ROOT/classes.txt (one class name per line; wins over opts.numClasses, a conflict is an error) and
// ROOT/palette.json ([[r, g, b], ...], one per class). A target-side folder may lack labels/. Its default size is the
// images' own (the most common [W, H]), so a run on the folder sees its pixels unless a size is set.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DatasetType, Problems } from './dataset.js';
import { FileDataset, type FileDesc, type FileEntry } from './files.js';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, IGNORE_INDEX, NUM_CLASSES } from './labels.js';
import { openPaired } from './paired.js';

type Rgb = readonly [number, number, number];

export const folder: DatasetType = {
  summary: 'folder: ROOT[/SPLIT]/images/* (png/jpg) + ROOT[/SPLIT]/labels/*.png class indices (255 ignore), optional classes.txt, palette.json',
  open(spec, opts) {
    const root = resolve(spec.split === undefined ? spec.root : join(spec.root, spec.split));
    const fatal: string[] = [];
    const classesFile = join(root, 'classes.txt');
    let classNames: string[] | undefined;
    if (existsSync(classesFile)) {
      classNames = readFileSync(classesFile, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
      if (classNames.length === 0) fatal.push(`${classesFile}: has no class names (one name per line)`);
      if (opts.numClasses !== undefined && opts.numClasses !== classNames.length) {
        fatal.push(`${classesFile}: lists ${classNames.length} classes but numClasses is ${opts.numClasses}; remove one of the two`);
      }
    }
    const numClasses = classNames?.length ?? opts.numClasses ?? NUM_CLASSES;
    if (!(Number.isInteger(numClasses) && numClasses >= 1 && numClasses < IGNORE_INDEX)) fatal.push(`${root}: numClasses must be in [1, 254] (255 is ignore), got ${numClasses}`);
    const names = classNames ?? (numClasses === NUM_CLASSES ? [...CITYSCAPES_CLASSES] : Array.from({ length: numClasses }, (_, i) => `class ${i}`));
    let palette: Rgb[] | undefined = numClasses === NUM_CLASSES && !classNames ? [...CITYSCAPES_PALETTE] : undefined;
    const paletteFile = join(root, 'palette.json');
    if (existsSync(paletteFile)) {
      const p = readPalette(paletteFile, numClasses);
      if (typeof p === 'string') fatal.push(p); else palette = p;
    }
    const stem = (rel: string): string => rel.replace(/\.(png|jpe?g)$/i, '');
    return openPaired({
      spec, opts, root, imageDir: 'images', labelDir: 'labels', imageSuffixes: ['.png', '.jpg', '.jpeg'], recursive: true,
      layoutHint: 'ROOT/images/NAME.{png,jpg} + ROOT/labels/NAME.png',
      pair: (rel) => ({ name: stem(rel), labelRel: `${stem(rel)}.png` }),
      format: 'train-ids', sizeMismatch: 'error', sizeFromImages: true,
      numClasses, classNames: names, ...(palette ? { palette } : {}),
      extraChecks: (entries, problems) => { for (const f of fatal) problems.addFatal(f); duplicateStems(root, entries, problems); },
    });
  },
  revive: (desc) => new FileDataset(desc as FileDesc),
};

/** Two images with one stem (a.png + a.jpg) would share a label file: report both. */
function duplicateStems(root: string, entries: readonly FileEntry[], problems: Problems): void {
  const byName = new Map<string, number[]>();
  entries.forEach((e, i) => byName.set(e.name, [...(byName.get(e.name) ?? []), i]));
  for (const idx of byName.values()) {
    if (idx.length < 2) continue;
    const files = idx.map((i) => entries[i]!.image);
    for (const i of idx) problems.add(i, join(root, entries[i]!.image), `shares its stem with ${files.filter((f) => f !== entries[i]!.image).join(', ')}; labels are matched by stem`);
  }
}

/** palette.json → one [r, g, b] per class, or the problem as a string. */
function readPalette(file: string, numClasses: number): Rgb[] | string {
  let v: unknown;
  try { v = JSON.parse(readFileSync(file, 'utf8')); } catch (e) { return `${file}: not valid JSON (${(e as Error).message})`; }
  const ok = Array.isArray(v)
    && v.every((c) => Array.isArray(c) && c.length === 3 && c.every((x) => Number.isInteger(x) && x >= 0 && x <= 255));
  if (!ok) return `${file}: expected a JSON array of [r, g, b] triples with integers 0..255`;
  const pal = v as Rgb[];
  if (pal.length < numClasses) return `${file}: has ${pal.length} colours for ${numClasses} classes`;
  return pal.slice(0, numClasses);
}
