// `clan bench peak`: what the CPU kernels reach through the engine (bench/peak.ts).
import { intFlag } from '../args.js';
import type { Bench } from './common.js';

export const peak: Bench = {
  name: 'peak',
  usage: `usage: clan bench peak [--threads 1] [--reps 5] [--json]

peak     what the CPU kernels reach through our engine, forward only, best of --reps after one untimed run: a
         3×3 dilated conv as layer4 runs it (512→512 channels, dilation 2, on 65×65) and a 2048³ sgemm
         (matmul). One JSON line {"bench","threads","reps","conv","conv_gflops","sgemm","sgemm_gflops",
         "conv_kernel" (onednn where libtorch has it, else im2col+blas),"openblas_core" (the addon's OpenBLAS),
         "openblas_coretype" ($OPENBLAS_CORETYPE),"libtorch"}.`,
  options: { threads: { type: 'string' }, reps: { type: 'string' } },
  async run(p, emit) {
    const { benchPeak } = await import('../../bench/peak.js');
    benchPeak({ threads: intFlag('bench', 'threads', p.values.threads, 1), reps: intFlag('bench', 'reps', p.values.reps, 5) }, emit);
  },
};
