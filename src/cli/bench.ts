// `clan bench engine|step|eval|peak|infer|loader|ddp`: benchmarks print JSON lines on stdout (one per configuration).
import { parse, intFlag, type Command } from './args.js';
import { UsageError } from '../util/errors.js';
import { GENERATORS } from '../models/backbones.js';

/** `--sizes WxH[,WxH…]` (W×H as every size flag and the config's [W, H]), returned as [H, W] pairs for the benches. */
function sizeFlag(v: string | boolean | undefined, flag = 'sizes'): [number, number][] | null {
  if (typeof v !== 'string') return null;
  return v.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new UsageError(`bench: --${flag} expects WxH${flag === 'sizes' ? '[,WxH…]' : ''} (e.g. 1024x512), got '${v}'`);
    return [Number(m[2]), Number(m[1])] as [number, number];
  });
}

/** --pointwise-onednn, --twin-pointwise-onednn, --profile N, --trace FILE of bench step and eval. */
function speedFlags(v: Record<string, string | boolean | (string | boolean)[] | undefined>): { pointwiseOnednn: boolean; twinPointwise: boolean; profile: number; trace?: string } {
  const trace = typeof v.trace === 'string' ? v.trace : undefined;
  const profile = v.profile === undefined ? (trace ? 3 : 0) : intFlag('bench', 'profile', v.profile as string, 3, 0);
  return { pointwiseOnednn: v['pointwise-onednn'] === true, twinPointwise: v['twin-pointwise-onednn'] === true, profile, ...(trace ? { trace } : {}) };
}

