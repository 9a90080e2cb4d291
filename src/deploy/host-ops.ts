// The inference tail on the host, without libtorch: what src/infer/predict.ts computes with the engine, on plain
// Float32Arrays — bilinear upsampling with align_corners (the official evaluation, docs/method.md §5.3), the label
// argmax of up(x1 + x2) (§1.3) and the disagreement map M = 1 − cos(p1, p2) (§2.3).
// No imports: the compiled .js is loaded as-is by the browser page as well as by deploy/ort.ts.
//
// Arithmetic follows libtorch 1.13's CPU kernel (ATen/native/UpSample.h, UpSampleKernel.cpp), so that results are
// bit-identical to F.interpolate on this machine in all but rare double-rounding cases: scale (in − 1)/(out − 1)
// in float32, the source coordinate scale · i in float64, the weights λ1 = f32(src − i0) and λ0 = f32(1 − λ1);
// the blend is separable, width first (one source row), then height, each as its compiled FMA form
// f32(a·λ0 + f32(b·λ1)). Rows of the width pass are cached: an upscale reuses each pair for many output rows.

const fr = Math.fround;

/** One axis of a resize: per output index the two source indices and their weights. */
interface Taps { i0: Int32Array; i1: Int32Array; w0: Float32Array; w1: Float32Array }

/** align_corners=True: src = i·(in−1)/(out−1) (0 when out = 1), i1 = min(i0 + 1, in − 1); in = out copies. */
function taps(inSize: number, outSize: number): Taps {
  const scale = outSize > 1 ? fr((inSize - 1) / (outSize - 1)) : 0;
  const t: Taps = { i0: new Int32Array(outSize), i1: new Int32Array(outSize),
    w0: new Float32Array(outSize), w1: new Float32Array(outSize) };
  for (let i = 0; i < outSize; i++) {
    const src = inSize === outSize ? i : scale * i;
    const j = Math.min(Math.trunc(src), inSize - 1);
    t.i0[i] = j;
    t.i1[i] = j < inSize - 1 ? j + 1 : j;
    t.w1[i] = fr(src - j);
    t.w0[i] = 1 - t.w1[i]!;
  }
  return t;
}

/**
 * up(src) one output row at a time, src [k, h, w]: keeps the width pass of two source rows, each [k, W], and
 * recomputes one only when the output row moves past it.
 */
class RowUpsampler {
  private readonly idx = [-1, -1];
  private readonly buf: [Float32Array, Float32Array];
  constructor(private readonly src: Float32Array, private readonly k: number, private readonly h: number,
    private readonly w: number, private readonly ty: Taps, private readonly tx: Taps, private readonly W: number) {
    this.buf = [new Float32Array(k * W), new Float32Array(k * W)];
  }

  /** The width pass of source row r, [k, W]; `keep` is the row the other slot must go on holding. */
  private row(r: number, keep: number): Float32Array {
    const hit = this.idx.indexOf(r);
    if (hit >= 0) return this.buf[hit]!;
    const slot = this.idx[0] === keep ? 1 : 0;
    this.idx[slot] = r;
    const b = this.buf[slot]!, { i0, i1, w0, w1 } = this.tx, { src, k, h, w, W } = this;
    for (let c = 0; c < k; c++) {
      const s = (c * h + r) * w, o = c * W;
      for (let x = 0; x < W; x++) b[o + x] = src[s + i0[x]!]! * w0[x]! + fr(src[s + i1[x]!]! * w1[x]!);
    }
    return b;
  }

  /** Output row y for every class: out[off + c·stride + x], x < W. */
  rowTo(y: number, out: Float32Array, off: number, stride: number): void {
    const r0 = this.ty.i0[y]!, r1 = this.ty.i1[y]!, a = this.ty.w0[y]!, b = this.ty.w1[y]!;
    const t0 = this.row(r0, r1), t1 = this.row(r1, r0), { k, W } = this;
    for (let c = 0; c < k; c++) {
      const o = off + c * stride, q = c * W;
      for (let x = 0; x < W; x++) out[o + x] = t0[q + x]! * a + fr(t1[q + x]! * b);
    }
  }
}

/** A RowUpsampler of src [k, h, w] to [k, H, W]. */
function rows(src: Float32Array, k: number, h: number, w: number, H: number, W: number): RowUpsampler {
  return new RowUpsampler(src, k, h, w, taps(h, H), taps(w, W), W);
}

function checkShape(fn: string, x: Float32Array, k: number, h: number, w: number, H: number, W: number): void {
  const ok = [k, h, w, H, W].every((n) => Number.isInteger(n) && n >= 1);
  if (!ok || x.length !== k * h * w) throw new RangeError(`${fn}: input of ${x.length} values is not [${k}, ${h}, ${w}] → [${k}, ${H}, ${W}]`);
}

