// Self-training rounds (docs/method.md §10; `clan selftrain`): round r = 1…R predicts the target training set with
// the weights round r starts from (round 1: --from, any method's checkpoint; then the previous round's last),
// writes class-balanced pseudo-labels (train/pseudo.ts, p growing per round as CBST), and trains method `cotrain`
// (or `clan-cotrain`: CLAN's losses on top)
// on source + pseudo-labelled target from those weights (all of G; optimizers and schedule fresh each round).
// Each round is an ordinary run folder OUT/round-r (metrics, checkpoints, report, TensorBoard); a round resumes
// exactly from its checkpoints, a round whose labels are incomplete makes them again, a finished round
// (round.json) is skipped — so `clan selftrain --resume OUT` continues mid-round.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import type { TrainConfig } from '../config/schema.js';
import { listCheckpoints } from '../io/checkpoint.js';
import { loadInferenceModel } from '../infer/model.js';
import { atomicWrite } from '../util/atomic.js';
import { ClanError, UsageError } from '../util/errors.js';
import { makeDirs } from '../util/paths.js';
import { makePseudoLabels, type PseudoStats } from './pseudo.js';
import { lockRunFolder } from './runlock.js';
import { train, type TrainOptions, type TrainResult } from './trainer.js';

/** What `clan selftrain` runs; saved as OUT/selftrain.json so --resume continues the same plan. */
export interface SelfTrainPlan {
  from: string;                 // the checkpoint round 1 starts from
  rounds: number;               // R
  portion: number;              // p of round 1: share of each class's pixels labelled (CBST: 0.2)
  portionStep: number;          // p grows by this per round (CBST: 0.05)
  portionMax: number;           // and stops here (CBST: 0.5)
  variant: 'cotrain' | 'plain'; // C1 ⇄ C2 co-training, or both heads on p = softmax(x1 + x2)
  config: TrainConfig;          // a round's training config (method cotrain or clan-cotrain; init and target set per round)
}

export interface RoundResult { round: number; portion: number; pseudo: PseudoStats | null; checkpoint: string; miou: number | null }

export const PLAN_FILE = 'selftrain.json';

/** p of round r (1-based). */
export const portionAt = (p: SelfTrainPlan, r: number): number => Math.min(p.portionMax, p.portion + (r - 1) * p.portionStep);

export async function selftrain(plan: SelfTrainPlan, out: string, o: Pick<TrainOptions, 'log' | 'progress' | 'hooks' | 'signal' | 'commandLine'> = {}): Promise<RoundResult[]> {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  makeDirs(out);
  const release = lockRunFolder(out, log);
  try {
    atomicWrite(join(out, PLAN_FILE), JSON.stringify(plan, null, 1) + '\n');
    const results: RoundResult[] = [];
    let start = plan.from;
    for (let r = 1; r <= plan.rounds; r++) {
      const dir = join(out, `round-${r}`);
      const done = join(dir, 'round.json');
      if (existsSync(done)) { // finished before a resume
        const res = JSON.parse(readFileSync(done, 'utf8')) as RoundResult;
        results.push(res); start = res.checkpoint;
        continue;
      }
      const pdir = join(dir, 'pseudo');
      const portion = portionAt(plan, r);
      let pseudo: PseudoStats | null = null;
      if (!existsSync(join(pdir, 'pseudo.json'))) {
        log(`round ${r}/${plan.rounds}: pseudo-labels from ${start} (p = ${portion})`);
        const m = loadInferenceModel(start, torch.parseDevice(plan.config.device, 'device'));
        try {
          const tv = plan.config.targetVal;
          pseudo = await makePseudoLabels(m, { target: plan.config.target.data,
            size: (plan.config.target.size ?? m.evalSize) as [number, number], portion, variant: plan.variant, round: r, dir: pdir, log,
            val: tv ? { spec: tv.data, size: (tv.size ?? m.evalSize) as [number, number],
              ...(tv.limit ? { limit: tv.limit } : {}) } : null });
        } finally { m.G.dispose(); }
        log(`round ${r}: labelled ${(100 * pseudo.keptShare).toFixed(1)}% of target pixels` + (pseudo.val
          ? `; on target-val the kept pixels are ${(100 * pseudo.val.meanPrecision).toFixed(1)}% right (mean over classes), covering ${(100 * pseudo.val.coverage).toFixed(1)}% (argmax everywhere: ${(100 * pseudo.val.accuracy).toFixed(1)}%)` : ''));
      } else {
        pseudo = JSON.parse(readFileSync(join(pdir, 'stats.json'), 'utf8')) as PseudoStats;
      }
      const cfg: TrainConfig = { ...plan.config, init: start, initScope: 'all', target: { ...plan.config.target, data: `pseudo:${pdir}` } };
      const resume = listCheckpoints(join(dir, 'checkpoints')).length > 0;
      const res: TrainResult = await train({ config: cfg, outDir: dir, resume, overwrite: !resume, ...o,
        ...(o.commandLine ? { commandLine: o.commandLine } : {}) });
      const rr: RoundResult = { round: r, portion, pseudo, checkpoint: res.checkpoint, miou: res.finalEval?.miou ?? null };
      atomicWrite(done, JSON.stringify(rr) + '\n');
      results.push(rr);
      start = res.checkpoint;
    }
    if (results.length === 0) throw new ClanError(`selftrain: no rounds (rounds = ${plan.rounds})`);
    return results;
  } finally {
    release();
  }
}

