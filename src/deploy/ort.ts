// The ONNX inference engine (docs/deploy.md): a model written by `clan export`, run through onnxruntime-node, with
// no libtorch anywhere on the path — nothing here may import src/torch, src/models or src/infer, even transitively.
// predict() is infer/predict.ts without the engine: the same PIL-bicubic resize to the size the graph takes, the
// raw RGB 0..255 pixels (the normalisation is inside the graph), the heads x1, x2 from the graph, and the same
// tail on the host (deploy/host-ops.ts: label = argmax up(x1 + x2), M = 1 − cos(p1, p2)). The other inference
// modes (data/inference-spec.ts: sliding windows, multi-scale + flip) run as infer/inference.ts does, the graph per
// window or pass and the rest on the host; a graph exported at a fixed size takes only inputs of that size (slide
// with --crop equal to it), a dynamic one (`clan export --dynamic`) every mode.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { RgbImage } from '../data/image.js';
import { resizeBicubic } from '../data/resize.js';
import { DataError, EngineError } from '../util/errors.js';
import { readMetadataProps } from './onnx.js';
import type { OrtModule as Ort, OrtSession, OrtTensor, OrtValueMap } from './ort-types.js';
import { parseInfo, type OnnxModelInfo } from './onnx-meta.js';
import {
  addWindow, argmaxLabels, cropChannels, divideCounts, flipColumns, headsToPrediction, rawChw, softmaxClasses, upsampleBilinear,
  upsampledLogits,
} from './host-ops.js';
import {
  checkInferenceSpec, inferencePasses, isPlainWhole, slideWindows, windowCounts, type InferenceSpec, type Pass,
} from '../data/inference-spec.js';

/** Same shape as infer/predict.ts's Prediction (not imported from there: that module loads libtorch). */
export interface Prediction { label: Uint8Array; disagreement: Float32Array; width: number; height: number }

export interface OnnxInference {
  info: OnnxModelInfo;
  path: string;
  /**
   * label [H, W] and M [H, W] at the image's own size; with a spec other than one whole pass, the label is the spec's
   * (argmax of `probabilities`) and M the eval-size pass's, as infer/predict.ts.
   */
  predict(img: RgbImage, spec?: InferenceSpec): Promise<Prediction>;
  /** mmseg aug_test's averaged probabilities [K, H, W] at the image's size for a spec (a single pass: its softmax). */
  probabilities(img: RgbImage, spec: InferenceSpec): Promise<Float32Array>;
  release(): Promise<void>;
}

const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0]!;

/**
 * onnxruntime-node, imported on first use (an optional dependency, typed by deploy/ort-types.ts so that the build
 * needs no optional package); `specifier` is for the test of a missing one.
 */
export async function importOrt(specifier = 'onnxruntime-node'): Promise<Ort> {
  let mod: Ort & { default?: Ort };
  try { mod = (await import(specifier)) as Ort & { default?: Ort }; } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && firstLine(e).includes(`'${specifier}'`)) {
      throw new EngineError('the ONNX engine needs the npm package onnxruntime-node (npm install onnxruntime-node)');
    }
    throw new EngineError(`the ONNX engine could not load onnxruntime-node (${firstLine(e)}); reinstall it: npm install onnxruntime-node`);
  }
  return mod.default ?? mod; // a CommonJS package: its exports are the default export under ESM
}

function readModel(path: string): Uint8Array {
  try { return readFileSync(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? `ONNX model ${path} does not exist` : `ONNX model ${path} cannot be read (${code ?? firstLine(e)})`);
  }
}

/** Loads a model written by `clan export`; threads = ORT's intra-op threads (default: all cores). */
export async function loadOnnxModel(path: string, opts: { threads?: number } = {}): Promise<OnnxInference> {
  const bytes = readModel(path);
  const info = parseInfo(readMetadataProps(bytes, path).clan, path);
  if (info.numClasses > 256) throw new DataError(`${path}: ${info.numClasses} classes do not fit 8-bit label PNGs (at most 256)`);
  const ort = await importOrt();
  let session: OrtSession;
  try {
    session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: opts.threads ?? availableParallelism(), graphOptimizationLevel: 'all' });
  } catch (e) { throw new DataError(`${path}: onnxruntime cannot load this graph: ${firstLine(e)}`); }
  const missing = [...(session.inputNames.includes('image') ? [] : ["input 'image'"]),
    ...['x1', 'x2'].filter((o) => !session.outputNames.includes(o)).map((o) => `output '${o}'`)];
  if (missing.length) { await session.release(); throw new DataError(`${path}: the graph has no ${missing.join(', ')}; expected an ONNX model written by 'clan export'`); }
  const run = headsRunner(ort, session, info, path);
  const [W, H] = info.inputSize ?? info.evalSize;  // what `clan predict` resizes to (infer/predict.ts: the eval size)
  const plain = async (img: RgbImage): Promise<Prediction> => {
    const r = await run(rawChw(resizeBicubic(img, W, H).data, W, H), W, H);
    const p = headsToPrediction(r.x1, r.x2, r.k, r.h, r.w, img.height, img.width);
    return { label: p.label, disagreement: p.disagreement, width: img.width, height: img.height };
  };
  const probabilities = (img: RgbImage, spec: InferenceSpec) => specProbabilities(run, info, path, img, spec);
  return {
    info, path, probabilities,
    async predict(img, spec) {
      if (isPlainWhole(spec)) return plain(img);
      const probs = await probabilities(img, spec!);
      return { ...(await plain(img)), label: argmaxLabels(probs, info.numClasses, img.width * img.height) };
    },
    release: () => session.release(),
  };
}

