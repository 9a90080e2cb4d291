// `clan predict`: label, colour, overlay and disagreement PNGs for an image or a folder of images.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { parse, str, intFlag, type Command } from './args.js';
import { countProgress } from './progress.js';
import { assertWritable } from './files.js';
import { UsageError, DataError } from '../util/errors.js';

const USAGE = `usage: clan predict --checkpoint CKPT --input IMAGE|FOLDER --out DIR [--threads N] [--device cpu|cuda|cuda:N]

Runs the network at the checkpoint's eval size and writes, at each input's own size:
  <stem>_label.png         class ids (8-bit, one channel)
  <stem>_color.png         the classes in the dataset's palette
  <stem>_overlay.png       the colours blended over the image
  <stem>_disagreement.png  heat-map of M = 1 − cos(p1, p2): where the two classifiers disagree (CLAN's signal)
Inputs: PNG or JPEG (EXIF orientation honoured).`;

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

export const predictCmd: Command = {
  name: 'predict',
  summary: 'segment images: label, colour, overlay and disagreement PNGs',
  usage: USAGE,
  async run(argv) {
    const p = parse('predict', argv, { checkpoint: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' },
      device: { type: 'string' } });
    if (p.values.help) { console.log(USAGE); return 0; }
    const ckpt = str(p, 'checkpoint'); const input = str(p, 'input'); const out = str(p, 'out');
    if (!ckpt || !input || !out) throw new UsageError('predict: --checkpoint, --input and --out are required');
    if (!existsSync(input)) throw new DataError(`--input ${input} does not exist`);
    const files = statSync(input).isDirectory()
      ? readdirSync(input).filter((f) => IMAGE_EXT.has(extname(f).toLowerCase())).sort().map((f) => join(input, f))
      : [input];
    if (files.length === 0) throw new DataError(`--input ${input} holds no PNG or JPEG images`);
    assertWritable(resolve(out));
    const torch = await import('../torch/index.js');
    if (str(p, 'threads')) torch.setNumThreads(intFlag('predict', 'threads', str(p, 'threads'), 1));
    const { loadInferenceModel } = await import('../infer/model.js');
    const { predictImage } = await import('../infer/predict.js');
    const { readBytes, decodeRgb } = await import('../data/image.js');
    const { encodePng, colorize, overlay, heatmap } = await import('../report/png.js');
    const { atomicWrite } = await import('../util/atomic.js');
    const m = loadInferenceModel(ckpt, (await import('./device.js')).cliDevice('predict', str(p, 'device')));
    const progress = files.length > 1 ? countProgress('predict') : () => {};
    const { nextTurn } = await import('../util/tick.js');
    for (const [i, f] of files.entries()) {
      await nextTurn(); // tensor-wrapper finalizers run between images (util/tick.ts)
      const img = decodeRgb(readBytes(f), f);
      const r = predictImage(m, img, f);
      const color = colorize(r.label, r.width, r.height, m.palette);
      const stem = join(out, basename(f, extname(f)));
      atomicWrite(`${stem}_label.png`, encodePng(r.label, r.width, r.height, 1));
      atomicWrite(`${stem}_color.png`, encodePng(color, r.width, r.height));
      atomicWrite(`${stem}_overlay.png`, encodePng(overlay(img.data, color, 0.5), r.width, r.height));
      atomicWrite(`${stem}_disagreement.png`, encodePng(heatmap(r.disagreement, r.width, r.height, { max: Math.max(1e-6, maxOf(r.disagreement)) }), r.width, r.height));
      progress(i + 1, files.length);
    }
    m.G.dispose();
    process.stderr.write(`wrote ${files.length * 4} files to ${resolve(out)}\n`);
    return 0;
  },
};

function maxOf(a: Float32Array): number { let m = 0; for (const v of a) if (v > m) m = v; return m; }
