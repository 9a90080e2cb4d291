// Prediction for one RGB image: run at the model's eval size, upsample C1/C2 logits to the input size, argmax of
// p1 + p2 (§1.3), and the C1/C2 disagreement map M (§2.3) — what CLAN adapts with, shown per pixel. Another inference
// spec (sliding windows, multi-scale + flip: infer/inference.ts) changes the label; M stays the eval-size pass's.
// An image larger than BAND_FLOATS allows is upsampled in column bands (inference.ts forEachBand): the same labels, and M
// within a float32 rounding (softmax's vectorised and scalar exp differ in the last bit, and which pixels fall in a
// vector's tail depends on the band's width).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { preprocess } from '../data/transforms.js';
import type { RgbImage } from '../data/image.js';
import { disagreementMap, predictHeads, type Segmentor } from '../models/segmentor.js';
import { BAND_FLOATS, checkInferenceSpec, forEachBand, inferLabels, isPlainWhole, type InferenceSpec } from './inference.js';
import type { InferenceModel } from './model.js';
import { placeBand } from '../util/bands.js';

export interface Prediction { label: Uint8Array; disagreement: Float32Array; width: number; height: number }

/** Receives M = 1 − cos(p1, p2) one column band at a time: `M` [H, x1 − x0] row-major, for columns x0..x1 − 1. */
export type BandSink = (M: Float32Array, x0: number, x1: number) => void;

/** Labels and M of one image, each [H·W] row-major at the image's size. */
export function predictImage(m: InferenceModel, img: RgbImage, name = 'image', spec?: InferenceSpec, bandFloats = BAND_FLOATS): Prediction {
  const { width: W, height: H } = img;
  let map: Float32Array = new Float32Array(0);
  const label = predictBands(m, img, name, spec, (M, x0, x1) => {
    if (x0 === 0 && x1 === W) { map = M; return; }                                  // one band: the whole map
    if (map.length === 0) map = new Float32Array(W * H);
    placeBand(map, M, W, x0, x1);
  }, bandFloats);
  return { label, disagreement: map, width: W, height: H };
}

/**
 * Labels [H·W] of one image (uint8), and its M handed to `sink` a column band at a time (one band when the image is
 * not banded): nothing of the image's size is held on the engine beyond one band, and the caller keeps M in whatever
 * form it needs (clan predict: a heat-map colour index per pixel).
 */
export function predictBands(m: InferenceModel, img: RgbImage, name: string, spec: InferenceSpec | undefined, sink: BandSink,
  bandFloats = BAND_FLOATS): Uint8Array {
  if (spec) checkInferenceSpec(spec);
  const p = preprocess({ index: 0, name, image: img }, { size: m.evalSize, normalize: m.normalize }, { scale: 1, flip: false });
  const out: [number, number] = [img.height, img.width];
  return torch.tidy(() => torch.noGrad(() => {
    const x = torch.fromTypedArray(p.image, [1, 3, p.height, p.width], 'float32', m.G.device);
    const plain = isPlainWhole(spec);
    const banded = m.G.numClasses * img.width * img.height > bandFloats;
    const label = banded ? bandedHeads(m.G, x, out, plain, sink, bandFloats) : wholeHeads(m.G, x, out, plain, sink);
    return label ?? inferLabels(m.G, img, spec!, { evalSize: m.evalSize, normalize: m.normalize, out }).to('uint8').toTypedArray<'uint8'>();
  }));
}

/** Labels (argmax up(x1 + x2); null unless plain) and M at out [H, W], each head's [1, K, H, W] at once. */
function wholeHeads(G: Segmentor, x: Tensor, out: [number, number], plain: boolean, sink: BandSink): Uint8Array | null {
  const heads = predictHeads(G, x, out);                                             // each [1, K, H, W]
  try {
    sink(disagreementMap(heads.x1, heads.x2).toTypedArray<'float32'>(), 0, out[1]);
    return plain ? heads.logits.argmax(1).to('uint8').toTypedArray<'uint8'>() : null;
  } finally { for (const t of [heads.x1, heads.x2, heads.logits]) t.dispose(); }   // before another spec's passes
}

/**
 * The same in column bands: [x1, x2, x1 + x2] stacked on the class axis ([1, 3K, h, w]; bilinear upsampling treats
 * each channel alone) and upsampled a band [1, 3K, H, bw] at a time; each band's M [H, bw] to the sink and its labels
 * into their columns of the host map.
 */
function bandedHeads(G: Segmentor, x: Tensor, out: [number, number], plain: boolean, sink: BandSink,
  bandFloats: number): Uint8Array | null {
  const K = G.numClasses;
  const [H, W] = out;
  const [a, b] = G.forward(x);                                                        // each [1, K, h, w]
  const label = plain ? new Uint8Array(H * W) : null;
  forEachBand(torch.cat([a, b, a.add(b)], 1), out, G.alignCorners ?? true, (t, x0, x1) => {
    if (label) placeBand(label, t.slice(1, 2 * K, 3 * K).argmax(1).to('uint8').toTypedArray<'uint8'>(), W, x0, x1);
    sink(disagreementMap(t.slice(1, 0, K), t.slice(1, K, 2 * K)).toTypedArray<'float32'>(), x0, x1);
  }, bandFloats / 3);
  return label;
}
