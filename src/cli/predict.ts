// `clan predict`: label, colour, overlay and disagreement PNGs for an image or a folder of images.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { parse, str, intFlag, type Command, type Parsed } from './args.js';
import { countProgress } from './progress.js';
import { assertWritable } from './files.js';
import { ClanError, UsageError, DataError } from '../util/errors.js';
import { encodePng, heatmap, type PngBytes, type Rgb } from '../report/png.js';
import type { RgbImage } from '../data/image.js';
import type { Prediction } from '../deploy/ort.js';

/**
 * The fixed upper end of every disagreement map's colour scale (values above are drawn in the top colour): one
 * scale for every image, so maps compare across images and runs. M = 1 − cos(p1, p2) lies in [0, 1] but is small
 * once C1 and C2 mostly agree (README: about 0.0015 on average on digitscapes, several times more where the
 * prediction is wrong), so [0, 1] would paint nearly every map in the darkest colour.
 */
export const DISAGREEMENT_MAX = 0.1;
/** The tEXt keyword under which each disagreement PNG records its scale's maximum. */
export const DISAGREEMENT_KEY = 'clan:disagreement_max';

const USAGE = `usage: clan predict --checkpoint CKPT --input IMAGE|FOLDER --out DIR [--threads N] [--device cpu|cuda|cuda:N]
                    [--pointwise-onednn] [--skip-bad]
       clan predict --engine onnx --model MODEL.onnx --input IMAGE|FOLDER --out DIR [--threads N] [--skip-bad]

Runs the network at the checkpoint's eval size (an ONNX model: the size in its metadata) and writes, at each
input's own size:
  <stem>_label.png         class ids (8-bit, one channel)
  <stem>_color.png         the classes in the dataset's palette
  <stem>_overlay.png       the colours blended half over the image; pixels of a class named 'background'
                           (digitscapes) keep the image as it is
  <stem>_disagreement.png  heat-map of M = 1 − cos(p1, p2): where the two classifiers disagree (CLAN's signal).
                           One fixed scale for every image: viridis from M = 0 to M = ${DISAGREEMENT_MAX}, larger
                           values drawn in the top colour (M is small once C1 and C2 mostly agree); the PNG
                           records it in a tEXt chunk '${DISAGREEMENT_KEY}'
Inputs: PNG or JPEG (EXIF orientation honoured).
  --engine     torch (default): libtorch and a checkpoint; onnx: onnxruntime-node and a model written by
               'clan export' (its heads x1, x2), no libtorch needed; the same four PNGs
  --model      the ONNX model (with --engine onnx, in place of --checkpoint); its metadata gives the size,
               class names and palette
  --threads    CPU threads: libtorch's, or onnxruntime's intra-op threads (default: all cores)
  --device     where the network runs (default cpu; libtorch only: the ONNX engine runs on the CPU)
  --pointwise-onednn  CPU 1×1 convolutions through oneDNN (libtorch only; same math, faster on one thread;
               docs/speed.md)
  --skip-bad   log and skip images that cannot be read instead of stopping`;

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

/** The disagreement map [H, W] as a PNG on the fixed scale [0, DISAGREEMENT_MAX], the scale recorded in it. */
export function disagreementPng(m: Float32Array, width: number, height: number): PngBytes {
  return encodePng(heatmap(m, width, height, { max: DISAGREEMENT_MAX }), width, height, 3, {
    [DISAGREEMENT_KEY]: String(DISAGREEMENT_MAX),
    Description: `CLAN disagreement M = 1 - cos(p1, p2) per pixel, viridis from 0 to ${DISAGREEMENT_MAX}, larger values clipped`,
  });
}

/** Classes an overlay leaves unpainted: those named 'background' (digitscapes class 0, black in its palette). */
export function backgroundClasses(classNames: readonly string[]): number[] {
  return classNames.flatMap((n, i) => (n.toLowerCase() === 'background' ? [i] : []));
}

/** What the loop needs of a network, whichever engine runs it. */
interface Engine {
  classNames: readonly string[];
  palette: readonly Rgb[];
  predict(img: RgbImage, name: string): Prediction | Promise<Prediction>;
  close(): void | Promise<void>;
}

/** libtorch and a checkpoint; every engine module is imported here, so the ONNX path never loads the addon. */
async function torchEngine(ckpt: string, threads: number | undefined, device: string | undefined, pointwise: boolean): Promise<Engine> {
  const torch = await import('../torch/index.js');
  if (threads !== undefined) torch.setNumThreads(threads);
  const pointwiseBefore = torch.getPointwiseOnednn(); // a process-wide switch: restored on close
  if (pointwise) torch.setPointwiseOnednn(true);
  const { loadInferenceModel } = await import('../infer/model.js');
  const { predictImage } = await import('../infer/predict.js');
  const m = loadInferenceModel(ckpt, (await import('./device.js')).cliDevice('predict', device));
  return { classNames: m.classNames, palette: m.palette, predict: (img, name) => predictImage(m, img, name),
    close: () => { m.G.dispose(); torch.setPointwiseOnednn(pointwiseBefore); } };
}