/** The heads of one input: C1's and C2's logits [k, h, w] at the output stride. */
interface Heads { x1: Float32Array; x2: Float32Array; k: number; h: number; w: number }
type RunHeads = (x: Float32Array, W: number, H: number) => Promise<Heads>;

/** The graph on one raw RGB input x [3, H, W], its heads checked against the model's class count. */
function headsRunner(ort: Ort, session: OrtSession, info: OnnxModelInfo, path: string): RunHeads {
  return async (x, W, H) => {
    let out: OrtValueMap;
    try { out = await session.run({ image: new ort.Tensor('float32', x, [1, 3, H, W]) }, ['x1', 'x2']); } catch (e) {
      throw new DataError(`${path}: onnxruntime failed on a ${W}×${H} input: ${firstLine(e)}`);
    }
    const [x1, x2] = [out.x1!, out.x2!];
    const [n, k, h, w] = x1.dims as number[];
    const ok = (t: OrtTensor) => t.type === 'float32' && t.dims.length === 4 && t.dims.every((d, i) => d === x1.dims[i]);
    if (!ok(x1) || !ok(x2) || n !== 1 || k !== info.numClasses) {
      throw new DataError(`${path}: heads x1 [${x1.dims.join(', ')}] ${x1.type}, x2 [${x2.dims.join(', ')}] ${x2.type}; expected float32 [1, ${info.numClasses}, h, w] each`);
    }
    const r = { x1: (x1.data as Float32Array).slice(), x2: (x2.data as Float32Array).slice(), k: k!, h: h!, w: w! };
    x1.dispose(); x2.dispose();
    return r;
  };
}

/** A fixed-size graph runs only inputs of its size: every whole pass, or every slide window, must have it. */
function checkGraphFits(info: OnnxModelInfo, path: string, spec: InferenceSpec, passes: Pass[]): void {
  if (!info.inputSize) return;
  const [gw, gh] = info.inputSize;
  const fits = spec.mode === 'whole' ? passes.every((p) => p.width === gw && p.height === gh)
    : spec.crop![0] === gw && spec.crop![1] === gh && passes.every((p) => p.width >= gw && p.height >= gh);
  if (fits) return;
  const sizes = [...new Set(passes.map((p) => `${p.width}x${p.height}`))].join(', ');
  throw new DataError(`${path}: the graph takes ${gw}x${gh} inputs only, this image's passes are ${sizes}; use --mode slide --crop ${gw}x${gh} ` +
    'on passes at least that large, or a graph exported with --dynamic');
}

/** infer/inference.ts's inferProbabilities on the host: per pass softmax(logits at the image size), mirrored back, averaged. */
async function specProbabilities(run: RunHeads, info: OnnxModelInfo, path: string, img: RgbImage,
  spec: InferenceSpec): Promise<Float32Array> {
  checkInferenceSpec(spec);
  const passes = inferencePasses(spec, img.width, img.height, info.evalSize);
  checkGraphFits(info, path, spec, passes);
  const K = info.numClasses, H = img.height, W = img.width, total = new Float32Array(K * H * W);
  for (const p of passes) {
    const x = rawChw(resizeBicubic(img, p.width, p.height).data, p.width, p.height, p.flip);
    const logits = spec.mode === 'whole' ? await wholeLogits(run, x, p, H, W) : await slideLogits(run, x, p, spec, H, W);
    softmaxClasses(logits, K, H * W);
    if (p.flip) flipColumns(logits, K, H, W);
    for (let i = 0; i < total.length; i++) total[i]! += logits[i]!;
  }
  for (let i = 0; i < total.length; i++) total[i]! /= passes.length;
  return total;
}

async function wholeLogits(run: RunHeads, x: Float32Array, p: Pass, H: number, W: number): Promise<Float32Array> {
  const r = await run(x, p.width, p.height);
  return upsampledLogits(r.x1, r.x2, r.k, r.h, r.w, H, W);
}

/** mmseg slide_inference on the host: each window's up(x1 + x2) at its size summed in place, ÷ counts, up to H×W. */
async function slideLogits(run: RunHeads, x: Float32Array, p: Pass, spec: InferenceSpec, H: number, W: number): Promise<Float32Array> {
  const windows = slideWindows(p.width, p.height, spec.crop!, spec.stride!);
  let sum: Float32Array | null = null, K = 0;
  for (const w of windows) {
    const ww = w.x2 - w.x1, wh = w.y2 - w.y1;
    const r = await run(cropChannels(x, 3, p.height, p.width, w.x1, w.y1, w.x2, w.y2), ww, wh);
    K = r.k;
    sum ??= new Float32Array(K * p.width * p.height);
    addWindow(sum, p.height, p.width, upsampledLogits(r.x1, r.x2, r.k, r.h, r.w, wh, ww), K, wh, ww, w.x1, w.y1);
  }
  divideCounts(sum!, windowCounts(p.width, p.height, windows), K, p.width * p.height);
  return upsampleBilinear(sum!, K, p.height, p.width, H, W);
}
