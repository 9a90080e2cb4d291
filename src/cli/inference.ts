// The inference flags of eval, predict and bench eval (mmsegmentation's test modes): --mode whole|slide, --crop WxH,
// --stride WxH, --scales a,b,…, --flip, parsed with the args.ts helpers into an InferenceSpec (data/inference-spec.ts),
// which is checked before any image is read.
import { sizeFlag, str, boolFlag, enumFlag, type Options, type Parsed } from './args.js';
import { UsageError } from '../util/errors.js';
import { checkInferenceSpec, type InferenceSpec } from '../data/inference-spec.js';

export const INFERENCE_OPTIONS: Options = {
  mode: { type: 'string' }, crop: { type: 'string' }, stride: { type: 'string' }, scales: { type: 'string' }, flip: { type: 'boolean' },
};

/** The --help lines of the inference flags. */
export const INFERENCE_USAGE = `  --mode       whole (the input at once) or slide (mmseg's sliding window: --crop WxH windows every --stride WxH,
               logits averaged where windows overlap). Without any of these flags: the checkpoint's own mode (a
               converted DAFormer/HRDA/MIC checkpoint carries its config's, e.g. slide 1024x1024), else whole
  --crop       slide window WxH in network-input pixels (e.g. 512x512)
  --stride     slide step WxH (e.g. 341x341)
  --scales     test-time ratios of the eval size, e.g. 0.5,0.75,1,1.25,1.5,1.75 (mmseg aug_test: keep-ratio resize
               per ratio, softmax averaged at the original resolution)
  --flip       each ratio also mirrored left-right, its probabilities mirrored back`;

/** A comma list of positive ratios (--scales 0.5,0.75,1). */
function ratiosFlag(cmd: string, name: string, v: string | undefined): number[] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((t) => {
    if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(t)) throw new UsageError(`${cmd}: --${name} expects ratios separated by commas (e.g. 0.5,0.75,1,1.25,1.5,1.75), got '${v}'`);
    return Number(t);
  });
}

/** The spec the flags ask for; undefined when none of them is given (the plain whole-image path). */
export function inferenceFlag(cmd: string, p: Parsed): InferenceSpec | undefined {
  const given = Object.keys(INFERENCE_OPTIONS).some((k) => p.values[k] !== undefined && p.values[k] !== false);
  if (!given) return undefined;
  const crop = sizeFlag(cmd, 'crop', str(p, 'crop')); const stride = sizeFlag(cmd, 'stride', str(p, 'stride'));
  const scales = ratiosFlag(cmd, 'scales', str(p, 'scales'));
  const s: InferenceSpec = { mode: enumFlag(cmd, 'mode', str(p, 'mode'), ['whole', 'slide'] as const, 'whole'), ...(crop ? { crop } : {}),
    ...(stride ? { stride } : {}), ...(scales ? { scales } : {}), ...(boolFlag(p, 'flip') ? { flip: true } : {}) };
  try { checkInferenceSpec(s); } catch (e) { throw new UsageError(`${cmd}: ${(e as Error).message}`); }
  return s;
}
