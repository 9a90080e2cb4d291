// `clan export`: a checkpoint's generator as an ONNX file (deploy/export.ts), or a static web page that runs it in
// the browser (deploy/web.ts). Needs libtorch (it reads the weights through the model); running the result does not.
import { resolve, dirname } from 'node:path';
import { parse, str, intFlag, sizeFlag, enumFlag, boolFlag, type Command, type Parsed } from './args.js';
import { ONNX_OUTPUTS } from '../deploy/onnx-meta.js';
import type { ExportOptions } from '../deploy/export.js';
import { assertWritable } from './files.js';
import { UsageError } from '../util/errors.js';

const USAGE = `usage: clan export CKPT OUT.onnx [--size WxH | --dynamic] [--output logits|probs|labels|heads] [--opset N]
       clan export CKPT --web DIR [--size WxH]

Writes the generator G of CKPT (a training checkpoint or converted weights) as an ONNX graph: the backbone, both
ASPP heads, their sum, the bilinear upsampling (align_corners) to the input size and an optional softmax/argmax.
Batch norm is folded into the convolutions; the input normalisation is inside the graph.
  input   image   float32 [N, 3, H, W]: RGB 0..255, resized to the model's size (bicubic, as clan predict does)
  outputs x1, x2  float32 [N, K, h, w]: C1's and C2's logits at the output stride (always)
          and one of logits [N, K, H, W] | probs [N, K, H, W] | labels uint8 [N, H, W] (--output; none for heads)
Class names, palette, sizes, normalisation and the training config's hash are in the model's metadata_props.
  --size     the graph's input WxH (default: the checkpoint's eval size)
  --dynamic  any input height and width (the page and clan predict still resize to the eval size)
  --output   the main output (default logits)
  --opset    ONNX opset 13…21 (default 17)
  --web DIR  a static folder: index.html, the model (output heads) and onnxruntime-web's wasm files, no network
             needed; serve it with 'clan serve DIR' and open the URL it prints`;

/** The flags checked against each other: where the model goes and the export options. */
function exportFlags(p: Parsed): { ckpt: string; to: { onnx?: string; web?: string }; o: ExportOptions } {
  const web = str(p, 'web');
  if (p.positionals.length !== (web === undefined ? 2 : 1)) {
    throw new UsageError(`export: expected ${web === undefined ? 'CKPT and OUT.onnx' : 'CKPT (with --web DIR)'}, got ${p.positionals.length} argument(s) (see 'clan export --help')`);
  }
  const [ckpt, out] = p.positionals as [string, string | undefined];
  if (out !== undefined && !out.endsWith('.onnx')) throw new UsageError(`export: OUT must end in .onnx (got '${out}')`);
  const size = sizeFlag('export', 'size', str(p, 'size'));
  if (size && boolFlag(p, 'dynamic')) throw new UsageError('export: --size and --dynamic exclude each other');
  const output = enumFlag('export', 'output', str(p, 'output'), ONNX_OUTPUTS, web === undefined ? 'logits' : 'heads');
  if (web !== undefined && (output !== 'heads' || boolFlag(p, 'dynamic'))) throw new UsageError('export: --web writes a fixed-size model with output heads (the page upsamples itself); drop --output/--dynamic');
  const opset = str(p, 'opset') === undefined ? undefined : intFlag('export', 'opset', str(p, 'opset'), 17, 13, 21, 'the opsets the graph writer emits');
  return { ckpt, to: web !== undefined ? { web } : { onnx: out! }, o: { size: boolFlag(p, 'dynamic') ? 'dynamic' : size, output, opset } };
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'a checkpoint as an ONNX model, or as an offline web page that segments images',
  usage: USAGE,
  async run(argv) {
    const p = parse('export', argv, { size: { type: 'string' }, dynamic: { type: 'boolean' }, output: { type: 'string' },
      opset: { type: 'string' }, web: { type: 'string' } }, true);
    if (p.values.help) { console.log(USAGE); return 0; }
    const { ckpt, to, o } = exportFlags(p);
    assertWritable(resolve(to.web ?? dirname(resolve(to.onnx!))), to.web === undefined ? 'OUT' : '--web');
    const { exportCheckpoint } = await import('../deploy/export-checkpoint.js');
    process.stderr.write(exportCheckpoint(ckpt, to, o) + '\n');
    return 0;
  },
};