/** The rounds' choices from the command line (clan selftrain --from CKPT …). */
export interface PlanChoices {
  from: string; rounds: number; iters?: number; method: 'cotrain' | 'clan-cotrain'; variant: 'cotrain' | 'plain';
  portion: number; portionStep: number; portionMax: number; threads?: number; device?: string; sets: string[];
}

/**
 * A plan from a trained checkpoint: its own config (source, target, target-val, backbone, optimiser) with the rounds'
 * method and iterations (default: the checkpoint's iterations / rounds); maxIter, warm-up and preheat derive from the
 * rounds' iterations again. The sections the other method read and the rounds' does not are dropped (config/hyper.ts).
 */
export async function planFromCheckpoint(c: PlanChoices): Promise<SelfTrainPlan> {
  const { readCheckpoint } = await import('../io/checkpoint.js');
  const { resolveConfig } = await import('../config/load.js');
  const ck = readCheckpoint(resolve(c.from));
  const base = ck.meta.config as Record<string, unknown>;
  const h = (base.hyper ?? {}) as Record<string, unknown>;
  const hyper = { ...h, maxIter: undefined, warmup: undefined, preheat: undefined,
    clan: { ...(h.clan as Record<string, unknown> | undefined), preheat: undefined } };
  const flags: Record<string, unknown> = { method: c.method, init: undefined,
    iters: c.iters ?? Math.max(1, Math.round(Number(base.iters) / c.rounds)),
    ...(c.threads ? { threads: c.threads } : {}), ...(c.device ? { device: c.device } : {}) };
  const config = resolveConfig({ base: JSON.parse(JSON.stringify({ ...base, hyper })) as Record<string, unknown>, flags, sets: c.sets, commandLine: true }, 'selftrain config');
  return { from: resolve(c.from), rounds: c.rounds, portion: c.portion, portionStep: c.portionStep, portionMax: c.portionMax,
    variant: c.variant, config };
}

/** The plan of a self-training folder (--resume DIR). */
export function loadPlan(dir: string): SelfTrainPlan {
  const f = join(dir, PLAN_FILE);
  if (!existsSync(f)) throw new UsageError(`selftrain: --resume ${dir} is not a selftrain folder (no ${PLAN_FILE})`);
  return JSON.parse(readFileSync(f, 'utf8')) as SelfTrainPlan;
}

/** selftrain-summary.json and report.html over the rounds; one line per round for the terminal. */
export async function writeSelftrainSummary(out: string, plan: SelfTrainPlan, rs: RoundResult[]): Promise<string[]> {
  const { writeRunsReport } = await import('./report.js');
  atomicWrite(join(out, 'selftrain-summary.json'), JSON.stringify(rs, null, 1) + '\n');
  await writeRunsReport(join(out, 'report.html'), rs.map((r) => join(out, `round-${r.round}`)), { title: `clan selftrain — ${plan.rounds} rounds (${plan.variant}) from ${plan.from}` });
  return [...rs.map((r) => `round ${r.round}: p ${r.portion.toFixed(2)}, labelled ${r.pseudo ? (100 * r.pseudo.keptShare).toFixed(1) + '%' : '-'}` +
    `${r.pseudo?.val ? `, pseudo-label precision on target-val ${(100 * r.pseudo.val.meanPrecision).toFixed(1)}%` : ''}, target mIoU ${r.miou === null ? '-' : (100 * r.miou).toFixed(2)}`),
    `wrote ${join(out, 'selftrain-summary.json')} and ${join(out, 'report.html')}`];
}
