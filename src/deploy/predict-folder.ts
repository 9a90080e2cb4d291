// `clan predict` below the command line: the images of an input (one file, or a folder searched recursively with each
// file's relative path kept under the output folder), output names checked for collisions before anything is written,
// the two engines (libtorch and a checkpoint; onnxruntime and an exported model) behind one interface, and the four
// PNGs of each image. The engines' modules are imported lazily, so the ONNX path never loads the libtorch addon.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve } from 'node:path';
import { BudgetError, ClanError, DataError } from '../util/errors.js';
import { makeDirs } from '../util/paths.js';
import { placeBand } from '../util/bands.js';
import { colorize, heatIndex, heatmapOfIndex, overlay, type Rgb } from '../report/png.js';
import { writePngRows } from '../report/png-stream.js';
import type { RgbImage } from '../data/image.js';
import type { InferenceSpec } from '../data/inference-spec.js';
import type { Prediction } from './ort.js';

/**
 * The fixed upper end of every disagreement map's colour scale (values above are drawn in the top colour): one
 * scale for every image, so maps compare across images and runs. M = 1 − cos(p1, p2) lies in [0, 1] but is small
 * once C1 and C2 mostly agree (README: about 0.0015 on average on digitscapes, several times more where the
 * prediction is wrong), so [0, 1] would paint nearly every map in the darkest colour.
 */
export const DISAGREEMENT_MAX = 0.1;
/** The tEXt keyword under which each disagreement PNG records its scale's maximum. */
export const DISAGREEMENT_KEY = 'clan:disagreement_max';
/** The four files written per image, by suffix. */
export const OUTPUT_SUFFIXES = ['_label.png', '_color.png', '_overlay.png', '_disagreement.png'] as const;

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

/**
 * What predict keeps of an image until its PNGs are written: the labels and M's heat-map colour index per pixel
 * (report/png.ts heatIndex on [0, DISAGREEMENT_MAX]: 2 bytes a pixel instead of a float's 4), each [H·W] row-major.
 */
export interface PredictedMaps { label: Uint8Array; heat: Uint16Array; width: number; height: number }

/** M's band [H, x1 − x0] (infer/predict.ts BandSink) as colour indices into its columns of `heat` [H, W]. */
export function heatBand(heat: Uint16Array, M: Float32Array, W: number, x0: number, x1: number): void {
  placeBand(heat, Uint16Array.from(M, (v) => heatIndex(v, 0, DISAGREEMENT_MAX)), W, x0, x1);
}

/** A whole Prediction (the ONNX engine's) as PredictedMaps. */
export function mapsOf(r: Prediction): PredictedMaps {
  const heat = new Uint16Array(r.width * r.height);
  heatBand(heat, r.disagreement, r.width, 0, r.width);
  return { label: r.label, heat, width: r.width, height: r.height };
}

/** The disagreement PNG of colour indices [H, W] on the fixed scale [0, DISAGREEMENT_MAX], the scale recorded in it. */
export function writeDisagreementPng(path: string, heat: Uint16Array, width: number, height: number): void {
  writePngRows(path, { width, height, channels: 3, text: {
    [DISAGREEMENT_KEY]: String(DISAGREEMENT_MAX),
    Description: `CLAN disagreement M = 1 - cos(p1, p2) per pixel, viridis from 0 to ${DISAGREEMENT_MAX}, larger values clipped`,
  } }, (y0, y1) => heatmapOfIndex(heat.subarray(y0 * width, y1 * width), width, y1 - y0));
}

/**
 * The four PNGs of one image under `stem`, each streamed a block of rows at a time (report/png-stream.ts): beside
 * the image and the maps, nothing of the image's size is held (clan predict's memory: docs/deploy.md).
 */
