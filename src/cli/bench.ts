// `clan bench engine|step|loader`: benchmarks print JSON lines on stdout (one per configuration).
import { parse, intFlag, type Command } from './args.js';
import { UsageError } from '../util/errors.js';

function sizeFlag(v: string | boolean | undefined): [number, number][] | null {
  if (typeof v !== 'string') return null;
  return v.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s.trim());
    if (!m) throw new UsageError(`bench: --sizes expects HxW[,HxW…], got '${v}'`);
    return [Number(m[1]), Number(m[2])] as [number, number];
  });
}

export const bench: Command = {
  name: 'bench',
  summary: 'benchmarks against PyTorch (engine, step), JSON on stdout',
  usage: `usage: clan bench engine [--sizes 128x256,512x1024] [--threads 1] [--warmup 3] [--steps 20] [--rounds 3] [--no-compare] [--json]

engine   the 7-layer probe net (conv/BN/ReLU, dilated conv, bilinear upsample, cross-entropy, SGD momentum)
         against the same net in PyTorch run by the bench itself, alternating ours/theirs rounds.
         One JSON line per size: {"bench","size","threads","median_ms","torch_median_ms","ratio","ratio_spread",
         "peak_rss_mb","torch"}; ratio = median_ms / torch_median_ms. Needs PyTorch ($CLAN_PYTHON or
         /usr/bin/python3 with torch) unless --no-compare.`,
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h') { console.log(this.usage); return sub === undefined ? 2 : 0; }
    if (sub === 'engine') {
      const { values } = parse('bench engine', rest, {
        sizes: { type: 'string' }, threads: { type: 'string' }, warmup: { type: 'string' }, steps: { type: 'string' },
        rounds: { type: 'string' }, 'no-compare': { type: 'boolean' }, json: { type: 'boolean' },
      });
      if (values.help) { console.log(this.usage); return 0; }
      const { benchEngine } = await import('../../bench/engine.js');
      benchEngine({
        sizes: sizeFlag(values.sizes) ?? [[128, 256], [512, 1024]],
        threads: intFlag('bench', 'threads', values.threads, 1), warmup: intFlag('bench', 'warmup', values.warmup, 3, 0),
        steps: intFlag('bench', 'steps', values.steps, 20), rounds: intFlag('bench', 'rounds', values.rounds, 3),
        compare: !values['no-compare'],
      }, (l) => console.log(JSON.stringify(l)));
      return 0;
    }
    throw new UsageError(`bench: unknown benchmark '${sub}'; expected one of: engine`);
  },
};
