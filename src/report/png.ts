// Small raster helpers for the report: PNG encoding (fast-png), label colourising, blending, a viridis heat-map
// for CLAN's classifier disagreement map M (docs/method.md §2.3: M = 1 − cos(p1, p2), in [0, 1]) and data: URIs.
// Every image is a host array in HWC order: RGB is [H, W, 3], gray or labels [H, W].
import { encode } from 'fast-png';
import { DataError } from '../util/errors.js';

/** PNG file bytes. */
export type PngBytes = Uint8Array;
export type Rgb = readonly [number, number, number];

/**
 * 8-bit PNG of an RGB [H, W, 3] (channels = 3) or gray [H, W] (channels = 1) image; `text` becomes tEXt chunks
 * (Latin-1 keyword → value), e.g. the scale of a heat-map so a reader can turn colours back into values.
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 = 3, text?: Record<string, string>): PngBytes {
  checkSize('encodePng', pixels, width, height, channels);
  return encode({ width, height, channels, depth: 8, data: pixels, ...(text ? { text } : {}) });
}

/**
 * Label map [H, W] → RGB [H, W, 3]: class k gets palette[k], 255 ("ignore") gets ignoreColor.
 * A label with no palette entry is an error (it means the palette does not fit the dataset).
 */
export function colorize(label: Uint8Array, width: number, height: number, palette: readonly Rgb[],
  ignoreColor: Rgb = [0, 0, 0]): Uint8Array {
  checkSize('colorize', label, width, height, 1);
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < label.length; i++) {
    const k = label[i]!;
    const c = k === 255 ? ignoreColor : palette[k];
    if (c === undefined) throw new DataError(`colorize: label ${k} at pixel ${i} has no palette entry; expected 0..${palette.length - 1} or 255 (ignore)`);
    out[3 * i] = c[0]; out[3 * i + 1] = c[1]; out[3 * i + 2] = c[2];
  }
  return out;
}

/** Pixels an overlay leaves as they are: those whose `label` is one of `classes` (e.g. a background class). */
export interface OverlayClear { label: Uint8Array; classes: readonly number[] }

/**
 * Per-channel blend round((1 − alpha)·image + alpha·color) of two equally long RGB arrays. Pixels selected by
 * `clear` keep the image: a background drawn black in the palette would otherwise darken the whole photo.
 */
export function overlay(imageRgb: Uint8Array, colorRgb: Uint8Array, alpha = 0.5, clear?: OverlayClear): Uint8Array {
  if (imageRgb.length !== colorRgb.length) throw new DataError(`overlay: image has ${imageRgb.length} values but colour has ${colorRgb.length}; expected the same [H, W, 3] size`);
  if (!(alpha >= 0 && alpha <= 1)) throw new DataError(`overlay: alpha = ${alpha}; expected a number in [0, 1]`);
  if (clear && clear.label.length * 3 !== imageRgb.length) throw new DataError(`overlay: label has ${clear.label.length} pixels but the image ${imageRgb.length / 3}; expected the same [H, W] size`);
  const keep = new Uint8Array(256);
  for (const c of clear?.classes ?? []) keep[c] = 1;
  const out = new Uint8Array(imageRgb.length);
  for (let i = 0; i < out.length; i++) {
    out[i] = clear && keep[clear.label[(i / 3) | 0]!] ? imageRgb[i]! : Math.round((1 - alpha) * imageRgb[i]! + alpha * colorRgb[i]!);
  }
  return out;
}

