// `clan bench engine`: the 7-layer probe net against the same net in PyTorch (bench/engine.ts).
import { intFlag, sizesFlag, boolFlag } from '../args.js';
import type { Bench } from './common.js';

export const engine: Bench = {
  name: 'engine',
  usage: `usage: clan bench engine [--sizes 256x128,1024x512] [--threads 1] [--warmup 3] [--steps 20] [--rounds 3] [--no-compare] [--json]

engine   the 7-layer probe net (conv/BN/ReLU, dilated conv, bilinear upsample, cross-entropy, SGD momentum)
         against the same net in PyTorch run by the bench itself, alternating ours/theirs rounds.
         One JSON line per size: {"bench","size","threads","median_ms","torch_median_ms","ratio","ratio_spread",
         "peak_rss_mb","torch"}; ratio = median_ms / torch_median_ms. Needs PyTorch ($CLAN_PYTHON or
         /usr/bin/python3 with torch) unless --no-compare.`,
  options: { sizes: { type: 'string' }, threads: { type: 'string' }, warmup: { type: 'string' }, steps: { type: 'string' },
    rounds: { type: 'string' }, 'no-compare': { type: 'boolean' } },
  async run(p, emit) {
    const { benchEngine } = await import('../../bench/engine.js');
    const sizes = sizesFlag('bench', 'sizes', p.values.sizes as string | undefined) ?? [[256, 128], [1024, 512]];
    benchEngine({ sizes: sizes.map(([w, h]) => [h, w] as [number, number]), threads: intFlag('bench', 'threads', p.values.threads, 1),
      warmup: intFlag('bench', 'warmup', p.values.warmup, 3, 0), steps: intFlag('bench', 'steps', p.values.steps, 20),
      rounds: intFlag('bench', 'rounds', p.values.rounds, 3), compare: !boolFlag(p, 'no-compare') }, emit);
  },
};
