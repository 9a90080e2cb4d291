// `clan predict`: label, colour, overlay and disagreement PNGs for an image or a folder of images (searched
// recursively); the work is deploy/predict-folder.ts.
import { resolve } from 'node:path';
import { parse, str, intFlag, boolFlag, enumFlag, ENGINE_OPTIONS, type Command, type Parsed } from './args.js';
import { countProgress } from './progress.js';
import { assertWritable } from './files.js';
import { INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceFlag } from './inference.js';
import { UsageError } from '../util/errors.js';
import { DISAGREEMENT_KEY, DISAGREEMENT_MAX } from '../deploy/predict-folder.js';

const USAGE = `usage: clan predict --checkpoint CKPT --input IMAGE|FOLDER --out DIR [--threads N] [--device cpu|cuda|cuda:N]
                    [--pointwise-onednn] [--mode whole|slide [--crop WxH --stride WxH]] [--scales LIST] [--flip]
                    [--skip-bad]
       clan predict --engine onnx --model MODEL.onnx --input IMAGE|FOLDER --out DIR [--threads N] [--mode …] [--skip-bad]

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
A FOLDER is searched recursively (Cityscapes' leftImg8bit/val/<city>/…); each image's outputs keep its path
relative to FOLDER under --out. Two inputs that would write the same outputs (x.jpg beside x.png) are refused
before anything is written. Inputs: PNG or JPEG, decoded as Pillow's Image.open does (EXIF orientation not applied).
Each image's memory estimate (from its header: network, outputs at its size; docs/deploy.md "Memory budget") is
checked against CLAN_MEMORY_BUDGET_MB (MB, default 3/4 of this machine's memory) before anything is written; one over
it is refused in one line (with --skip-bad: skipped). Images above 64 Mi logits floats are upsampled in column bands.
  --engine     torch (default): libtorch and a checkpoint; onnx: onnxruntime-node and a model written by
               'clan export' (its heads x1, x2), no libtorch needed; the same four PNGs
  --model      the ONNX model (with --engine onnx, in place of --checkpoint); its metadata gives the size,
               class names and palette
${INFERENCE_USAGE}
               (the label follows the mode; the disagreement map is the single pass at the eval size)
  --threads    CPU threads: libtorch's, or onnxruntime's intra-op threads (default: all cores)
  --device     where the network runs (default cpu; libtorch only: the ONNX engine runs on the CPU)
  --pointwise-onednn  CPU 1×1 convolutions through oneDNN (libtorch only; same math, faster on one thread;
               docs/speed.md)
  --skip-bad   log and skip images that cannot be read instead of stopping`;

/** The engine the flags ask for, checked before anything is loaded: each engine's own flags, one line each. */
function engineChoice(p: Parsed): { onnx: boolean; source: string; input: string; out: string } {
  const onnx = enumFlag('predict', 'engine', str(p, 'engine'), ['torch', 'onnx'] as const, 'torch') === 'onnx';
  if (onnx && str(p, 'checkpoint')) throw new UsageError('predict: --engine onnx takes --model MODEL.onnx, not --checkpoint');
  if (onnx && str(p, 'device')) throw new UsageError('predict: --device is for the libtorch engine; --engine onnx runs on the CPU');
  if (onnx && boolFlag(p, 'pointwise-onednn')) throw new UsageError('predict: --pointwise-onednn is for the libtorch engine; onnxruntime picks its own kernels');
  if (!onnx && str(p, 'model')) throw new UsageError('predict: --model is for --engine onnx; the libtorch engine takes --checkpoint CKPT');
  const source = str(p, onnx ? 'model' : 'checkpoint'); const input = str(p, 'input'); const out = str(p, 'out');
  if (!source || !input || !out) throw new UsageError(`predict: ${onnx ? '--model' : '--checkpoint'}, --input and --out are required`);
  return { onnx, source, input, out: resolve(out) };
}

export const predictCommand: Command = {
  name: 'predict',
  summary: 'segment images: label, colour, overlay and disagreement PNGs',
  usage: USAGE,
  async run(argv) {
    const p = parse('predict', argv, { checkpoint: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' },
      'skip-bad': { type: 'boolean' }, engine: { type: 'string' }, model: { type: 'string' }, ...ENGINE_OPTIONS, ...INFERENCE_OPTIONS });
    if (p.values.help) { console.log(USAGE); return 0; }
    const e = engineChoice(p);
    const spec = inferenceFlag('predict', p);
    const threads = str(p, 'threads') === undefined ? undefined : intFlag('predict', 'threads', str(p, 'threads'), 1, 1, 4096);
    const f = await import('../deploy/predict-folder.js');
    const images = f.inputImages(e.input);
    assertWritable(e.out);
    const m = e.onnx ? await f.onnxEngine(e.source, threads, spec) : await f.torchEngine(e.source, (await import('./device.js')).engineFlags('predict', p), spec);
    let skipped: number;
    try {
      skipped = await f.predictImages(m, images, e.out, { skipBad: boolFlag(p, 'skip-bad'), log: (l) => process.stderr.write(l + '\n'),
        ...(images.length > 1 ? { onProgress: countProgress('predict') } : {}) });
    } finally { await m.close(); }
    process.stderr.write(`wrote ${(images.length - skipped) * 4} files to ${e.out}${skipped ? `; skipped ${skipped} unreadable image${skipped > 1 ? 's' : ''}` : ''}\n`);
    return 0;
  },
};
