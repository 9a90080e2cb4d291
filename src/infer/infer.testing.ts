// Test helpers for the inference modes: the fixture model of test/fixtures/eval and the cases of
// test/fixtures/infer/expected.json (tools/reference/infer_reference.py).
import type { HostTensor } from '../torch/dtype.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { createSegmentor } from '../models/registry.js';
import type { Segmentor } from '../models/segmentor.js';
import type { InferenceSpec } from './inference.js';

export interface InferCase {
  name: string; eval_size: [number, number]; mode: 'whole' | 'slide'; crop?: [number, number]; stride?: [number, number];
  scales: number[] | null; flip: boolean;
  passes: [number, number, number][];            // [w, h, flip]
  windows: [number, number, number, number][][]; // per pass (slide): [x1, y1, x2, y2]
  min_top2_margin: number; exact_ties: number;
  class_mean: number[];                          // mean probability per class over all pixels
  samples: [number, number, number[]][];         // [x, y, K probabilities]
  pred_histogram: number[]; confusion: number[][];
}
export interface InferExpected { image: string; label_size: [number, number]; cases: InferCase[] }

/** The Cityscapes fixture image the cases were made on, relative to ../shared/fixtures. */
export const INFER_IMAGE = 'cityscapes/leftImg8bit/val/frankfurt/frankfurt_000000_000294_leftImg8bit.png';

export function specOf(c: InferCase): InferenceSpec {
  return { mode: c.mode, ...(c.crop ? { crop: c.crop, stride: c.stride! } : {}), ...(c.scales ? { scales: c.scales } : {}),
    ...(c.flip ? { flip: true } : {}) };
}

/** The `micro` 19-class model of test/fixtures/eval/micro19.safetensors (its G.* tensors), in eval mode. */
export function microModel(): Segmentor {
  const st = readSafetensorsFile(fixturePath('eval/micro19.safetensors')).tensors;
  const G = createSegmentor('micro', 19);
  G.loadStateDict(new Map<string, HostTensor>([...st].filter(([k]) => k.startsWith('G.')).map(([k, v]) => [k.slice(2), v])), true, 'micro19');
  G.eval();
  return G;
}
