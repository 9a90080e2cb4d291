// `clan bench engine|step|eval|peak|infer|loader|ddp|decode`: benchmarks print JSON lines on stdout (one per configuration).
// Each benchmark is a file of its own under ./bench/ (its flags, --help section and call); this file dispatches.
import { parse, type Command } from './args.js';
import { UsageError } from '../util/errors.js';
import type { Bench } from './bench/common.js';
import { engine } from './bench/engine.js';
import { step } from './bench/step.js';
import { evalBench } from './bench/eval.js';
import { peak } from './bench/peak.js';
import { infer } from './bench/infer.js';
import { loader } from './bench/loader.js';
import { ddp } from './bench/ddp.js';
import { decode } from './bench/decode.js';

const BENCHES: Bench[] = [engine, step, evalBench, peak, loader, ddp, infer, decode];

export const benchCommand: Command = {
  name: 'bench',
  summary: 'benchmarks: engine, step and eval against PyTorch (CPU or CUDA), peak CPU kernel GFLOP/s, loader beside a training step, ddp scaling, infer (libtorch vs onnxruntime), decode (JPEG: ours vs jpeg-js and Pillow); JSON on stdout',
  usage: BENCHES.map((b) => b.usage).join('\n\n'),
  async run(argv) {
    const [sub, ...rest] = argv;
    if (sub === undefined || sub === '--help' || sub === '-h') { console.log(this.usage); return sub === undefined ? 2 : 0; }
    const b = BENCHES.find((x) => x.name === sub);
    if (!b) throw new UsageError(`bench: unknown benchmark '${sub}'; expected one of: ${BENCHES.map((x) => x.name).join(', ')}`);
    const p = parse(`bench ${sub}`, rest, { ...b.options, json: { type: 'boolean' } });  // --json: the output is JSON lines either way
    if (p.values.help) { console.log(b.usage); return 0; }
    await b.run(p, (l) => console.log(JSON.stringify(l)));
    return 0;
  },
};
