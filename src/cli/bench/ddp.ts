// `clan bench ddp`: data-parallel scaling of the CLAN iteration (bench/ddp.ts).
import { intFlag, boolFlag } from '../args.js';
import { backboneFlag, type Bench } from './common.js';

export const ddp: Bench = {
  name: 'ddp',
  usage: `usage: clan bench ddp [--nproc 2] [--backbone resnet18] [--height 128] [--width 256] [--warmup 2] [--steps 10]
                      [--overlap] [--json]

ddp      data-parallel scaling of the CLAN iteration (batch 1 per process, random data): 1 process × 1 thread,
         --nproc processes × 1 thread each (c10d Gloo over loopback, gradients averaged every step), and 1 process ×
         --nproc threads. One JSON line {"bench","backbone","size","nproc","overlap","ips_1proc","ips_nproc",
         "efficiency" (= ips_nproc / (nproc × ips_1proc)),"ips_1proc_nthreads","allreduce_ms" (time a step is
         blocked in the gradient all-reduce),"allreduce_share","wait_ms" (waiting for the slower rank),…}.
         --overlap: G's all-reduce starts while D's passes run (config ddpOverlap), not with D's at the optimizer step.`,
  options: { nproc: { type: 'string' }, backbone: { type: 'string' }, height: { type: 'string' }, width: { type: 'string' },
    warmup: { type: 'string' }, steps: { type: 'string' }, overlap: { type: 'boolean' } },
  async run(p, emit) {
    const backbone = backboneFlag(p, 'resnet18');
    const { benchDdp } = await import('../../bench/ddp.js');
    await benchDdp({ nproc: intFlag('bench', 'nproc', p.values.nproc, 2), backbone, height: intFlag('bench', 'height', p.values.height, 128),
      width: intFlag('bench', 'width', p.values.width, 256), warmup: intFlag('bench', 'warmup', p.values.warmup, 2, 0),
      steps: intFlag('bench', 'steps', p.values.steps, 10), overlap: boolFlag(p, 'overlap') }, emit);
  },
};