export function writeOutputs(stem: string, maps: PredictedMaps, img: RgbImage, palette: readonly Rgb[], clear: readonly number[]): void {
  const { label, width: W, height: H } = maps;
  const labels = (y0: number, y1: number) => label.subarray(y0 * W, y1 * W);
  writePngRows(`${stem}_label.png`, { width: W, height: H, channels: 1 }, labels);
  writePngRows(`${stem}_color.png`, { width: W, height: H, channels: 3 }, (y0, y1) => colorize(labels(y0, y1), W, y1 - y0, palette));
  writePngRows(`${stem}_overlay.png`, { width: W, height: H, channels: 3 }, (y0, y1) => overlay(img.data.subarray(3 * y0 * W, 3 * y1 * W),
    colorize(labels(y0, y1), W, y1 - y0, palette), 0.5, { label: labels(y0, y1), classes: clear }));
  writeDisagreementPng(`${stem}_disagreement.png`, maps.heat, W, H);
}

/** Classes an overlay leaves unpainted: those named 'background' (digitscapes class 0, black in its palette). */
export function backgroundClasses(classNames: readonly string[]): number[] {
  return classNames.flatMap((n, i) => (n.toLowerCase() === 'background' ? [i] : []));
}

/** One input image and the stem of its outputs, relative to the output folder (`city/x` → city/x_label.png, …). */
export interface InputImage { path: string; stem: string }

/** Every PNG/JPEG under `dir`, sorted, depth-first (Cityscapes' leftImg8bit/val/<city>/ layout). */
function imagesUnder(dir: string): string[] {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length) {
    const d = stack.pop()!;
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? 1 : -1))) {
      const p = join(d, e.name);
      if (e.isDirectory() || (e.isSymbolicLink() && statSync(p).isDirectory())) stack.push(p);
      else if (IMAGE_EXT.has(extname(e.name).toLowerCase())) out.push(p);
    }
  }
  return out.sort();
}

/**
 * The images of `input` with their output stems: a file is its own stem; a folder is searched recursively and each
 * image keeps its path relative to it. Two inputs that would write the same outputs (`x.jpg` beside `x.png`) are
 * refused in one line naming both, before anything is written.
 */
export function inputImages(input: string): InputImage[] {
  if (!existsSync(input)) throw new DataError(`--input ${input} does not exist`);
  const root = resolve(input);
  const files = statSync(root).isDirectory() ? imagesUnder(root) : [root];
  if (files.length === 0) throw new DataError(`--input ${input} holds no PNG or JPEG images (sub-folders included)`);
  const base = statSync(root).isDirectory() ? root : dirname(root);
  const seen = new Map<string, string>();
  return files.map((path) => {
    const rel = relative(base, path);
    const stem = rel.slice(0, rel.length - extname(rel).length);
    const other = seen.get(stem);
    if (other) throw new DataError(`--input ${input}: ${relative(base, other)} and ${rel} would both write ${stem}_label.png (and the other outputs); rename one of them or predict them separately`);
    seen.set(stem, path);
    return { path, stem };
  });
}

/** What the loop needs of a network, whichever engine runs it. */
export interface Engine {
  classNames: readonly string[];
  palette: readonly Rgb[];
  predict(img: RgbImage, name: string): PredictedMaps | Promise<PredictedMaps>;
  close(): void | Promise<void>;
  /** Refuses (BudgetError) an image of width × height whose memory estimate is over the budget, before it is decoded. */
  checkBudget?(width: number, height: number, path: string): void;
}

