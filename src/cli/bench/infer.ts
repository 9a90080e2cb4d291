// `clan bench infer`: the deployed model, libtorch against onnxruntime-node (bench/infer.ts).
import { intFlag, sizesFlag, str, enumFlag } from '../args.js';
import { backboneFlag, type Bench } from './common.js';

export const infer: Bench = {
  name: 'infer',
  usage: `usage: clan bench infer [--backbone resnet101] [--sizes 1024x512,2048x1024] [--threads 1,N] [--engine torch|onnx|both]
                        [--iters 3] [--warmup 1] [--json]

infer    the deployed model: our libtorch forward vs onnxruntime-node running the same weights exported by
         'clan export' (output labels), at each W×H of --sizes, with each thread count (default 1 and every core). Both do G,
         up(x1 + x2) to that size, argmax and copy the labels out. One JSON line per size and thread count {"bench",
         "backbone","size","threads","torch_ms","torch_images_per_s","onnx_ms","onnx_images_per_s","ratio" (onnx
         time / libtorch time),"label_agreement","peak_rss_mb"}.`,
  options: { backbone: { type: 'string' }, sizes: { type: 'string' }, threads: { type: 'string' }, engine: { type: 'string' },
    iters: { type: 'string' }, warmup: { type: 'string' } },
  async run(p, emit) {
    const backbone = backboneFlag(p, 'resnet101');
    const engine = enumFlag('bench', 'engine', str(p, 'engine'), ['torch', 'onnx', 'both'] as const, 'both');
    const { benchInfer, defaultThreads } = await import('../../bench/infer.js');
    const threads = str(p, 'threads')?.split(',').map((t) => intFlag('bench', 'threads', t, 1)) ?? defaultThreads();
    const sizes = sizesFlag('bench', 'sizes', str(p, 'sizes')) ?? [[1024, 512], [2048, 1024]];
    await benchInfer({ backbone, sizes: sizes.map(([w, h]) => [h, w] as [number, number]), threads,
      engines: engine === 'both' ? ['torch', 'onnx'] : [engine],
      iters: intFlag('bench', 'iters', p.values.iters, 3), warmup: intFlag('bench', 'warmup', p.values.warmup, 1, 0) }, emit);
  },
};
