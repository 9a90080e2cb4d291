// `clan bench peak`: what this machine's CPU kernels reach through our engine, the yardstick for `bench step`'s
// achieved GFLOP/s. Two kernels, forward only, each the best of `reps` timed runs after one untimed:
//   conv   the backbone's layer4 conv as DeepLab-v2 runs it: 512 → 512 channels, 3×3, dilation = padding = 2, on
//          [1, 512, 65, 65] (a 513×513 crop at output stride 8). A libtorch built with USE_MKLDNN=ON (Debian's
//          1.13 is) sends this conv to oneDNN, not to im2col + BLAS (torch.profiler: aten::mkldnn_convolution). Its
//          heuristic takes a float32 conv that is (strided, dilated, not 1×1, or multi-threaded) and (over 20480
//          input elements, a kernel over 3×3, grouped, or batched); at 1 thread the unstrided 1×1 convs and the
//          small 3×3 ones take im2col + BLAS sgemm (aten::thnn_conv2d). `conv_kernel` says which this conv got.
//   sgemm  a 2048 × 2048 by 2048 × 2048 float32 matmul: BLAS sgemm (OpenBLAS here, with the core type the addon
//          reports, which OPENBLAS_CORETYPE can force).
import * as torch from '../torch/index.js';
import { F } from '../torch/index.js';
import { convFlops } from './flops.js';
import { round, timeSteps } from './util.js';

export interface PeakOptions { threads: number; reps: number }
export interface Peak { convGflops: number; sgemmGflops: number }

const CONV = { channels: 512, size: 65, dilation: 2 };
const SGEMM = 2048;

/** Best GFLOP/s of `fn` (which does `flops` FLOPs) over `reps` timed runs after one untimed. */
function best(flops: number, reps: number, fn: () => void): number {
  const ms = Math.min(...timeSteps(1, reps, () => { torch.tidy(fn); }));
  return flops / (ms * 1e6);
}

/** Measures both kernels at `threads` intra-op threads on the CPU. */
export function measurePeak(o: PeakOptions): Peak {
  torch.setNumThreads(o.threads);
  const { channels: c, size: s, dilation: d } = CONV;
  const x = torch.keep(torch.randn([1, c, s, s])); const w = torch.keep(torch.randn([c, c, 3, 3]));
  const a = torch.keep(torch.randn([SGEMM, SGEMM])); const b = torch.keep(torch.randn([SGEMM, SGEMM]));
  try {
    return torch.noGrad(() => ({
      convGflops: best(convFlops([c, c, 3, 3], [s, s]), o.reps, () => { F.conv2d(x, w, null, { padding: d, dilation: d }); }),
      sgemmGflops: best(2 * SGEMM ** 3, o.reps, () => { a.matmul(b); }),
    }));
  } finally { for (const t of [x, w, a, b]) t.dispose(); }
}

/** One JSON line: both kernels' GFLOP/s and the BLAS they ran on. */
export function benchPeak(o: PeakOptions, emit: (line: object) => void): void {
  const p = measurePeak(o);
  const info = torch.buildInfo();
  emit({
    bench: 'peak', threads: o.threads, reps: o.reps,
    conv: `${CONV.channels}->${CONV.channels} 3x3 dilation ${CONV.dilation} on ${CONV.size}x${CONV.size}`, conv_gflops: round(p.convGflops, 1),
    sgemm: `${SGEMM}^3`, sgemm_gflops: round(p.sgemmGflops, 1),
    conv_kernel: /USE_MKLDNN=ON/.test(info.config) ? 'onednn' : 'im2col+blas',
    openblas_core: info.openblasCore, openblas_coretype: process.env.OPENBLAS_CORETYPE ?? null, libtorch: info.version,
  });
}
