// What an exported ONNX model says about itself (docs/deploy.md): the graph's contract (input, outputs) and the
// model's metadata, stored in ModelProto.metadata_props — the full record as JSON under the key 'clan', and the
// main fields again under plain keys for other tools (Netron, onnx.load(...).metadata_props).
//
// The graph's contract, for every export:
//   input  'image'  float32 [N, 3, H, W]: RGB in 0..255, already resized to inputSize (or any H, W when dynamic);
//                   the normalisation (Caffe: BGR − mean; ImageNet: (x/255 − mean)/std) happens inside the graph
//   output 'x1', 'x2' float32 [N, K, h, w]: C1's and C2's raw logits at the output stride (docs/method.md §1.3)
//   and, unless output is 'heads', one of
//          'logits' float32 [N, K, H, W] = up(x1 + x2), bilinear with align_corners (the official evaluation, §5.3)
//          'probs'  float32 [N, K, H, W] = softmax of those logits over K
//          'labels' uint8   [N, H, W]    = argmax over K
// No engine here: the ONNX inference path (deploy/ort.ts) reads this without libtorch.
import { DataError } from '../util/errors.js';

export type OnnxOutput = 'logits' | 'probs' | 'labels' | 'heads';
export const ONNX_OUTPUTS: readonly OnnxOutput[] = ['logits', 'probs', 'labels', 'heads'];

export interface OnnxModelInfo {
  format: 'clan-onnx';
  version: 1;
  backbone: string;
  numClasses: number;
  classNames: string[];
  palette: [number, number, number][];
  normalize: 'caffe' | 'imagenet';          // applied inside the graph to the RGB 0..255 input
  inputSize: [number, number] | null;       // [W, H] the graph takes; null: dynamic H and W
  evalSize: [number, number];               // [W, H] the checkpoint evaluates at (what `clan predict` resizes to)
  output: OnnxOutput;
  configHash: string | null;                // the training run's config hash (run.json), when the checkpoint has one
  step: number | null;                      // the training step of the checkpoint
  source: string;                           // the checkpoint's file name
}

/** metadata_props entries for `info`: 'clan' holds it all (JSON); the rest repeat fields for other tools. */
export function infoToProps(info: OnnxModelInfo): [string, string][] {
  return [
    ['clan', JSON.stringify(info)],
    ['class_names', JSON.stringify(info.classNames)],
    ['palette', JSON.stringify(info.palette)],
    ['input', 'image: float32 [N, 3, H, W], RGB 0..255, resized to input_size; normalisation is in the graph'],
    ['input_size', info.inputSize ? `${info.inputSize[0]}x${info.inputSize[1]}` : 'dynamic'],
    ['normalization', info.normalize === 'caffe' ? 'caffe: BGR order, minus mean [104.00698793, 116.66876762, 122.67891434]'
      : 'imagenet: RGB, (x / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]'],
    ['upsampling', 'bilinear, align_corners=True'],
    ['config_hash', info.configHash ?? ''],
  ];
}

/** Checks the JSON under 'clan' field by field; `where` names the file in the one-line error. */
export function parseInfo(json: string | undefined, where: string): OnnxModelInfo {
  const bad = (why: string): DataError => new DataError(`${where}: ${why}; expected an ONNX model written by 'clan export'`);
  if (json === undefined) throw bad("no 'clan' entry in its metadata_props");
  let v: unknown;
  try { v = JSON.parse(json); } catch { throw bad("its metadata 'clan' is not JSON"); }
  const o = v as Partial<OnnxModelInfo>;
  if (typeof o !== 'object' || o === null || o.format !== 'clan-onnx') throw bad("metadata 'clan' has no format 'clan-onnx'");
  if (o.version !== 1) throw bad(`metadata version ${String(o.version)} is not 1`);
  const k = o.numClasses;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > 1000) throw bad('numClasses must be an integer 1…1000');
  if (!Array.isArray(o.classNames) || o.classNames.length !== k) throw bad(`classNames must list ${k} names`);
  if (!Array.isArray(o.palette) || o.palette.length !== k) throw bad(`palette must hold ${k} colours`);
  const size = (s: unknown): boolean => Array.isArray(s) && s.length === 2 && s.every((n) => Number.isInteger(n) && n >= 1 && n <= 16384);
  if (o.inputSize !== null && !size(o.inputSize)) throw bad('inputSize must be [W, H] or null');
  if (!size(o.evalSize)) throw bad('evalSize must be [W, H]');
  if (o.normalize !== 'caffe' && o.normalize !== 'imagenet') throw bad("normalize must be 'caffe' or 'imagenet'");
  if (!ONNX_OUTPUTS.includes(o.output as OnnxOutput)) throw bad(`output must be one of ${ONNX_OUTPUTS.join(', ')}`);
  return o as OnnxModelInfo;
}
