// `clan bench eval`: evaluation throughput (bench/eval.ts), whole-image or with an inference mode.
import { intFlag, sizeFlag, str, boolFlag } from '../args.js';
import { INFERENCE_OPTIONS, inferenceFlag } from '../inference.js';
import { backboneFlag, speedFlags, SPEED_OPTIONS, type Bench } from './common.js';

export const evalBench: Bench = {
  name: 'eval',
  usage: `usage: clan bench eval [--backbone resnet101] [--height 512] [--width 1024] [--label-size WxH] [--iters 10]
                       [--warmup 2] [--threads 1] [--rounds 3] [--device cpu|cuda|cuda:N] [--compare]
                       [--pointwise-onednn] [--twin-pointwise-onednn] [--profile N] [--trace FILE]
                       [--mode whole|slide] [--crop WxH] [--stride WxH] [--scales LIST] [--flip] [--json]

eval     evaluation throughput: G (eval mode) on one image of --width × --height, logits upsampled to the label size
         (default twice each side), argmax, prediction copied to the host. --mode, --crop, --stride, --scales, --flip
         time an inference mode as clan eval runs it (adds "mode","passes","forwards" per image; --compare is for
         the whole-image path, which the twin runs). One JSON line {"bench","backbone","size","label","device",
         "median_ms","images_per_s",…}; with --compare the PyTorch twin as shipped and with malloc tuned (as
         step): torch_median_ms, torch_images_per_s, ratio, ratio_spread, torch_tuned_median_ms, ratio_tuned,
         ratio_tuned_spread. --pointwise-onednn, --twin-pointwise-onednn, --profile, --trace: as step.`,
  options: { backbone: { type: 'string' }, height: { type: 'string' }, width: { type: 'string' }, 'label-size': { type: 'string' },
    iters: { type: 'string' }, warmup: { type: 'string' }, threads: { type: 'string' }, rounds: { type: 'string' }, compare: { type: 'boolean' },
    device: { type: 'string' }, ...SPEED_OPTIONS, ...INFERENCE_OPTIONS },
  async run(p, emit) {
    const backbone = backboneFlag(p, 'resnet101');
    const device = (await import('../device.js')).cliDevice('bench', str(p, 'device'));
    const height = intFlag('bench', 'height', p.values.height, 512); const width = intFlag('bench', 'width', p.values.width, 1024);
    const [labelWidth, labelHeight] = sizeFlag('bench', 'label-size', str(p, 'label-size')) ?? [2 * width, 2 * height];
    const inference = await inferenceFlag('bench', p);
    const { benchEval } = await import('../../bench/eval.js');
    await benchEval({ backbone, height, width, labelHeight, labelWidth, device, compare: boolFlag(p, 'compare'),
      iters: intFlag('bench', 'iters', p.values.iters, 10), warmup: intFlag('bench', 'warmup', p.values.warmup, 2, 0),
      threads: intFlag('bench', 'threads', p.values.threads, 1), rounds: intFlag('bench', 'rounds', p.values.rounds, 3),
      ...speedFlags(p), ...(inference ? { inference } : {}) }, emit);
  },
};
