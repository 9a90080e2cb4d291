// `clan bench loader`: the data loaders beside real CLAN steps (bench/loader.ts).
import { intFlag } from '../args.js';
import { backboneFlag, type Bench } from './common.js';

export const loader: Bench = {
  name: 'loader',
  usage: `usage: clan bench loader [--images 40] [--workers 2] [--prefetch 2] [--steps 10] [--backbone tiny] [--threads 1] [--json]

loader   N distinct 1024x512 PNG images + labels written to a temporary folder dataset (removed after), read
         by two Loaders (source with labels, target without; random scale + flip; --workers threads EACH)
         beside real CLAN steps (batch 1, past the preheat). One JSON line {"bench","size","images","workers",
         "threads","backbone","step_ms" (pre-made tensors),"step_with_loader_ms","wait_p50_ms","wait_p99_ms"
         (time in one await loader.next(), goal < 5 ms),"wait_p99_excl_preempt_ms" (minus the time the main
         thread was runnable but off-CPU, Linux),"turn_p99_ms" (event-loop turn before the waits),
         "decode_ms_per_image","preprocess_ms_per_image","peak_rss_mb",…}.`,
  options: { images: { type: 'string' }, workers: { type: 'string' }, prefetch: { type: 'string' }, steps: { type: 'string' },
    backbone: { type: 'string' }, threads: { type: 'string' } },
  async run(p, emit) {
    const backbone = backboneFlag(p, 'tiny');
    const { benchLoader } = await import('../../bench/loader.js');
    await benchLoader({ images: intFlag('bench', 'images', p.values.images, 40), workers: intFlag('bench', 'workers', p.values.workers, 2, 0),
      prefetch: intFlag('bench', 'prefetch', p.values.prefetch, 2, 0), steps: intFlag('bench', 'steps', p.values.steps, 10),
      backbone, threads: intFlag('bench', 'threads', p.values.threads, 1) }, emit);
  },
};