/** [k, h, w] → [k, H, W], F.interpolate(x, [H, W], { mode: 'bilinear', alignCorners: true }). */
export function upsampleBilinear(x: Float32Array, k: number, h: number, w: number, H: number, W: number): Float32Array {
  checkShape('upsampleBilinear', x, k, h, w, H, W);
  const up = rows(x, k, h, w, H, W), out = new Float32Array(k * H * W);
  for (let y = 0; y < H; y++) up.rowTo(y, out, y * W, H * W);
  return out;
}

/** Class of pixel i in v [k, n]: the first maximum wins; a NaN beats every number (the first NaN wins). */
function argmaxAt(v: Float32Array, k: number, n: number, i: number): number {
  let best = v[i]!, arg = 0;
  if (best !== best) return 0;
  for (let c = 1; c < k; c++) {
    const x = v[c * n + i]!;
    if (x > best) { best = x; arg = c; } else if (x !== x) return c;
  }
  return arg;
}

function checkClasses(fn: string, k: number): void {
  if (k > 256) throw new RangeError(`${fn}: ${k} classes do not fit 8-bit labels (at most 256)`);
}

/**
 * logits [k, n] → labels [n], as torch's argmax(1): the first maximum wins ties. NaN: a pixel with a NaN logit gets
 * the class of its first NaN (torch treats NaN as larger than any number). k ≤ 256 (8-bit labels).
 */
export function argmaxLabels(logits: Float32Array, k: number, n: number): Uint8Array {
  checkClasses('argmaxLabels', k);
  if (logits.length !== k * n) throw new RangeError(`argmaxLabels: ${logits.length} values are not [${k}, ${n}]`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = argmaxAt(logits, k, n, i);
  return out;
}

/** x1 + x2 at the output stride, rounded to float32 as the engine's add: [k, h, w]. */
function sumHeads(x1: Float32Array, x2: Float32Array): Float32Array {
  const s = new Float32Array(x1.length);
  for (let i = 0; i < s.length; i++) s[i] = x1[i]! + x2[i]!;
  return s;
}

/** Scratch rows for disagreementRow, each [W]. */
interface Scratch { ma: Float64Array; mb: Float64Array; saa: Float64Array; sbb: Float64Array; sab: Float64Array }
const scratch = (W: number): Scratch => ({ ma: new Float64Array(W), mb: new Float64Array(W),
  saa: new Float64Array(W), sbb: new Float64Array(W), sab: new Float64Array(W) });

/**
 * 1 − cos(softmax(a), softmax(b)) over k classes for each column of the rows a, b [k, W] (no ε, as disagreementMap)
 * → out[off + x]. The softmax denominators cancel in the cosine, so only exp(v − max) is needed; NaN in gives NaN.
 * Class-outer loops: every pass reads a row contiguously.
 */
function disagreementRow(a: Float32Array, b: Float32Array, k: number, W: number, out: Float32Array, off: number, s: Scratch): void {
  const { ma, mb, saa, sbb, sab } = s;
  ma.fill(-Infinity); mb.fill(-Infinity); saa.fill(0); sbb.fill(0); sab.fill(0);
  for (let c = 0; c < k; c++) {
    for (let x = 0, o = c * W; x < W; x++, o++) { ma[x] = Math.max(ma[x]!, a[o]!); mb[x] = Math.max(mb[x]!, b[o]!); }
  }
  for (let c = 0; c < k; c++) {
    for (let x = 0, o = c * W; x < W; x++, o++) {
      const ea = Math.exp(a[o]! - ma[x]!), eb = Math.exp(b[o]! - mb[x]!);
      saa[x]! += ea * ea; sbb[x]! += eb * eb; sab[x]! += ea * eb;
    }
  }
  for (let x = 0; x < W; x++) out[off + x] = 1 - sab[x]! / Math.sqrt(saa[x]! * sbb[x]!);
}

/**
 * Heads x1, x2 [k, h, w] (C1, C2 logits at the output stride) → at [H, W]: label = argmax_k up(x1 + x2) (summed
 * first, ONE upsample, as predictLogits) and M = 1 − cos(softmax(up(x1)), softmax(up(x2))) (disagreementMap).
 * Row by row: nine [k, W] rows in memory (three maps, each two cached and one output), never a [k, H, W] map.
 */
export function headsToPrediction(x1: Float32Array, x2: Float32Array, k: number, h: number, w: number, H: number, W: number):
  { label: Uint8Array; disagreement: Float32Array } {
  checkShape('headsToPrediction', x1, k, h, w, H, W); checkShape('headsToPrediction', x2, k, h, w, H, W); checkClasses('headsToPrediction', k);
  const u1 = rows(x1, k, h, w, H, W), u2 = rows(x2, k, h, w, H, W), us = rows(sumHeads(x1, x2), k, h, w, H, W);
  const r1 = new Float32Array(k * W), r2 = new Float32Array(k * W), rs = new Float32Array(k * W);
  const label = new Uint8Array(H * W), disagreement = new Float32Array(H * W), tmp = scratch(W);
  for (let y = 0; y < H; y++) {
    u1.rowTo(y, r1, 0, W); u2.rowTo(y, r2, 0, W); us.rowTo(y, rs, 0, W);
    for (let x = 0; x < W; x++) label[y * W + x] = argmaxAt(rs, k, W, x);
    disagreementRow(r1, r2, k, W, disagreement, y * W, tmp);
  }
  return { label, disagreement };
}

/** Labels only: argmax_k up(x1 + x2) at [H, W], three [k, W] rows in memory (the browser page). */
export function labelsFromHeads(x1: Float32Array, x2: Float32Array, k: number, h: number, w: number, H: number, W: number): Uint8Array {
  checkShape('labelsFromHeads', x1, k, h, w, H, W); checkShape('labelsFromHeads', x2, k, h, w, H, W); checkClasses('labelsFromHeads', k);
  const us = rows(sumHeads(x1, x2), k, h, w, H, W), rs = new Float32Array(k * W);
  const label = new Uint8Array(H * W);
  for (let y = 0; y < H; y++) {
    us.rowTo(y, rs, 0, W);
    for (let x = 0; x < W; x++) label[y * W + x] = argmaxAt(rs, k, W, x);
  }
  return label;
}

/** HWC uint8 RGB → CHW float32, raw 0..255: the exported graph's input (it normalises inside), [3, h, w]; `flip` mirrors it. */
export function rawChw(rgb: Uint8Array, w: number, h: number, flip = false): Float32Array {
  const n = w * h, out = new Float32Array(3 * n);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x, o = y * w + (flip ? w - 1 - x : x);
      out[o] = rgb[3 * i]!; out[n + o] = rgb[3 * i + 1]!; out[2 * n + o] = rgb[3 * i + 2]!;
    }
  }
  return out;
}