/** libtorch and a checkpoint (infer/predict.ts) on `device`; `spec` absent: the checkpoint's own inference mode. */
export async function torchEngine(ckpt: string, device: string, spec?: InferenceSpec): Promise<Engine> {
  const { loadInferenceModel } = await import('../infer/model.js');
  const { predictBands } = await import('../infer/predict.js');
  const { inferenceBytes, checkBudget, networkInput } = await import('../infer/cost.js');
  const { isPlainWhole } = await import('../data/inference-spec.js');
  const m = loadInferenceModel(ckpt, device as import('../torch/index.js').Device);
  const s = spec ?? m.inference;
  const params = m.G.parameters().reduce((n, p) => n + p.numel, 0);
  const predict = (img: RgbImage, name: string): PredictedMaps => {
    const heat = new Uint16Array(img.width * img.height);
    const label = predictBands(m, img, name, s, (M, x0, x1) => heatBand(heat, M, img.width, x0, x1));
    return { label, heat, width: img.width, height: img.height };
  };
  return { classNames: m.classNames, palette: m.palette, predict,
    close: () => m.G.dispose(),
    checkBudget(width, height, path) {
      const input = networkInput(s, [width, height], m.evalSize);
      const bytes = inferenceBytes({ command: 'predict', backbone: m.backbone, params, classes: m.numClasses, input,
        image: [width, height], augmented: !isPlainWhole(s) });
      checkBudget(`predict: ${path} (${width}x${height})`, bytes, 'downscale the image');
    },
  };
}

/** onnxruntime-node and a model written by `clan export` (deploy/ort.ts): no libtorch. */
export async function onnxEngine(model: string, threads: number | undefined, spec?: InferenceSpec): Promise<Engine> {
  const { loadOnnxModel } = await import('./ort.js');
  const { onnxPredictBytes, checkBudget, networkInput } = await import('../infer/cost.js');
  const { isPlainWhole } = await import('../data/inference-spec.js');
  const m = await loadOnnxModel(model, { threads });
  const params = statSync(model).size / 4;                                    // float32 weights make up the file
  return {
    classNames: m.info.classNames, palette: m.info.palette,
    predict: async (img) => mapsOf(await m.predict(img, spec)), close: () => m.release(),
    checkBudget(width, height, path) {
      const bytes = onnxPredictBytes({ backbone: m.info.backbone, params, classes: m.info.numClasses, image: [width, height],
        input: networkInput(spec, [width, height], m.info.evalSize), augmented: !isPlainWhole(spec) });
      checkBudget(`predict: ${path} (${width}x${height})`, bytes, 'downscale the image');
    },
  };
}

export interface PredictOptions {
  skipBad: boolean;                                    // unreadable images are logged and skipped instead of stopping
  log: (line: string) => void;
  onProgress?: (done: number, total: number) => void;
}

/** The four PNGs of each image under `out`; returns how many images were skipped as unreadable. */
export async function predictImages(m: Engine, images: InputImage[], out: string, o: PredictOptions): Promise<number> {
  const { readBytes, decodeRgb, probeImage } = await import('../data/image.js');
  const { nextTurn } = await import('../util/tick.js');
  const clear = backgroundClasses(m.classNames);
  if (m.checkBudget && !o.skipBad) {
    // every image's estimate from its header before anything is written (one that cannot be probed is named below)
    for (const f of images) {
      let h;
      try { h = probeImage(f.path); } catch { continue; }
      m.checkBudget(h.width, h.height, f.path);
    }
  }
  let skipped = 0;
  for (const [i, f] of images.entries()) {
    await nextTurn(); // tensor-wrapper finalizers run between images (util/tick.ts)
    let img;
    try {
      if (m.checkBudget) { const h = probeImage(f.path); m.checkBudget(h.width, h.height, f.path); }   // before the pixels are decoded
      img = decodeRgb(readBytes(f.path), f.path);
    } catch (e) {
      if (!(e instanceof ClanError)) throw e;
      if (!o.skipBad) throw e instanceof BudgetError ? e : new DataError(`${e.message} (--skip-bad skips unreadable images)`);
      o.log(`predict: skipping ${e.message}`);
      skipped++; o.onProgress?.(i + 1, images.length); continue;
    }
    const maps = await m.predict(img, f.path);
    const stem = join(out, f.stem);
    makeDirs(dirname(stem));
    writeOutputs(stem, maps, img, m.palette, clear);
    o.onProgress?.(i + 1, images.length);
  }
  if (skipped === images.length) throw new DataError(`none of the ${images.length} input images could be read (each was skipped above)`);
  return skipped;
}
