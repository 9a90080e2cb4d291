// `clan report RUN…`: the HTML report of one run folder, rebuilt from what it holds, or of several runs compared
// (runs that differ only in seed are one method with mean ± std). `clan train` writes RUN/report.html itself.
import { dirname, join, resolve } from 'node:path';
import { parse, str, intFlag, type Command } from './args.js';
import { UsageError } from '../util/errors.js';
import { pctMeanStd } from '../util/percent.js';

const USAGE = `usage: clan report RUN_DIR... [--out FILE] [--samples N] [--title TEXT]

Writes the self-contained HTML report of training runs from their folders (config.yaml, metrics.jsonl, run.json,
the newest checkpoint): loss, lr and M curves, target mIoU over checkpoints, per-class IoU, the confusion matrix
of the last evaluation, and sample predictions on the target validation split.
One RUN_DIR: writes RUN_DIR/report.html (what 'clan train' writes when a run ends or is interrupted).
Several: one page comparing them; runs whose configs differ only in seed, threads, workers, device or the init
file (a shared start per seed) are one method, shown as mean ± std over their seeds.
  --out FILE    where to write (default: RUN_DIR/report.html for one run, ./report.html for several)
  --samples N   target-validation images with each method's prediction (default 4; 0: none)
  --title TEXT  the page title`;

export const reportCommand: Command = {
  name: 'report',
  summary: 'rebuild a run\'s report.html, or compare several runs in one page',
  usage: USAGE,
  async run(argv) {
    const p = parse('report', argv, { out: { type: 'string' }, samples: { type: 'string' }, title: { type: 'string' } }, true);
    if (p.values.help) { console.log(USAGE); return 0; }
    if (p.positionals.length === 0) throw new UsageError('report: give one or more run folders (clan report RUN_DIR...)');
    const dirs = p.positionals.map((d) => resolve(d));
    const out = resolve(str(p, 'out') ?? (dirs.length === 1 ? join(dirs[0]!, 'report.html') : 'report.html'));
    const samples = intFlag('report', 'samples', str(p, 'samples'), 4, 0);
    const { assertWritable } = await import('./files.js');
    assertWritable(dirname(out), '--out');
    const { writeRunsReport } = await import('../train/report.js');
    const title = str(p, 'title');
    const d = await writeRunsReport(out, dirs, { samples, ...(title ? { title } : {}), log: (l) => process.stderr.write(l + '\n') });
    for (const m of d.methods) console.log(`${m.label.padEnd(28)} target mIoU ${pctMeanStd([m.miouMean, m.miouStd], m.seeds)}${m.seeds > 1 ? ` (${m.seeds} seeds)` : ''}`);
    console.log(`wrote ${out}`);
    return 0;
  },
};
