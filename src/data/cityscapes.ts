// Cityscapes reader (docs/method.md §5.3): ROOT/leftImg8bit/SPLIT/CITY/*_leftImg8bit.png with
// ROOT/gtFine/SPLIT/CITY/*_gtFine_labelIds.png, mapped to trainIds as info.json does (default), or the
// *_gtFine_labelTrainIds.png made by cityscapesScripts (opts.cityscapesLabels = 'labelTrainIds').
// Target training reads split train without labels (open with labels 'none'); evaluation reads val.
import { resolve } from 'node:path';
import type { DatasetType } from './dataset.js';
import { FileDataset, type FileDesc } from './files.js';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, NUM_CLASSES } from './labels.js';
import { openPaired } from './paired.js';

const IMAGE_SUFFIX = '_leftImg8bit.png';

export const cityscapes: DatasetType = {
  summary: 'Cityscapes target/eval: ROOT/leftImg8bit/SPLIT/CITY/*_leftImg8bit.png + ROOT/gtFine/... labelIds; split train (default), val, test',
  open(spec, opts) {
    const split = spec.split ?? 'train';
    const which = opts.cityscapesLabels ?? 'labelIds';
    return openPaired({
      spec, opts, root: resolve(spec.root), imageDir: `leftImg8bit/${split}`, labelDir: `gtFine/${split}`,
      imageSuffixes: [IMAGE_SUFFIX], recursive: true,
      layoutHint: `ROOT/leftImg8bit/${split}/CITY/X${IMAGE_SUFFIX} + ROOT/gtFine/${split}/CITY/X_gtFine_${which}.png`,
      pair: (rel) => {
        const name = rel.slice(0, -IMAGE_SUFFIX.length);
        return { name, labelRel: `${name}_gtFine_${which}.png` };
      },
      format: which === 'labelIds' ? 'cityscapes-ids' : 'train-ids', sizeMismatch: 'error',
      numClasses: NUM_CLASSES, classNames: CITYSCAPES_CLASSES, palette: CITYSCAPES_PALETTE, defaultSize: [1024, 512],
    });
  },
  revive: (desc) => new FileDataset(desc as FileDesc),
};