/** onnxruntime-node and a model written by `clan export` (deploy/ort.ts): no libtorch. */
async function onnxEngine(model: string, threads: number | undefined): Promise<Engine> {
  const { loadOnnxModel } = await import('../deploy/ort.js');
  const m = await loadOnnxModel(model, { threads });
  return { classNames: m.info.classNames, palette: m.info.palette, predict: (img) => m.predict(img), close: () => m.release() };
}

/** The engine the flags ask for, checked before anything is loaded: each engine's own flags, one line each. */
function engineFlags(p: Parsed): { onnx: boolean; source: string | undefined } {
  const engine = str(p, 'engine') ?? 'torch';
  if (engine !== 'torch' && engine !== 'onnx') throw new UsageError(`predict: --engine expects torch or onnx, got '${engine}'`);
  const onnx = engine === 'onnx';
  if (onnx && str(p, 'checkpoint')) throw new UsageError('predict: --engine onnx takes --model MODEL.onnx, not --checkpoint');
  if (onnx && str(p, 'device')) throw new UsageError('predict: --device is for the libtorch engine; --engine onnx runs on the CPU');
  if (onnx && p.values['pointwise-onednn'] === true) throw new UsageError('predict: --pointwise-onednn is for the libtorch engine; onnxruntime picks its own kernels');
  if (!onnx && str(p, 'model')) throw new UsageError('predict: --model is for --engine onnx; the libtorch engine takes --checkpoint CKPT');
  return { onnx, source: str(p, onnx ? 'model' : 'checkpoint') };
}

/** The four PNGs of each image into `out`; returns how many images were skipped as unreadable (--skip-bad). */
async function predictFiles(m: Engine, files: string[], out: string, skipBad: boolean): Promise<number> {
  const { readBytes, decodeRgb } = await import('../data/image.js');
  const { colorize, overlay } = await import('../report/png.js');
  const { atomicWrite } = await import('../util/atomic.js');
  const { nextTurn } = await import('../util/tick.js');
  const clear = backgroundClasses(m.classNames);
  const progress = files.length > 1 ? countProgress('predict') : () => {};
  let skipped = 0;
  for (const [i, f] of files.entries()) {
    await nextTurn(); // tensor-wrapper finalizers run between images (util/tick.ts)
    let img;
    try { img = decodeRgb(readBytes(f), f); } catch (e) {
      if (!(e instanceof ClanError)) throw e;
      if (!skipBad) throw new DataError(`${e.message} (--skip-bad skips unreadable images)`);
      process.stderr.write(`predict: skipping ${e.message}\n`);
      skipped++; progress(i + 1, files.length); continue;
    }
    const r = await m.predict(img, f);
    const color = colorize(r.label, r.width, r.height, m.palette);
    const stem = join(out, basename(f, extname(f)));
    atomicWrite(`${stem}_label.png`, encodePng(r.label, r.width, r.height, 1));
    atomicWrite(`${stem}_color.png`, encodePng(color, r.width, r.height));
    atomicWrite(`${stem}_overlay.png`, encodePng(overlay(img.data, color, 0.5, { label: r.label, classes: clear }), r.width, r.height));
    atomicWrite(`${stem}_disagreement.png`, disagreementPng(r.disagreement, r.width, r.height));
    progress(i + 1, files.length);
  }
  return skipped;
}

export const predictCmd: Command = {
  name: 'predict',
  summary: 'segment images: label, colour, overlay and disagreement PNGs',
  usage: USAGE,
  async run(argv) {
    const p = parse('predict', argv, { checkpoint: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' },
      device: { type: 'string' }, 'skip-bad': { type: 'boolean' }, engine: { type: 'string' }, model: { type: 'string' },
      'pointwise-onednn': { type: 'boolean' } });
    if (p.values.help) { console.log(USAGE); return 0; }
    const { onnx, source } = engineFlags(p);
    const input = str(p, 'input'); const out = str(p, 'out');
    if (!source || !input || !out) throw new UsageError(`predict: ${onnx ? '--model' : '--checkpoint'}, --input and --out are required`);
    const threads = str(p, 'threads') === undefined ? undefined : intFlag('predict', 'threads', str(p, 'threads'), 1);
    if (!existsSync(input)) throw new DataError(`--input ${input} does not exist`);
    const files = statSync(input).isDirectory()
      ? readdirSync(input).filter((f) => IMAGE_EXT.has(extname(f).toLowerCase())).sort().map((f) => join(input, f))
      : [input];
    if (files.length === 0) throw new DataError(`--input ${input} holds no PNG or JPEG images`);
    assertWritable(resolve(out));
    const skipBad = p.values['skip-bad'] === true;
    const m = onnx ? await onnxEngine(source, threads) : await torchEngine(source, threads, str(p, 'device'), p.values['pointwise-onednn'] === true);
    let skipped: number;
    try { skipped = await predictFiles(m, files, out, skipBad); } finally { await m.close(); }
    if (skipped === files.length) throw new DataError(`--input ${input}: none of its ${files.length} images could be read (each was skipped above)`);
    process.stderr.write(`wrote ${(files.length - skipped) * 4} files to ${resolve(out)}${skipped ? `; skipped ${skipped} unreadable image${skipped > 1 ? 's' : ''}` : ''}\n`);
    return 0;
  },
};
