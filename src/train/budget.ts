// A run's memory estimate (infer/cost.ts) against CLAN_MEMORY_BUDGET_MB: checked by train() before any step and
// printed by `clan train --dry-run`; pseudo-labelling's per image.
import type { TrainConfig } from '../config/schema.js';
import type { Segmentor } from '../models/segmentor.js';
import { checkBudget, trainBytes } from '../infer/cost.js';
import type { RunData } from './run-data.js';

/** Parameters of a network (its weights' element count). */
export function paramCount(G: Segmentor): number {
  return G.parameters().reduce((n, p) => n + p.numel, 0);
}

/** The largest image [W, H] the run's loaders decode: each set's largest (its headers), else its nominal size. */
export function largestImage(data: RunData): [number, number] {
  const sizes = [data.src, data.tgt].map((d, i) => d.largestSize ?? d.defaultSize ?? (i === 0 ? data.srcSize : data.tgtSize));
  const s = sizes.reduce((a, b) => (b[0] * b[1] > a[0] * a[1] ? b : a));
  return [s[0], s[1]];
}

/** A crop's largest size: random scale goes up to ×1.1 per side (data/transforms.ts). */
const scaled = (s: readonly [number, number], randomScale: boolean): [number, number] =>
  (randomScale ? [Math.round(s[0] * 1.1), Math.round(s[1] * 1.1)] : [s[0], s[1]]);

/** Bytes one training process is estimated to hold: crops at the training sizes (largest scale), batchSize of each domain. */
export function runBytes(cfg: TrainConfig, data: RunData, params: number): number {
  return trainBytes({ backbone: cfg.backbone, params, batch: cfg.batchSize, workers: cfg.workers, largest: largestImage(data),
    source: scaled(data.srcSize, cfg.source.randomScale), target: scaled(data.tgtSize, cfg.target.randomScale) });
}

/** Refuses (BudgetError, one line) a run whose estimate is over the budget; names the knobs that shrink it. */
export function checkRunBudget(cfg: TrainConfig, data: RunData, params: number): void {
  const [s, t] = [data.srcSize, data.tgtSize];
  checkBudget(`train: ${cfg.backbone}, batch ${cfg.batchSize}, source ${s[0]}x${s[1]}, target ${t[0]}x${t[1]}`, runBytes(cfg, data, params),
    'lower --batch-size or the crops (--set source.size=[W,H] --set target.size=[W,H])');
}
