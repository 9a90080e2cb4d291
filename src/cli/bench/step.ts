// `clan bench step`: one full CLAN iteration against the PyTorch twin (bench/step.ts).
import { intFlag, sizeFlag, str, boolFlag, enumFlag } from '../args.js';
import { UsageError } from '../../util/errors.js';
import { BACKBONES } from '../../models/backbones.js';
import { backboneFlag, speedFlags, SPEED_OPTIONS, type Bench } from './common.js';

export const step: Bench = {
  name: 'step',
  usage: `usage: clan bench step [--backbone ${BACKBONES.names().join('|')}] [--height 128] [--width 256]
                       [--target-size WxH] [--iters 5] [--warmup 1] [--threads 1] [--rounds 3]
                       [--device cpu|cuda|cuda:N] [--amp off|bf16|fp16] [--compare] [--peak] [--pointwise-onednn]
                       [--twin-pointwise-onednn] [--d-own-size] [--profile N] [--trace FILE] [--json]

step     one full CLAN iteration (source --width × --height + target image, --target-size WxH, default the same size; batch 1, 19 classes, past
         the preheat, G and D updated). One JSON line {"bench","backbone","size","target","device","amp",
         "threads","median_ms","gflop","gflops","peak_rss_mb"}: gflop counts the iteration's conv FLOPs from the
         layer shapes (forward and backward passes as the iteration runs them, src/bench/flops.ts), gflops =
         gflop / median seconds; on CUDA also "peak_gpu_mb" (max allocated) and "gpu". With --compare the
         PyTorch reference runs too (same device and amp), each round ours, PyTorch as shipped, PyTorch with
         glibc malloc tuned (MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ 4 GiB), adding torch_median_ms,
         ratio, ratio_spread (as shipped), torch_tuned_median_ms, ratio_tuned, ratio_tuned_spread, and on CUDA
         torch_peak_gpu_mb and peak_gpu_ratio. --peak (CPU) also measures 'bench peak' at the same threads,
         adding peak_gflops (the better kernel) and peak_share = gflops / peak_gflops. The twins' peak RSS:
         torch_peak_rss_mb, torch_tuned_peak_rss_mb, peak_rss_ratio (ours / the smaller).
         --pointwise-onednn: CPU 1×1 convolutions through oneDNN (same math, oneDNN's rounding; docs/speed.md);
         --twin-pointwise-onednn: the PyTorch twin does the same. --profile N: N more iterations under libtorch's
         op profiler: "profile" (top ops by self time per iteration: op, calls, ms, share), "profile_ms",
         "conv_ms" (the convolution kernels' self time) and "conv_gflops" = gflop / conv seconds; --trace FILE
         keeps the Chrome trace (chrome://tracing, ui.perfetto.dev; implies --profile 3). --d-own-size: D's
         losses at its own size (hyper.adversarial.dFullSize false; changes the math, ours only; the twin stays official).
         The paper's job on a GPU: --backbone resnet101 --height 720 --width 1280 --target-size 1024x512 --device cuda`,
  options: { backbone: { type: 'string' }, height: { type: 'string' }, width: { type: 'string' }, iters: { type: 'string' },
    warmup: { type: 'string' }, threads: { type: 'string' }, rounds: { type: 'string' }, compare: { type: 'boolean' }, device: { type: 'string' },
    'target-size': { type: 'string' }, amp: { type: 'string' }, peak: { type: 'boolean' }, 'd-own-size': { type: 'boolean' }, ...SPEED_OPTIONS },
  async run(p, emit) {
    const backbone = backboneFlag(p, 'resnet101');
    const amp = enumFlag('bench', 'amp', str(p, 'amp'), ['off', 'bf16', 'fp16'] as const, 'off');
    const device = (await import('../device.js')).cliDevice('bench', str(p, 'device'));
    if (boolFlag(p, 'peak') && device !== 'cpu') throw new UsageError(`bench: --peak measures the CPU kernels; it does not apply to --device ${device}`);
    const height = intFlag('bench', 'height', p.values.height, 128); const width = intFlag('bench', 'width', p.values.width, 256);
    const [targetWidth, targetHeight] = sizeFlag('bench', 'target-size', str(p, 'target-size')) ?? [width, height];
    const { benchStep } = await import('../../bench/step.js');
    benchStep({ backbone, height, width, targetHeight, targetWidth, device, amp, peak: boolFlag(p, 'peak'), compare: boolFlag(p, 'compare'),
      iters: intFlag('bench', 'iters', p.values.iters, 5), warmup: intFlag('bench', 'warmup', p.values.warmup, 1, 0),
      threads: intFlag('bench', 'threads', p.values.threads, 1), rounds: intFlag('bench', 'rounds', p.values.rounds, 3),
      ...speedFlags(p), dOwnSize: boolFlag(p, 'd-own-size') }, emit);
  },
};