// ---- the tail of the other inference modes (infer/inference.ts on the host: slide windows, multi-scale + flip)

/** up(x1 + x2) → [k, H, W]: the heads summed at the output stride and upsampled once, as predictLogits. */
export function upsampledLogits(x1: Float32Array, x2: Float32Array, k: number, h: number, w: number, H: number, W: number): Float32Array {
  checkShape('upsampledLogits', x1, k, h, w, H, W); checkShape('upsampledLogits', x2, k, h, w, H, W);
  return upsampleBilinear(sumHeads(x1, x2), k, h, w, H, W);
}

/** The window [y1, y2) × [x1, x2) of x [c, H, W] as its own [c, y2 − y1, x2 − x1]. */
export function cropChannels(x: Float32Array, c: number, H: number, W: number, x1: number, y1: number, x2: number,
  y2: number): Float32Array {
  const w = x2 - x1, h = y2 - y1, out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) out.set(x.subarray((ch * H + y1 + y) * W + x1, (ch * H + y1 + y) * W + x2), (ch * h + y) * w);
  }
  return out;
}

/** sum [k, H, W] += win [k, h, w] placed at (x1, y1): mmseg's preds += F.pad(window), float32 adds. */
export function addWindow(sum: Float32Array, H: number, W: number, win: Float32Array, k: number, h: number, w: number, x1: number,
  y1: number): void {
  for (let c = 0; c < k; c++) {
    for (let y = 0; y < h; y++) {
      const o = (c * H + y1 + y) * W + x1, i = (c * h + y) * w;
      for (let x = 0; x < w; x++) sum[o + x]! += win[i + x]!;
    }
  }
}

/** x [k, n] ÷ count [n], in place (the windows per pixel). */
export function divideCounts(x: Float32Array, count: Float32Array, k: number, n: number): void {
  for (let c = 0; c < k; c++) for (let i = 0; i < n; i++) x[c * n + i]! /= count[i]!;
}

/** Softmax over the k classes of x [k, n] per pixel, in place (exp(v − max) summed in float64). */
export function softmaxClasses(x: Float32Array, k: number, n: number): void {
  const m = new Float64Array(n).fill(-Infinity), s = new Float64Array(n);
  for (let c = 0; c < k; c++) for (let i = 0; i < n; i++) m[i] = Math.max(m[i]!, x[c * n + i]!);
  for (let c = 0; c < k; c++) for (let i = 0; i < n; i++) s[i]! += Math.exp(x[c * n + i]! - m[i]!);
  for (let c = 0; c < k; c++) for (let i = 0; i < n; i++) x[c * n + i] = Math.exp(x[c * n + i]! - m[i]!) / s[i]!;
}

/** x [k, H, W] mirrored left–right, in place (a flipped pass's probabilities back in the image's frame). */
export function flipColumns(x: Float32Array, k: number, H: number, W: number): void {
  for (let r = 0; r < k * H; r++) x.subarray(r * W, (r + 1) * W).reverse();
}
