// `clan selftrain`: co-training self-training rounds from any method's checkpoint (train/selftrain.ts).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, str, intFlag, type Command } from './args.js';
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

export const selftrainCmd: Command = {
  name: 'selftrain',
  summary: 'co-training self-training rounds on target pseudo-labels from a checkpoint',
  usage: USAGE,
  async run(argv) {
    const p = parse('selftrain', argv, { from: { type: 'string' }, out: { type: 'string' }, rounds: { type: 'string' }, iters: { type: 'string' },
      method: { type: 'string' }, variant: { type: 'string' }, portion: { type: 'string' }, 'portion-step': { type: 'string' }, 'portion-max': { type: 'string' },
      threads: { type: 'string' }, device: { type: 'string' }, set: { type: 'string', multiple: true }, resume: { type: 'string' } });
    if (p.values.help) { console.log(USAGE); return 0; }
    const { PLAN_FILE, selftrain } = await import('../train/selftrain.js');
    type Plan = import('../train/selftrain.js').SelfTrainPlan;
    let plan: Plan;
    let out: string;
    const resumeDir = str(p, 'resume');
    if (resumeDir) {
      out = resolve(resumeDir);
      const f = join(out, PLAN_FILE);
      if (!existsSync(f)) throw new UsageError(`selftrain: --resume ${resumeDir} is not a selftrain folder (no ${PLAN_FILE})`);
      plan = JSON.parse(readFileSync(f, 'utf8')) as Plan;
    } else {
      const from = str(p, 'from');
      if (!from) throw new UsageError('selftrain: give --from CKPT (a checkpoint of any method) or --resume DIR');
      const { readCheckpoint } = await import('../io/checkpoint.js');
      const ck = readCheckpoint(resolve(from));
      const rounds = intFlag('selftrain', 'rounds', str(p, 'rounds'), 3);
      const frac = (name: string, def: number, min = 0) => {
        const v = str(p, name);
        if (v === undefined) return def;
        const x = Number(v);
        if (!(x >= min && x <= 1)) throw new UsageError(`selftrain: --${name} expects a number in [${min}, 1], got '${v}'`);
        return x;
      };
      const variant = str(p, 'variant') ?? 'cotrain';
      if (variant !== 'cotrain' && variant !== 'plain') throw new UsageError(`selftrain: --variant expects cotrain or plain, got '${variant}'`);
      const method = str(p, 'method') ?? 'cotrain';
      if (method !== 'cotrain' && method !== 'clan-cotrain') throw new UsageError(`selftrain: --method expects cotrain or clan-cotrain, got '${method}'`);
      const base = ck.meta.config as Record<string, unknown>;
      const { resolveConfig } = await import('../config/load.js');
      // the rounds' own schedule: maxIter, warm-up and preheat derive from the rounds' iters again
      const hyper = { ...(base.hyper as Record<string, unknown>), maxIter: undefined, warmup: undefined, preheat: undefined,
        clan: { ...((base.hyper as Record<string, unknown> | undefined)?.clan as Record<string, unknown> | undefined), preheat: undefined } };
      const flags: Record<string, unknown> = { method, init: undefined,
        iters: intFlag('selftrain', 'iters', str(p, 'iters'), Math.max(1, Math.round(Number(base.iters) / rounds))),
        ...(str(p, 'threads') ? { threads: intFlag('selftrain', 'threads', str(p, 'threads'), 1) } : {}), ...(str(p, 'device') ? { device: str(p, 'device') } : {}) };
      const config = resolveConfig({ base: JSON.parse(JSON.stringify({ ...base, hyper })) as Record<string, unknown>, flags,
        sets: (p.values.set as unknown as string[] | undefined) ?? [] }, 'selftrain config');
      plan = { from: resolve(from), rounds, portion: frac('portion', 0.2, 1e-6), portionStep: frac('portion-step', 0.05), portionMax: frac('portion-max', 0.5, 1e-6), variant, config };
      out = resolve(str(p, 'out') ?? `runs/selftrain-${new Date().toISOString().replace(/[:.]/g, '-')}`);
      if (existsSync(join(out, PLAN_FILE))) throw new UsageError(`selftrain: --out ${out} already holds a self-training run; continue it with --resume ${out}`);
    }
    const rs = await selftrain(plan, out, { progress: trainProgress(plan.config.method, plan.config.logEvery), commandLine: ['selftrain', ...argv] });
    const { atomicWrite } = await import('../util/atomic.js');
    atomicWrite(join(out, 'selftrain-summary.json'), JSON.stringify(rs, null, 1) + '\n');
    const { writeRunsReport } = await import('../train/report.js');
    await writeRunsReport(join(out, 'report.html'), rs.map((r) => join(out, `round-${r.round}`)), { title: `clan selftrain — ${plan.rounds} rounds (${plan.variant}) from ${plan.from}` });
    for (const r of rs) {
      console.log(`round ${r.round}: p ${r.portion.toFixed(2)}, labelled ${r.pseudo ? (100 * r.pseudo.keptShare).toFixed(1) + '%' : '-'}` +
        `${r.pseudo?.val ? `, pseudo-label precision on target-val ${(100 * r.pseudo.val.meanPrecision).toFixed(1)}%` : ''}, target mIoU ${r.miou === null ? '-' : (100 * r.miou).toFixed(2)}`);
    }
    console.log(`wrote ${join(out, 'selftrain-summary.json')} and ${join(out, 'report.html')}`);
    return 0;
  },
};
