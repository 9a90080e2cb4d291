// What an inference spec is (mmsegmentation's test options: whole or sliding windows, multi-scale + flip) and the
// geometry it implies — pass sizes, slide windows — as plain arithmetic, no engine: infer/inference.ts runs it on
// libtorch, deploy/ort.ts on onnxruntime. The semantics are written out in infer/inference.ts's header.
import { UsageError } from '../util/errors.js';

export type InferMode = 'whole' | 'slide';

export interface InferenceSpec {
  /** 'whole' (default): the network input at once; 'slide': windows of `crop` every `stride` (mmseg slide_inference). */
  mode: InferMode;
  /** Slide window [W, H] in network-input pixels (--crop WxH). */
  crop?: readonly [number, number];
  /** Slide step [W, H] (--stride WxH). */
  stride?: readonly [number, number];
  /** Ratios of the eval size, one pass each (--scales 0.5,0.75,…; mmseg img_ratios); absent: one pass at the eval size. */
  scales?: readonly number[];
  /** Each ratio also mirrored left–right, its probabilities mirrored back (--flip). */
  flip?: boolean;
}

/** Today's inference: one pass at the eval size, the whole input. */
export const WHOLE: InferenceSpec = Object.freeze({ mode: 'whole' });

/** One network pass of a spec: the input size and whether it is mirrored. */
export interface Pass { width: number; height: number; flip: boolean }

/** A slide window in input pixels, [x1, x2) × [y1, y2). */
export interface Window { x1: number; y1: number; x2: number; y2: number }

/** True when a spec is today's single whole pass (the eval loader path, no softmax needed). */
export function isPlainWhole(s: InferenceSpec | undefined): boolean {
  return s === undefined || (s.mode === 'whole' && !isAugmented(s));
}

/** A spec in words for a report title: "whole", "slide 512x512 every 341x341", "… at 0.5,1,1.5 with flip". */
export function describeInference(s: InferenceSpec): string {
  const base = s.mode === 'slide' ? `slide ${fmt(s.crop)} every ${fmt(s.stride)}` : 'whole';
  return base + (s.scales ? ` at ${s.scales.join(',')}` : '') + (s.flip ? ' with flip' : '');
}

/** True when a spec asks for test-time augmentation (then sizes follow mmseg's keep_ratio). */
export function isAugmented(s: InferenceSpec): boolean {
  return s.scales !== undefined || s.flip === true;
}

const MAX_SCALE = 8;
const MAX_SCALES = 16;
const okSize = (v: readonly number[] | undefined): boolean => v !== undefined && v.length === 2
  && v.every((n) => Number.isSafeInteger(n) && n >= 1 && n <= 65535);

/** UsageError (one line naming the flag) for a spec that cannot run; called before any image is read. */
export function checkInferenceSpec(s: InferenceSpec): void {
  if (s.mode !== 'whole' && s.mode !== 'slide') throw new UsageError(`--mode expects whole or slide, got '${String(s.mode)}'`);
  if (s.mode === 'slide') {
    if (!okSize(s.crop)) throw new UsageError(`--mode slide needs --crop WxH (the window, positive integers), got ${fmt(s.crop)}`);
    if (!okSize(s.stride)) throw new UsageError(`--mode slide needs --stride WxH (the step, positive integers), got ${fmt(s.stride)}`);
  } else if (s.crop !== undefined || s.stride !== undefined) {
    throw new UsageError('--crop and --stride are for --mode slide; --mode whole runs the whole input');
  }
  if (s.scales !== undefined) {
    if (s.scales.length < 1 || s.scales.length > MAX_SCALES) throw new UsageError(`--scales expects 1 to ${MAX_SCALES} ratios, got ${s.scales.length}`);
    const bad = s.scales.find((r) => !(Number.isFinite(r) && r > 0 && r <= MAX_SCALE));
    if (bad !== undefined) throw new UsageError(`--scales expects ratios in (0, ${MAX_SCALE}] of the eval size, e.g. 0.5,0.75,1,1.25,1.5,1.75; got ${bad}`);
  }
}

const fmt = (v: readonly number[] | undefined): string => (v === undefined ? 'none' : v.join('x'));

/** mmcv.rescale_size with a (w, h) scale: the image's w×h scaled by f, the largest factor that fits both edges. */
export function rescaleSize(w: number, h: number, scale: readonly [number, number]): [number, number] {
  const f = Math.min(Math.max(...scale) / Math.max(h, w), Math.min(...scale) / Math.min(h, w));
  return [Math.trunc(w * f + 0.5), Math.trunc(h * f + 0.5)];
}

/** The passes of a spec for an image of w×h at eval size [W, H], in MultiScaleFlipAug's order (ratio, then flip). */
export function inferencePasses(s: InferenceSpec, w: number, h: number, evalSize: readonly [number, number]): Pass[] {
  const [W, H] = evalSize;
  if (!isAugmented(s)) return [{ width: W, height: H, flip: false }];
  return (s.scales ?? [1]).flatMap((r) => {
    const [pw, ph] = rescaleSize(w, h, [Math.trunc(W * r), Math.trunc(H * r)]);
    if (pw < 1 || ph < 1) throw new UsageError(`--scales ${r}: a ${w}x${h} image would be resized to ${pw}x${ph}; use a larger ratio`);
    return (s.flip ? [false, true] : [false]).map((flip) => ({ width: pw, height: ph, flip }));
  });
}

/** mmseg slide_inference's windows over an input of width×height, rows outer; crop and stride are [W, H]. */
export function slideWindows(width: number, height: number, crop: readonly [number, number], stride: readonly [number, number]): Window[] {
  const [wc, hc] = crop, [ws, hs] = stride;
  const rows = Math.floor(Math.max(height - hc + hs - 1, 0) / hs) + 1;
  const cols = Math.floor(Math.max(width - wc + ws - 1, 0) / ws) + 1;
  const out: Window[] = [];
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const y2 = Math.min(i * hs + hc, height), x2 = Math.min(j * ws + wc, width);
      out.push({ x1: Math.max(x2 - wc, 0), y1: Math.max(y2 - hc, 0), x2, y2 });
    }
  }
  return out;
}

/** How many windows cover each pixel of a width×height input, [H·W] (every entry ≥ 1 for mmseg's grid). */
export function windowCounts(width: number, height: number, windows: readonly Window[]): Float32Array {
  const count = new Float32Array(width * height);
  for (const w of windows) for (let y = w.y1; y < w.y2; y++) for (let i = y * width + w.x1; i < y * width + w.x2; i++) count[i]!++;
  return count;
}
