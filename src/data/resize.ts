// Image resizing that reproduces Pillow (9.x) bit for bit, because the reference pipeline resizes with PIL
// (docs/method.md §5.1–5.4): Image.resize(size, BICUBIC) for images, NEAREST for labels.
//
// BICUBIC (libImaging/Resample.c): separable, horizontal pass then vertical pass, each output 8-bit. The cubic
// kernel (a = −0.5, support 2) is stretched by the downscale factor (antialiasing), normalised per output
// pixel, converted to 22-bit fixed point, accumulated in integers with a rounding offset, then clipped to 0..255.
// NEAREST (libImaging/Geometry.c ImagingScaleAffine): source coordinate = trunc of an ACCUMULATED
// x0 = step/2, x += step; accumulation (not (x + 0.5)·step) matters at exact .0 boundaries.
import type { RgbImage } from './image.js';
import type { LabelMap } from './dataset.js';

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** PIL's bicubic_filter with a = −0.5. */
function cubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs { ksize: number; bounds: Int32Array; k: Int32Array } // bounds [out, 2] = (min, count); k [out, ksize]

/** precompute_coeffs + normalize_coeffs_8bpc for one axis. */
function coeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) { w[x] = cubic((x + xmin - center + 0.5) * ss); ww += w[x]!; }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x]! / ww : w[x]!;
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, k };
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** One horizontal pass: [H, inW, C] → [H, outW, C]. */
function horizontal(src: Uint8Array, H: number, inW: number, C: number, outW: number): Uint8Array {
  const { ksize, bounds, k } = coeffs(inW, outW);
  const out = new Uint8Array(H * outW * C);
  for (let y = 0; y < H; y++) {
    const row = y * inW * C;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[2 * xx]!, n = bounds[2 * xx + 1]!, kb = xx * ksize;
      if (C === 3) { // RGB fast path: one kernel load per tap, contiguous reads
        let s0 = HALF, s1 = HALF, s2 = HALF, p = row + xmin * 3;
        for (let x = 0; x < n; x++, p += 3) {
          const kv = k[kb + x]!;
          s0 += src[p]! * kv; s1 += src[p + 1]! * kv; s2 += src[p + 2]! * kv;
        }
        const o = (y * outW + xx) * 3;
        out[o] = clip8(s0); out[o + 1] = clip8(s1); out[o + 2] = clip8(s2);
        continue;
      }
      for (let c = 0; c < C; c++) {
        let ss = HALF;
        for (let x = 0; x < n; x++) ss += src[row + (x + xmin) * C + c]! * k[kb + x]!;
        out[(y * outW + xx) * C + c] = clip8(ss);
      }
    }
  }
  return out;
}

/** One vertical pass: [inH, W, C] → [outH, W, C], accumulating whole rows for cache-friendly access. */
function vertical(src: Uint8Array, inH: number, W: number, C: number, outH: number): Uint8Array {
  const { ksize, bounds, k } = coeffs(inH, outH);
  const rowLen = W * C;
  const out = new Uint8Array(outH * rowLen);
  const acc = new Float64Array(rowLen);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[2 * yy]!, n = bounds[2 * yy + 1]!, kb = yy * ksize;
    acc.fill(HALF);
    for (let y = 0; y < n; y++) {
      const kv = k[kb + y]!, base = (y + ymin) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i]! += src[base + i]! * kv;
    }
    const o = yy * rowLen;
    for (let i = 0; i < rowLen; i++) out[o + i] = clip8(acc[i]!);
  }
  return out;
}

/** PIL `Image.resize((w, h), Image.BICUBIC)` of 8-bit interleaved pixels [H, W, C]. */
export function resizeBicubicRaw(src: Uint8Array, W: number, H: number, C: number, w: number, h: number): Uint8Array {
  if (w < 1 || h < 1) throw new RangeError(`resize: target size ${w}x${h} must be positive`);
  let data = src, curW = W;
  if (w !== W) { data = horizontal(data, H, W, C, w); curW = w; }
  if (h !== H) data = vertical(data, H, curW, C, h);
  return data === src ? src.slice() : data;
}

export function resizeBicubic(img: RgbImage, w: number, h: number): RgbImage {
  return { width: w, height: h, data: resizeBicubicRaw(img.data, img.width, img.height, 3, w, h) };
}

/** Source index per output index, as PIL's ImagingScaleAffine tabulates it. */
function nearestTable(inSize: number, outSize: number): Int32Array {
  const step = inSize / outSize;
  const t = new Int32Array(outSize);
  let xo = step * 0.5;
  for (let x = 0; x < outSize; x++) {
    const xi = xo < 0 ? -1 : Math.trunc(xo);
    t[x] = xi < 0 ? 0 : xi >= inSize ? inSize - 1 : xi;
    xo += step;
  }
  return t;
}

/** PIL `Image.resize((w, h), Image.NEAREST)` of a label map [H, W]. */
export function resizeNearest(lab: LabelMap, w: number, h: number): LabelMap {
  if (w === lab.width && h === lab.height) return { width: w, height: h, data: lab.data.slice() };
  const tx = nearestTable(lab.width, w), ty = nearestTable(lab.height, h);
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const row = ty[y]! * lab.width;
    for (let x = 0; x < w; x++) out[y * w + x] = lab.data[row + tx[x]!]!;
  }
  return { width: w, height: h, data: out };
}
