// GTA5 reader (docs/method.md §5.1): ROOT/images/NNNNN.png + ROOT/labels/NNNNN.png. Labels are palette PNGs
// whose INDEX is the Cityscapes labelId (decoding them as RGB gives colours, not ids). A few real GTA5 labels
// differ in size from their images; the reference resizes both to 1280x720 independently, so we allow it
// (the label is resized to the crop size with NEAREST in transforms.ts) and warn once.
import { resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import type { DatasetType } from './dataset.js';
import { FileDataset, type FileDesc } from './files.js';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, NUM_CLASSES } from './labels.js';
import { openPaired } from './paired.js';

export const gta5: DatasetType = {
  summary: 'GTA5 source: ROOT/images/*.png + ROOT/labels/*.png (palette index = Cityscapes labelId); split train (all images)',
  open(spec, opts) {
    if (spec.split !== undefined && spec.split !== 'train') {
      throw new UsageError(`dataset gta5 has only split 'train' (every image, like gta5_list/train.txt); got '${spec.split}'`);
    }
    const name = (rel: string): string => rel.replace(/\.png$/i, '');
    return openPaired({
      spec, opts, root: resolve(spec.root), imageDir: 'images', labelDir: 'labels', imageSuffixes: ['.png'], recursive: false,
      layoutHint: 'ROOT/images/00001.png + ROOT/labels/00001.png',
      pair: (rel) => ({ name: name(rel), labelRel: rel }),
      format: 'cityscapes-ids', sizeMismatch: 'warn',
      sizeMismatchNote: 'each label is resized to the crop size with NEAREST, as the reference does;',
      numClasses: NUM_CLASSES, classNames: CITYSCAPES_CLASSES, palette: CITYSCAPES_PALETTE, defaultSize: [1280, 720],
    });
  },
  revive: (desc) => new FileDataset(desc as FileDesc),
};
