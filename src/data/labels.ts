// Class definitions and label-id mappings of the three benchmarks (docs/method.md §5.1–5.3).
// Every dataset is mapped to the 19 Cityscapes trainIds; 255 is "ignore" everywhere.

export const IGNORE_INDEX = 255;
export const NUM_CLASSES = 19;

/** The 19 trainId classes in Cityscapes order (docs/method.md §5.3; info.json spells "motocycle"). */
export const CITYSCAPES_CLASSES: readonly string[] = [
  'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign', 'vegetation',
  'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle',
];

/** Cityscapes colour per trainId, [r, g, b] (cityscapesScripts labels.py). */
export const CITYSCAPES_PALETTE: readonly (readonly [number, number, number])[] = [
  [128, 64, 128], [244, 35, 232], [70, 70, 70], [102, 102, 156], [190, 153, 153], [153, 153, 153],
  [250, 170, 30], [220, 220, 0], [107, 142, 35], [152, 251, 152], [70, 130, 180], [220, 20, 60],
  [255, 0, 0], [0, 0, 142], [0, 0, 70], [0, 60, 100], [0, 80, 100], [0, 0, 230], [119, 11, 32],
];

/** Cityscapes labelIds of trainIds 0..18, in order (info.json label2train; also the GTA5 label ids, §5.1). */
export const CITYSCAPES_TRAIN_LABEL_IDS: readonly number[] = [7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33];

/** SYNTHIA class ids of trainIds 0..18, in order (docs/method.md §5.2). */
export const SYNTHIA_TRAIN_IDS: readonly number[] = [3, 4, 2, 21, 5, 7, 15, 9, 6, 16, 1, 10, 17, 8, 18, 19, 20, 12, 11];

/** A lookup table id → trainId of the given size; every id not listed maps to 255. */
function lut(size: number, ids: readonly number[]): Uint8Array {
  const t = new Uint8Array(size).fill(IGNORE_INDEX);
  ids.forEach((id, trainId) => { t[id] = trainId; });
  return t;
}

/** Cityscapes labelId (0..255) → trainId; also used for GTA5 palette indices. */
export const CITYSCAPES_ID_TO_TRAINID: Uint8Array = lut(256, CITYSCAPES_TRAIN_LABEL_IDS);
/** SYNTHIA class id (16-bit) → trainId; ids ≥ 65536 cannot occur in a 16-bit PNG. */
export const SYNTHIA_ID_TO_TRAINID: Uint8Array = lut(65536, SYNTHIA_TRAIN_IDS);

/** Maps raw ids [H, W] through a lookup table to trainIds [H, W]; ids beyond the table become 255. */
export function mapIds(ids: Uint8Array | Uint16Array, table: Uint8Array): Uint8Array {
  const out = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = table[ids[i]!] ?? IGNORE_INDEX;
  return out;
}

/** Evaluation class subsets, as trainId index lists (docs/method.md §5.2, §5.3). */
export const EVAL_SUBSETS: Readonly<Record<'cityscapes19' | 'synthia16' | 'synthia13', readonly number[]>> = {
  cityscapes19: Array.from({ length: 19 }, (_, i) => i),
  // 19 minus terrain (9), truck (14), train (16).
  synthia16: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18],
  // 16 minus wall (3), fence (4), pole (5).
  synthia13: [0, 1, 2, 6, 7, 8, 10, 11, 12, 13, 15, 17, 18],
};
export type EvalSubset = keyof typeof EVAL_SUBSETS;

/** Pixel count per value, as {value: count} (for tests and dataset statistics). */
export function histogram(labels: Uint8Array): Record<number, number> {
  const counts = new Float64Array(256);
  for (let i = 0; i < labels.length; i++) counts[labels[i]!]!++;
  const out: Record<number, number> = {};
  counts.forEach((c, v) => { if (c > 0) out[v] = c; });
  return out;
}