export const bench: Command = {
  name: 'bench',
  summary: 'benchmarks: engine, step and eval against PyTorch (CPU or CUDA), peak CPU kernel GFLOP/s, loader beside a training step, ddp scaling, infer (libtorch vs onnxruntime); JSON on stdout',
  usage: `usage: clan bench engine [--sizes 256x128,1024x512] [--threads 1] [--warmup 3] [--steps 20] [--rounds 3] [--no-compare] [--json]

engine   the 7-layer probe net (conv/BN/ReLU, dilated conv, bilinear upsample, cross-entropy, SGD momentum)
         against the same net in PyTorch run by the bench itself, alternating ours/theirs rounds.
         One JSON line per size: {"bench","size","threads","median_ms","torch_median_ms","ratio","ratio_spread",
         "peak_rss_mb","torch"}; ratio = median_ms / torch_median_ms. Needs PyTorch ($CLAN_PYTHON or
         /usr/bin/python3 with torch) unless --no-compare.

usage: clan bench step [--backbone ${GENERATORS.names().join('|')}] [--height 128] [--width 256]
                       [--target-size WxH] [--iters 5] [--warmup 1] [--threads 1] [--rounds 3]
                       [--device cpu|cuda|cuda:N] [--amp off|bf16|fp16] [--compare] [--peak] [--pointwise-onednn]
                       [--twin-pointwise-onednn] [--d-own-size] [--profile N] [--trace FILE] [--json]

step     one full CLAN iteration (source H×W + target image, default the same size; batch 1, 19 classes, past
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
         The paper's job on a GPU: --backbone resnet101 --height 720 --width 1280 --target-size 1024x512 --device cuda

usage: clan bench eval [--backbone resnet101] [--height 512] [--width 1024] [--label-size WxH] [--iters 10]
                       [--warmup 2] [--threads 1] [--rounds 3] [--device cpu|cuda|cuda:N] [--compare]
                       [--pointwise-onednn] [--twin-pointwise-onednn] [--profile N] [--trace FILE] [--json]

eval     evaluation throughput: G (eval mode) on one H×W image, logits upsampled to the label size (default
         2H×2W), argmax, prediction copied to the host. One JSON line {"bench","backbone","size","label","device",
         "median_ms","images_per_s",…}; with --compare the PyTorch twin as shipped and with malloc tuned (as
         step): torch_median_ms, torch_images_per_s, ratio, ratio_spread, torch_tuned_median_ms, ratio_tuned,
         ratio_tuned_spread. --pointwise-onednn, --twin-pointwise-onednn, --profile, --trace: as step.

usage: clan bench peak [--threads 1] [--reps 5] [--json]

peak     what the CPU kernels reach through our engine, forward only, best of --reps after one untimed run: a
         3×3 dilated conv as layer4 runs it (512→512 channels, dilation 2, on 65×65) and a 2048³ sgemm
         (matmul). One JSON line {"bench","threads","reps","conv","conv_gflops","sgemm","sgemm_gflops",
         "conv_kernel" (onednn where libtorch has it, else im2col+blas),"openblas_core" (the addon's OpenBLAS),
         "openblas_coretype" ($OPENBLAS_CORETYPE),"libtorch"}.

usage: clan bench loader [--images 40] [--workers 2] [--prefetch 2] [--steps 10] [--backbone tiny] [--threads 1] [--json]

loader   N distinct 1024x512 PNG images + labels written to a temporary folder dataset (removed after), read
         by two Loaders (source with labels, target without; random scale + flip; --workers threads EACH)
         beside real CLAN steps (batch 1, past the preheat). One JSON line {"bench","size","images","workers",
         "threads","backbone","step_ms" (pre-made tensors),"step_with_loader_ms","wait_p50_ms","wait_p99_ms"
         (time in one await loader.next(), goal < 5 ms),"wait_p99_excl_preempt_ms" (minus the time the main
         thread was runnable but off-CPU, Linux),"turn_p99_ms" (event-loop turn before the waits),
         "decode_ms_per_image","preprocess_ms_per_image","peak_rss_mb",…}.

usage: clan bench ddp [--nproc 2] [--backbone resnet18] [--height 128] [--width 256] [--warmup 2] [--steps 10]
                      [--overlap] [--json]

ddp      data-parallel scaling of the CLAN iteration (batch 1 per process, random data): 1 process × 1 thread,
         --nproc processes × 1 thread each (c10d Gloo over loopback, gradients averaged every step), and 1 process ×
         --nproc threads. One JSON line {"bench","backbone","size","nproc","overlap","ips_1proc","ips_nproc",
         "efficiency" (= ips_nproc / (nproc × ips_1proc)),"ips_1proc_nthreads","allreduce_ms" (time a step is
         blocked in the gradient all-reduce),"allreduce_share","wait_ms" (waiting for the slower rank),…}.
         --overlap: G's all-reduce starts while D's passes run (config ddpOverlap), not with D's at the optimizer step.

usage: clan bench infer [--backbone resnet101] [--sizes 1024x512,2048x1024] [--threads 1,N] [--engine torch|onnx|both]
                        [--iters 3] [--warmup 1] [--json]

infer    the deployed model: our libtorch forward vs onnxruntime-node running the same weights exported by
         'clan export' (output labels), at each H×W, with each thread count (default 1 and every core). Both do G,
         up(x1 + x2) to H×W, argmax and copy the labels out. One JSON line per size and thread count {"bench",
         "backbone","size","threads","torch_ms","torch_images_per_s","onnx_ms","onnx_images_per_s","ratio" (onnx
         time / libtorch time),"label_agreement","peak_rss_mb"}.`,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h') { console.log(this.usage); return sub === undefined ? 2 : 0; }
    if (sub === 'engine') {
      const { values } = parse('bench engine', rest, {
        sizes: { type: 'string' }, threads: { type: 'string' }, warmup: { type: 'string' }, steps: { type: 'string' },
        rounds: { type: 'string' }, 'no-compare': { type: 'boolean' }, json: { type: 'boolean' },
      });
      if (values.help) { console.log(this.usage); return 0; }
      const { benchEngine } = await import('../bench/engine.js');
      benchEngine({
        sizes: sizeFlag(values.sizes) ?? [[128, 256], [512, 1024]],
        threads: intFlag('bench', 'threads', values.threads, 1), warmup: intFlag('bench', 'warmup', values.warmup, 3, 0),
        steps: intFlag('bench', 'steps', values.steps, 20), rounds: intFlag('bench', 'rounds', values.rounds, 3),
        compare: !values['no-compare'],
      }, (l) => console.log(JSON.stringify(l)));
      return 0;
    }
    if (sub === 'step') {
      const { values } = parse('bench step', rest, {
        backbone: { type: 'string' }, height: { type: 'string' }, width: { type: 'string' }, iters: { type: 'string' },
        warmup: { type: 'string' }, threads: { type: 'string' }, rounds: { type: 'string' }, compare: { type: 'boolean' },
        device: { type: 'string' }, json: { type: 'boolean' }, 'target-size': { type: 'string' }, amp: { type: 'string' },
        peak: { type: 'boolean' }, 'pointwise-onednn': { type: 'boolean' }, 'twin-pointwise-onednn': { type: 'boolean' },
        profile: { type: 'string' }, trace: { type: 'string' }, 'd-own-size': { type: 'boolean' },
      });
      if (values.help) { console.log(this.usage); return 0; }
      const backbone = typeof values.backbone === 'string' ? values.backbone : 'resnet101';
      GENERATORS.get(backbone);
      const amp = typeof values.amp === 'string' ? values.amp : 'off';
      if (!['off', 'bf16', 'fp16'].includes(amp)) throw new UsageError(`bench: --amp expects off, bf16 or fp16, got '${amp}'`);
      const device = (await import('./device.js')).cliDevice('bench', typeof values.device === 'string' ? values.device : undefined);
      if (values.peak && device !== 'cpu') throw new UsageError(`bench: --peak measures the CPU kernels; it does not apply to --device ${device}`);
      const height = intFlag('bench', 'height', values.height, 128); const width = intFlag('bench', 'width', values.width, 256);
      const [targetHeight, targetWidth] = sizeFlag(values['target-size'], 'target-size')?.[0] ?? [height, width];
      const { benchStep } = await import('../bench/step.js');
      benchStep({
        backbone, height, width, targetHeight, targetWidth,
        iters: intFlag('bench', 'iters', values.iters, 5), warmup: intFlag('bench', 'warmup', values.warmup, 1, 0),
        threads: intFlag('bench', 'threads', values.threads, 1), rounds: intFlag('bench', 'rounds', values.rounds, 3),
        compare: values.compare === true, device, amp: amp as 'off' | 'bf16' | 'fp16', peak: values.peak === true,
        ...speedFlags(values), dOwnSize: values['d-own-size'] === true,
      }, (l) => console.log(JSON.stringify(l)));
      return 0;
    }
    if (sub === 'peak') {
      const { values } = parse('bench peak', rest, { threads: { type: 'string' }, reps: { type: 'string' }, json: { type: 'boolean' } });
      if (values.help) { console.log(this.usage); return 0; }
      const { benchPeak } = await import('../bench/peak.js');
      benchPeak({ threads: intFlag('bench', 'threads', values.threads, 1), reps: intFlag('bench', 'reps', values.reps, 5) },
        (l) => console.log(JSON.stringify(l)));
      return 0;
    }
    if (sub === 'eval') {
      const { values } = parse('bench eval', rest, {
        backbone: { type: 'string' }, height: { type: 'string' }, width: { type: 'string' }, 'label-size': { type: 'string' },
        iters: { type: 'string' }, warmup: { type: 'string' }, threads: { type: 'string' }, rounds: { type: 'string' },
        compare: { type: 'boolean' }, device: { type: 'string' }, json: { type: 'boolean' },
        'pointwise-onednn': { type: 'boolean' }, 'twin-pointwise-onednn': { type: 'boolean' }, profile: { type: 'string' }, trace: { type: 'string' },
      });
      if (values.help) { console.log(this.usage); return 0; }
      const backbone = typeof values.backbone === 'string' ? values.backbone : 'resnet101';
      GENERATORS.get(backbone);
      const device = (await import('./device.js')).cliDevice('bench', typeof values.device === 'string' ? values.device : undefined);
      const height = intFlag('bench', 'height', values.height, 512); const width = intFlag('bench', 'width', values.width, 1024);
      const [labelHeight, labelWidth] = sizeFlag(values['label-size'], 'label-size')?.[0] ?? [2 * height, 2 * width];
      const { benchEval } = await import('../bench/eval.js');
      benchEval({
        backbone, height, width, labelHeight, labelWidth, device,
        iters: intFlag('bench', 'iters', values.iters, 10), warmup: intFlag('bench', 'warmup', values.warmup, 2, 0),
        threads: intFlag('bench', 'threads', values.threads, 1), rounds: intFlag('bench', 'rounds', values.rounds, 3),
        compare: values.compare === true, ...speedFlags(values),
      }, (l) => console.log(JSON.stringify(l)));
      return 0;
    }
    if (sub === 'infer') {
      const { values } = parse('bench infer', rest, {
        backbone: { type: 'string' }, sizes: { type: 'string' }, threads: { type: 'string' }, engine: { type: 'string' },
        iters: { type: 'string' }, warmup: { type: 'string' }, json: { type: 'boolean' },
      });
      if (values.help) { console.log(this.usage); return 0; }
      const backbone = typeof values.backbone === 'string' ? values.backbone : 'resnet101';
      GENERATORS.get(backbone);
      const engine = typeof values.engine === 'string' ? values.engine : 'both';
      if (!['torch', 'onnx', 'both'].includes(engine)) throw new UsageError(`bench: --engine expects torch, onnx or both, got '${engine}'`);
      const { benchInfer, defaultThreads } = await import('../bench/infer.js');
      const threads = typeof values.threads === 'string' ? values.threads.split(',').map((t) => intFlag('bench', 'threads', t, 1)) : defaultThreads();
      await benchInfer({
        backbone, sizes: sizeFlag(values.sizes) ?? [[512, 1024], [1024, 2048]], threads,
        engines: engine === 'both' ? ['torch', 'onnx'] : [engine as 'torch' | 'onnx'],
        iters: intFlag('bench', 'iters', values.iters, 3), warmup: intFlag('bench', 'warmup', values.warmup, 1, 0),
      }, (l) => console.log(JSON.stringify(l)));
      return 0;
    }
    if (sub === 'loader') {
      const { values } = parse('bench loader', rest, {
        images: { type: 'string' }, workers: { type: 'string' }, prefetch: { type: 'string' }, steps: { type: 'string' },
        backbone: { type: 'string' }, threads: { type: 'string' }, json: { type: 'boolean' },
      });
      if (values.help) { console.log(this.usage); return 0; }
      const backbone = typeof values.backbone === 'string' ? values.backbone : 'tiny';
      GENERATORS.get(backbone);
      const { benchLoader } = await import('../bench/loader.js');
      await benchLoader({
        images: intFlag('bench', 'images', values.images, 40), workers: intFlag('bench', 'workers', values.workers, 2, 0),
        prefetch: intFlag('bench', 'prefetch', values.prefetch, 2, 0), steps: intFlag('bench', 'steps', values.steps, 10),
        backbone, threads: intFlag('bench', 'threads', values.threads, 1),
      }, (l) => console.log(JSON.stringify(l)));
      return 0;
    }
    if (sub === 'ddp') {
      const { values } = parse('bench ddp', rest, {
        nproc: { type: 'string' }, backbone: { type: 'string' }, height: { type: 'string' }, width: { type: 'string' },
        warmup: { type: 'string' }, steps: { type: 'string' }, json: { type: 'boolean' }, overlap: { type: 'boolean' },
      });
      if (values.help) { console.log(this.usage); return 0; }
      const backbone = typeof values.backbone === 'string' ? values.backbone : 'resnet18';
      GENERATORS.get(backbone);
      const { benchDdp } = await import('../bench/ddp.js');
      await benchDdp({ nproc: intFlag('bench', 'nproc', values.nproc, 2), backbone, height: intFlag('bench', 'height', values.height, 128),
        width: intFlag('bench', 'width', values.width, 256), warmup: intFlag('bench', 'warmup', values.warmup, 2, 0),
        steps: intFlag('bench', 'steps', values.steps, 10), overlap: values.overlap === true }, (l) => console.log(JSON.stringify(l)));
      return 0;
    }
    throw new UsageError(`bench: unknown benchmark '${sub}'; expected one of: engine, step, eval, peak, infer, loader, ddp`);
  },
};
