// Preprocessing and augmentation of one sample (docs/method.md §5.4):
//   image: PIL BICUBIC resize to the nominal size × random scale (image only), RGB→BGR, minus the Caffe BGR
//          mean, no std; → Float32Array CHW [3, H, W];
//   label: PIL NEAREST resize to the NOMINAL size (never scaled; logits are upsampled to it) → Uint8Array [h, w];
//   both:  horizontal flip with p = 0.5.
// Random draws come only from an Rng passed in (rng.ts); drawAugment always consumes exactly two numbers so a
// stream's later draws do not depend on which augmentations are switched on.
import { ConfigError } from '../util/errors.js';
import type { LabelMap, RawSample } from './dataset.js';
import { resizeBicubic, resizeNearest } from './resize.js';
import { IMG_MEAN_BGR, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB } from '../util/normalization.js';
export { IMG_MEAN_BGR, IMAGENET_MEAN_RGB, IMAGENET_STD_RGB };

export interface TransformOptions {
  /** Nominal [W, H] (GTA5 1280x720, SYNTHIA 1280x760, Cityscapes 1024x512). */
  size: readonly [number, number];
  /** Random image scale ×1.1 / ×0.8 / ×1.0 (default false). */
  randomScale?: boolean;
  /** Random horizontal flip of image and label, p = 0.5 (default false). */
  flip?: boolean;
  /** 'caffe' (default): BGR − IMG_MEAN_BGR, 0..255 range; 'imagenet': RGB (x/255 − mean)/std. */
  normalize?: 'caffe' | 'imagenet';
  /** 'nominal' (default): label resized to `size`; 'native': label kept at file resolution (evaluation, §5.3). */
  labelSize?: 'nominal' | 'native';
}

export interface Augment { scale: number; flip: boolean }

/** ConfigError for a transform that cannot work (checked once, when a loader is built). */
export function checkTransform(o: TransformOptions): void {
  const [w, h] = o.size;
  if (!(Number.isInteger(w) && Number.isInteger(h) && w >= 1 && h >= 1)) throw new ConfigError(`transform.size must be [W, H] positive integers, got [${w}, ${h}]`);
  if (o.normalize !== undefined && o.normalize !== 'caffe' && o.normalize !== 'imagenet') throw new ConfigError(`transform.normalize must be 'caffe' or 'imagenet', got '${String(o.normalize)}'`);
  if (o.labelSize !== undefined && o.labelSize !== 'nominal' && o.labelSize !== 'native') throw new ConfigError(`transform.labelSize must be 'nominal' or 'native', got '${String(o.labelSize)}'`);
}

/** §5.4 __scale__: r > 0.7 → 1.1, r < 0.3 → 0.8, else 1.0; then flip if r2 < 0.5. */
export function drawAugment(rng: { next(): number }, o: TransformOptions): Augment {
  const r = rng.next();
  const r2 = rng.next();
  const scale = !o.randomScale ? 1 : r > 0.7 ? 1.1 : r < 0.3 ? 0.8 : 1;
  return { scale, flip: !!o.flip && r2 < 0.5 };
}

/** Image size for a scale: Python int() truncation, e.g. 1024×1.1 → 1126, 512×0.8 → 409 (§5.4). */
export function scaledSize(size: readonly [number, number], scale: number): [number, number] {
  return scale === 1 ? [size[0], size[1]] : [Math.trunc(size[0] * scale), Math.trunc(size[1] * scale)];
}

export interface Processed {
  image: Float32Array;  // [3, height, width]
  width: number;
  height: number;
  label?: Uint8Array;   // [labelHeight, labelWidth] trainIds, 255 = ignore
  labelWidth: number;
  labelHeight: number;
}

export function preprocess(s: RawSample, o: TransformOptions, aug: Augment): Processed {
  const [w, h] = scaledSize(o.size, aug.scale);
  const img = resizeBicubic(s.image, w, h);
  const image = toChw(img.data, w, h, o.normalize ?? 'caffe', aug.flip);
  if (!s.label) return { image, width: w, height: h, labelWidth: 0, labelHeight: 0 };
  const lab: LabelMap = (o.labelSize ?? 'nominal') === 'native' ? s.label : resizeNearest(s.label, o.size[0], o.size[1]);
  const label = aug.flip ? flipRows(lab) : (lab === s.label ? lab.data.slice() : lab.data);
  return { image, width: w, height: h, label, labelWidth: lab.width, labelHeight: lab.height };
}

/** HWC RGB uint8 → CHW float32, normalised, optionally mirrored left–right. */
function toChw(rgb: Uint8Array, w: number, h: number, norm: 'caffe' | 'imagenet', flip: boolean): Float32Array {
  const out = new Float32Array(3 * w * h);
  const plane = w * h;
  // caffe: output channel c is BGR channel c = RGB channel 2 − c, minus the mean; imagenet keeps RGB, (v − m)·k.
  const caffe = norm === 'caffe';
  const [m0, m1, m2] = caffe ? IMG_MEAN_BGR : IMAGENET_MEAN_RGB.map((m) => m * 255);
  const [k0, k1, k2] = caffe ? [1, 1, 1] : IMAGENET_STD_RGB.map((sd) => 1 / (255 * sd));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = 3 * (y * w + x), d = y * w + (flip ? w - 1 - x : x);
      const r = rgb[s]!, g = rgb[s + 1]!, b = rgb[s + 2]!;
      out[d] = ((caffe ? b : r) - m0!) * k0!;
      out[plane + d] = (g - m1!) * k1!;
      out[2 * plane + d] = ((caffe ? r : b) - m2!) * k2!;
    }
  }
  return out;
}

function flipRows(l: LabelMap): Uint8Array {
  const out = new Uint8Array(l.data.length);
  for (let y = 0; y < l.height; y++) {
    const r = y * l.width;
    for (let x = 0; x < l.width; x++) out[r + l.width - 1 - x] = l.data[r + x]!;
  }
  return out;
}
