// `clan train --dry-run`: what a run would do, without doing it — the resolved config as RUN_DIR/config.yaml would
// hold it, and the plan: method, backbone, iterations, batch, the datasets' images and sizes, and the memory estimate
// (infer/cost.ts) against the budget. Opens the datasets (headers only) and builds the network to count its
// parameters; creates no run folder and runs no step.
import { resolve } from 'node:path';
import type { TrainConfig } from '../config/schema.js';
import { createSegmentor } from '../models/registry.js';
import { budgetLine, memoryBudget } from '../infer/cost.js';
import { openData } from './run-data.js';
import { configYaml } from './run-folder.js';
import { largestImage, paramCount, runBytes } from './budget.js';

/** The lines `clan train --dry-run` prints: the config YAML, then the plan. `log` gets the datasets' notes. */
export function dryRun(cfg: TrainConfig, out: string, o: { resume: boolean; log: (l: string) => void }): string {
  const data = openData(cfg, o.log);
  const G = createSegmentor(cfg.backbone, data.numClasses);
  let params: number;
  try { params = paramCount(G); } finally { G.dispose(); }
  const bytes = runBytes(cfg, data, params);
  const size = (s: readonly [number, number]) => `${s[0]}x${s[1]}`;
  const augText = (a?: { randomScale: boolean; flip: boolean }) =>
    (a ? `${a.randomScale ? ', random scale ×0.8–1.1' : ''}${a.flip ? ', flips' : ''}` : '');
  const set = (d: { spec: string; length: number }, s: readonly [number, number], aug?: { randomScale: boolean; flip: boolean }) =>
    `${d.spec}: ${d.length} images, read at ${size(s)}${augText(aug)}`;
  const largest = largestImage(data);
  const plan = [
    `run folder  ${resolve(out)} (${o.resume ? 'resumed' : 'new'}; not created: --dry-run)`,
    `method      ${cfg.method}`,
    `backbone    ${cfg.backbone} (${params.toLocaleString('en-US')} parameters, ${data.numClasses} classes)`,
    `iterations  ${cfg.iters}`,
    `batch       ${cfg.batchSize} per domain`,
    `source      ${set(data.src, data.srcSize, cfg.source)}`,
    `target      ${set(data.tgt, data.tgtSize, cfg.target)}`,
    `target-val  ${data.val ? set(data.val, data.evalSize) : 'none'}`,
    `largest     ${size(largest)} (the largest image the loaders decode)`,
    `memory      ${budgetLine(bytes)}: ${bytes <= memoryBudget() ? 'fits' : 'over it, the run would be refused'}`,
    `device      ${cfg.device}, amp ${cfg.amp}`,
  ];
  return `# config.yaml\n${configYaml(cfg)}# plan (--dry-run: nothing written, nothing trained)\n${plan.join('\n')}`;
}
