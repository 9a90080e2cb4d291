// The ONNX inference engine (docs/deploy.md): a model written by `clan export`, run through onnxruntime-node, with
// no libtorch anywhere on the path — nothing here may import src/torch, src/models or src/infer, even transitively.
// predict() is infer/predict.ts without the engine: the same PIL-bicubic resize to the size the graph takes, the
// raw RGB 0..255 pixels (the normalisation is inside the graph), the heads x1, x2 from the graph, and the same
// tail on the host (deploy/host-ops.ts: label = argmax up(x1 + x2), M = 1 − cos(p1, p2)).
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type * as OrtNs from 'onnxruntime-node';
import type { RgbImage } from '../data/image.js';
import { resizeBicubic } from '../data/resize.js';
import { DataError, EngineError } from '../util/errors.js';
import { readMetadataProps } from './onnx.js';
import { parseInfo, type OnnxModelInfo } from './onnx-meta.js';
import { headsToPrediction, rawChw } from './host-ops.js';

type Ort = typeof OrtNs;

/** Same shape as infer/predict.ts's Prediction (not imported from there: that module loads libtorch). */
export interface Prediction { label: Uint8Array; disagreement: Float32Array; width: number; height: number }

export interface OnnxInference {
  info: OnnxModelInfo;
  path: string;
  /** label [H, W] and M [H, W] at the image's own size. */
  predict(img: RgbImage): Promise<Prediction>;
  release(): Promise<void>;
}

const firstLine = (e: unknown): string => String((e as Error)?.message ?? e).split('\n')[0]!;

/** onnxruntime-node, imported on first use (an optional dependency); `specifier` is for the test of a missing one. */
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
  let session: OrtNs.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: opts.threads ?? availableParallelism(), graphOptimizationLevel: 'all' });
  } catch (e) { throw new DataError(`${path}: onnxruntime cannot load this graph: ${firstLine(e)}`); }
  const missing = [...(session.inputNames.includes('image') ? [] : ["input 'image'"]),
    ...['x1', 'x2'].filter((o) => !session.outputNames.includes(o)).map((o) => `output '${o}'`)];
  if (missing.length) { await session.release(); throw new DataError(`${path}: the graph has no ${missing.join(', ')}; expected an ONNX model written by 'clan export'`); }
  const [W, H] = info.inputSize ?? info.evalSize;  // what `clan predict` resizes to (infer/predict.ts: the eval size)
  return {
    info, path,
    async predict(img) {
      const x = rawChw(resizeBicubic(img, W, H).data, W, H);
      let out: OrtNs.InferenceSession.ReturnType;
      try { out = await session.run({ image: new ort.Tensor('float32', x, [1, 3, H, W]) }, ['x1', 'x2']); } catch (e) {
        throw new DataError(`${path}: onnxruntime failed on a ${W}×${H} input: ${firstLine(e)}`);
      }
      const [x1, x2] = [out.x1!, out.x2!];
      const [n, k, h, w] = x1.dims as number[];
      const ok = (t: OrtNs.Tensor) => t.type === 'float32' && t.dims.length === 4 && t.dims.every((d, i) => d === x1.dims[i]);
      if (!ok(x1) || !ok(x2) || n !== 1 || k !== info.numClasses) {
        throw new DataError(`${path}: heads x1 [${x1.dims.join(', ')}] ${x1.type}, x2 [${x2.dims.join(', ')}] ${x2.type}; expected float32 [1, ${info.numClasses}, h, w] each`);
      }
      const p = headsToPrediction(x1.data as Float32Array, x2.data as Float32Array, k!, h!, w!, img.height, img.width);
      x1.dispose(); x2.dispose();
      return { label: p.label, disagreement: p.disagreement, width: img.width, height: img.height };
    },
    release: () => session.release(),
  };
}
