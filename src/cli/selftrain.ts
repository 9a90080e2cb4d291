// `clan selftrain`: co-training self-training rounds from any method's checkpoint (train/selftrain.ts).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, str, intFlag, numFlag, enumFlag, type Command, type Parsed } from './args.js';
import type { PlanChoices } from '../train/selftrain.js';
import { trainProgress } from './progress.js';
import { UsageError } from '../util/errors.js';

const USAGE = `usage: clan selftrain --from CKPT [--out DIR] [--rounds R] [--iters N] [--method M] [--variant cotrain|plain]
                      [--portion P] [--portion-step DP] [--portion-max PMAX] [--threads N] [--device D] [--set key=value ...]
       clan selftrain --resume DIR

Self-training on the target domain from a trained checkpoint (any method's). Each round r = 1…R predicts the target
training set with the current weights, keeps per class the most confident p of its pixels as pseudo-labels
(class-balanced as CBST; p = P, P + DP, … up to PMAX) and trains on source + pseudo-labelled target from those
weights. --variant cotrain (default): C1 learns C2's confident predictions and C2 learns C1's (co-training with
CLAN's two classifiers); plain: both heads learn the labels of p = softmax(x1 + x2).
The round's config is the checkpoint's own (source, target, target-val, backbone, optimiser) with method cotrain
(or clan-cotrain: the CLAN iteration with the pseudo-label loss on top; D starts fresh each round);
--set changes any key (e.g. --set hyper.cotrain.lambdaPseudo=0.5). DIR gets selftrain.json (the plan), round-r/ run
folders (pseudo/ labels as PNGs with stats.json: thresholds, per-class counts, precision on target-val; metrics,
checkpoints, report.html, TensorBoard), selftrain-summary.json and report.html over the rounds.
  --from          checkpoint round 1 starts from (e.g. runs/clan/checkpoints/ckpt_0001500.safetensors)
  --out           run folder (default runs/selftrain-<time>)
  --rounds        R, default 3
  --iters         training iterations per round (default: the checkpoint's iterations / R)
  --method        cotrain (default: source L_seg + pseudo-labels) or clan-cotrain (CLAN's losses on top)
  --variant       cotrain (default) or plain
  --portion       p of round 1 (default 0.2, CBST's start)
  --portion-step  p's growth per round (default 0.05, CBST)
  --portion-max   p's cap (default 0.5, CBST)
  --threads       libtorch threads (default: all cores)
  --device        cpu, cuda or cuda:N (default: the checkpoint config's)
  --set k=v       override a config key of the rounds
  --resume        continue DIR: finished rounds are kept, a round resumes from its newest checkpoint
Ctrl-C writes a checkpoint of the running round and exits 130.`;

/** The rounds' choices from the flags, each checked against its range. */
function planChoices(p: Parsed, from: string): PlanChoices {
  const iters = str(p, 'iters'); const threads = str(p, 'threads');
  return { from, rounds: intFlag('selftrain', 'rounds', str(p, 'rounds'), 3, 1, 1000),
    ...(iters ? { iters: intFlag('selftrain', 'iters', iters, 1, 1, 1e8) } : {}), ...(threads ? { threads: intFlag('selftrain', 'threads', threads, 1, 1, 4096) } : {}),
    method: enumFlag('selftrain', 'method', str(p, 'method'), ['cotrain', 'clan-cotrain'] as const, 'cotrain'),
    variant: enumFlag('selftrain', 'variant', str(p, 'variant'), ['cotrain', 'plain'] as const, 'cotrain'),
    portion: numFlag('selftrain', 'portion', str(p, 'portion'), 0.2, 1e-6, 1), portionStep: numFlag('selftrain', 'portion-step', str(p, 'portion-step'), 0.05, 0, 1),
    portionMax: numFlag('selftrain', 'portion-max', str(p, 'portion-max'), 0.5, 1e-6, 1), ...(str(p, 'device') ? { device: str(p, 'device')! } : {}),
    sets: (p.values.set as unknown as string[] | undefined) ?? [] };
}

export const selftrainCommand: Command = {
  name: 'selftrain',
  summary: 'co-training self-training rounds on target pseudo-labels from a checkpoint',
  usage: USAGE,
  async run(argv) {
    const p = parse('selftrain', argv, { from: { type: 'string' }, out: { type: 'string' }, rounds: { type: 'string' }, iters: { type: 'string' },
      method: { type: 'string' }, variant: { type: 'string' }, portion: { type: 'string' }, 'portion-step': { type: 'string' }, 'portion-max': { type: 'string' },
      threads: { type: 'string' }, device: { type: 'string' }, set: { type: 'string', multiple: true }, resume: { type: 'string' } });
    if (p.values.help) { console.log(USAGE); return 0; }
    const st = await import('../train/selftrain.js');
    const resumeDir = str(p, 'resume'); const from = str(p, 'from');
    if (!resumeDir && !from) throw new UsageError('selftrain: give --from CKPT (a checkpoint of any method) or --resume DIR');
    const out = resolve(resumeDir ?? str(p, 'out') ?? `runs/selftrain-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    const plan = resumeDir ? st.loadPlan(out) : await st.planFromCheckpoint(planChoices(p, from!));
    if (!resumeDir && existsSync(join(out, st.PLAN_FILE))) throw new UsageError(`selftrain: --out ${out} already holds a self-training run; continue it with --resume ${out}`);
    const rs = await st.selftrain(plan, out, { progress: trainProgress(plan.config.method, plan.config.logEvery), commandLine: ['selftrain', ...argv] });
    for (const line of await st.writeSelftrainSummary(out, plan, rs)) console.log(line);
    return 0;
  },
};