/** matplotlib's viridis at t = 0, 1/9, …, 1 (perceptually uniform, readable in gray and by colour-blind readers). */
export const VIRIDIS: readonly Rgb[] = [
  [68, 1, 84], [72, 40, 120], [62, 73, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [110, 206, 88], [181, 222, 43], [253, 231, 37],
];

/** Colour of t ∈ [0, 1] in a piecewise-linear colour table (clamped outside). */
export function colormap(t: number, table: readonly Rgb[] = VIRIDIS): Rgb {
  const x = Math.min(1, Math.max(0, t)) * (table.length - 1);
  const i = Math.min(table.length - 2, Math.floor(x)), f = x - i;
  const a = table[i]!, b = table[i + 1]!;
  return [Math.round(a[0] + f * (b[0] - a[0])), Math.round(a[1] + f * (b[1] - a[1])), Math.round(a[2] + f * (b[2] - a[2]))];
}

export interface HeatmapOptions {
  min?: number;          // value drawn with the first colour (default 0)
  max?: number;          // value drawn with the last colour (default 1); M is mostly small, so a lower max helps
  nanColor?: Rgb;        // colour of non-finite values (default black)
  table?: readonly Rgb[]; // colour table (default VIRIDIS)
}

/** Values [H, W] → RGB [H, W, 3] through a colour table; values outside [min, max] are clamped. */
export function heatmap(values: Float32Array, width: number, height: number, opts: HeatmapOptions = {}): Uint8Array {
  checkSize('heatmap', values, width, height, 1);
  const { min = 0, max = 1 } = opts;
  if (!(max > min)) throw new DataError(`heatmap: max = ${max} must be greater than min = ${min}`);
  const index = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) index[i] = heatIndex(values[i]!, min, max);
  return heatmapOfIndex(index, width, height, opts);
}

/** A heat-map pixel's colour index: 0..255 along the table for v in [min, max] (clamped), 256 for a non-finite v. */
export function heatIndex(v: number, min: number, max: number): number {
  return Number.isFinite(v) ? Math.round(Math.min(1, Math.max(0, (v - min) / (max - min))) * 255) : 256;
}

/**
 * Colour indices [H, W] (heatIndex) → RGB [H, W, 3]: what heatmap draws, from one byte-and-a-bit per pixel instead of
 * a float (clan predict keeps an image's map as indices and draws it a block of rows at a time).
 */
export function heatmapOfIndex(index: Uint16Array, width: number, height: number, opts: HeatmapOptions = {}): Uint8Array {
  checkSize('heatmapOfIndex', index, width, height, 1);
  const { nanColor = [0, 0, 0], table = VIRIDIS } = opts;
  // 257-entry lookup (the table at j / 255, then the colour of non-finite values): one read per pixel.
  const lut = new Uint8Array(257 * 3);
  for (let j = 0; j < 256; j++) lut.set(colormap(j / 255, table), 3 * j);
  lut.set(nanColor, 3 * 256);
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < index.length; i++) {
    const j = index[i]!;
    if (j > 256) throw new DataError(`heatmapOfIndex: index ${j} at pixel ${i}; expected 0..256 (heatIndex)`);
    out[3 * i] = lut[3 * j]!; out[3 * i + 1] = lut[3 * j + 1]!; out[3 * i + 2] = lut[3 * j + 2]!;
  }
  return out;
}

/** Nearest-neighbour enlargement by an integer factor (labels and small maps stay crisp in the report). */
export function upscale(pixels: Uint8Array, width: number, height: number, channels: number, factor: number): Uint8Array {
  checkSize('upscale', pixels, width, height, channels);
  if (!Number.isInteger(factor) || factor < 1) throw new DataError(`upscale: factor = ${factor}; expected an integer ≥ 1`);
  const W = width * factor, out = new Uint8Array(W * height * factor * channels);
  for (let y = 0; y < height * factor; y++) {
    const sy = Math.floor(y / factor);
    for (let x = 0; x < W; x++) {
      const s = (sy * width + Math.floor(x / factor)) * channels, d = (y * W + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = pixels[s + c]!;
    }
  }
  return out;
}

/** `data:image/png;base64,…` for inlining a PNG into HTML. */
export function dataUri(png: PngBytes): string {
  return 'data:image/png;base64,' + Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64');
}

function checkSize(fn: string, a: ArrayLike<number>, width: number, height: number, channels: number): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new DataError(`${fn}: size ${width}×${height}; expected positive integers`);
  if (a.length !== width * height * channels) throw new DataError(`${fn}: ${a.length} values for ${width}×${height}×${channels}; expected ${width * height * channels}`);
}
