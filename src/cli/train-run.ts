// One `clan train` process: this process's place among data-parallel workers (the torchrun environment), the run with
// a progress line on rank 0, the run's report.html when it ends or is interrupted, and the one-line result.
import { join } from 'node:path';
import { trainProgress } from './progress.js';
import type { TrainConfig } from '../config/schema.js';
import type { TrainHooks } from '../train/trainer.js';

export interface TrainRunOptions { resume: boolean; overwrite: boolean; argv: string[]; hooks?: TrainHooks }

export async function trainInThisProcess(config: TrainConfig, out: string, o: TrainRunOptions): Promise<number> {
  const { train, Interrupted } = await import('../train/trainer.js');
  const { distEnvFrom } = await import('../methods/ddp.js');
  const dist = distEnvFrom(process.env);
  const isRank0 = !dist || dist.rank === 0;
  let r;
  try {
    r = await train({ config, outDir: out, resume: o.resume, commandLine: ['train', ...o.argv], dist, overwrite: o.overwrite,
      ...(isRank0 ? { progress: trainProgress(config.method, config.logEvery) } : { log: () => {} }),
      ...(o.hooks ? { hooks: o.hooks } : {}) });
  } catch (e) {
    if (isRank0 && e instanceof Interrupted) await runReport(out, true); // Ctrl-C: the report of what ran so far
    throw e;
  }
  if (!isRank0) return 0;
  await runReport(out);
  const miou = r.finalEval ? `; target mIoU ${(r.finalEval.miou * 100).toFixed(2)}` : '';
  process.stderr.write(`done: ${r.step} steps in ${r.seconds.toFixed(0)} s${miou}; checkpoint ${r.checkpoint}\n`);
  return 0;
}

/** RUN/report.html (train/report.ts); a report that cannot be made is a warning, never a failed run. */
async function runReport(out: string, quiet = false): Promise<void> {
  try {
    const { writeRunsReport } = await import('../train/report.js');
    await writeRunsReport(join(out, 'report.html'), [out], { log: (l) => process.stderr.write(l + '\n') });
    if (!quiet) process.stderr.write(`report: ${join(out, 'report.html')}\n`); // (after Ctrl-C the one line is the interruption's)
  } catch (e) {
    process.stderr.write(`warning: no report for ${out}: ${(e as Error).message.split('\n')[0]}\n`);
  }
}
