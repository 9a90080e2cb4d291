// SYNTHIA-RAND-CITYSCAPES reader (docs/method.md §5.2): ROOT/RGB/NNNNNNN.png + ROOT/GT/LABELS/NNNNNNN.png.
// Labels are 16-bit, 3-channel PNGs; the class id is channel 0 (what imageio 'PNG-FI' [:,:,0] reads).
// Training uses all 19 classes; evaluation reports the 16/13-class subsets (labels.ts EVAL_SUBSETS).
import { resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import type { DatasetType } from './dataset.js';
import { FileDataset, type FileDesc } from './files.js';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, NUM_CLASSES } from './labels.js';
import { openPaired } from './paired.js';

export const synthia: DatasetType = {
  summary: 'SYNTHIA-RAND-CITYSCAPES source: ROOT/RGB/*.png + ROOT/GT/LABELS/*.png (16-bit, class id in channel 0); split train',
  open(spec, opts) {
    if (spec.split !== undefined && spec.split !== 'train') {
      throw new UsageError(`dataset synthia has only split 'train' (every image, like synthia_list/train.txt); got '${spec.split}'`);
    }
    return openPaired({
      spec, opts, root: resolve(spec.root), imageDir: 'RGB', labelDir: 'GT/LABELS', imageSuffixes: ['.png'], recursive: false,
      layoutHint: 'ROOT/RGB/0000000.png + ROOT/GT/LABELS/0000000.png',
      pair: (rel) => ({ name: rel.replace(/\.png$/i, ''), labelRel: rel }),
      format: 'synthia', sizeMismatch: 'error',
      numClasses: NUM_CLASSES, classNames: CITYSCAPES_CLASSES, palette: CITYSCAPES_PALETTE, defaultSize: [1280, 760],
    });
  },
  revive: (desc) => new FileDataset(desc as FileDesc),
};
