// Checkpoints evaluated as `clan eval` does (docs/method.md §5.3): one checkpoint on a labelled dataset, or every
// checkpoint of a run into RUN/eval.csv with the best marked — optionally selected on another split, since the official
// scripts select checkpoints on the evaluation set itself (§5.5).
import { join, resolve } from 'node:path';
import type * as torch from '../torch/index.js';
import type { Dataset } from '../data/dataset.js';
import { isPlainWhole, type InferenceSpec } from '../data/inference-spec.js';
import { evaluate, type EvalResult, type Protocol } from '../eval/evaluate.js';
import { loadInferenceModel, type InferenceModel } from '../infer/model.js';
import { checkBudget, inferenceBytes, networkInput } from '../infer/cost.js';
import { listCheckpoints } from '../io/checkpoint.js';
import { atomicWrite } from '../util/atomic.js';
import { ClanError, DataError } from '../util/errors.js';

export interface CheckpointEvalOptions {
  size?: [number, number];        // network input [W, H]; default the checkpoint's eval size
  protocol: Protocol;
  limit?: number;                 // first N images
  device: torch.Device;
  inference?: InferenceSpec;      // sliding windows / multi-scale + flip; default the checkpoint's own, else one whole pass
  onProgress?: (done: number, total: number) => void;
  onBadSample?: (name: string, message: string) => void;   // skip unreadable samples (--skip-bad) instead of stopping
}

// inference: the mode used
export interface CheckpointEval { r: EvalResult; names: string[]; step: number | null; inference: InferenceSpec }

/** One checkpoint on a labelled dataset; the network is freed before returning. */
export async function evaluateCheckpoint(path: string, ds: Dataset, o: CheckpointEvalOptions): Promise<CheckpointEval> {
  const m = loadInferenceModel(path, o.device);
  try {
    if (m.numClasses !== ds.numClasses) throw new DataError(`checkpoint ${path} predicts ${m.numClasses} classes but dataset ${ds.spec} has ${ds.numClasses}`);
    const inference = o.inference ?? m.inference;
    checkEvalBudget(m, ds, o.size ?? m.evalSize, inference);
    const r = await evaluate(m.G, ds, { size: o.size ?? m.evalSize, protocol: o.protocol, normalize: m.normalize, device: o.device,
      ...(o.limit ? { limit: o.limit } : {}), ...(inference ? { inference } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      ...(o.onBadSample ? { onBadSample: o.onBadSample } : {}) });
    return { r, names: m.classNames, step: m.step, inference: inference ?? { mode: 'whole' } };
  } finally { m.G.dispose(); }
}

/** Refuses (BudgetError) an evaluation whose estimate for the set's largest image is over the budget, before any image is read. */
function checkEvalBudget(m: InferenceModel, ds: Dataset, size: readonly [number, number], spec: InferenceSpec | undefined): void {
  const image = ds.largestSize ?? ds.defaultSize ?? size;
  const params = m.G.parameters().reduce((n, p) => n + p.numel, 0);
  const bytes = inferenceBytes({ command: 'eval', backbone: m.backbone, params, classes: m.numClasses,
    input: networkInput(spec, image, size), image, augmented: !isPlainWhole(spec) });
  checkBudget(`eval: ${ds.spec} (largest image ${image[0]}x${image[1]}, network input ${size[0]}x${size[1]})`, bytes,
    'give a smaller --size WxH, downscale the images');
}

export interface RunRow { step: number; miou: number; selection: number | null; iou: Float64Array }
export interface RunEvaluation { rows: RunRow[]; best: RunRow; selectedOn: string; csv: string }

/**
 * Every checkpoint of the run folder `dir` on `ds` (and on `selection`, which then picks the best): RUN/eval.csv with a
 * row per checkpoint (mIoU, selection mIoU, per-class IoU) and the best marked. `log` gets one line per checkpoint.
 */
export async function evaluateCheckpoints(dir: string, ds: Dataset, selection: Dataset | null, o: CheckpointEvalOptions,
  log: (line: string) => void): Promise<RunEvaluation> {
  const run = resolve(dir);
  const ckpts = listCheckpoints(join(run, 'checkpoints')).reverse();
  if (ckpts.length === 0) throw new ClanError(`--run ${dir}: no checkpoints in ${join(run, 'checkpoints')}`);
  const quiet = { ...o, onProgress: undefined };
  const rows: RunRow[] = [];
  let names: string[] = [];
  for (const c of ckpts) {
    const { r, names: n, step } = await evaluateCheckpoint(c, ds, quiet);
    names = n;
    const sel = selection ? (await evaluateCheckpoint(c, selection, quiet)).r.miou : null;
    rows.push({ step: step ?? 0, miou: r.miou, selection: sel, iou: r.iou });
    log(`step ${step}: mIoU ${(r.miou * 100).toFixed(2)}${sel !== null ? ` (selection ${(sel * 100).toFixed(2)})` : ''}`);
  }
  const key = (x: RunRow) => (selection ? x.selection! : x.miou);
  const best = rows.reduce((a, b) => (key(b) > key(a) ? b : a));
  const csv = join(run, 'eval.csv');
  atomicWrite(csv, runCsv(rows, best, names, selection !== null));
  return { rows, best, selectedOn: (selection ?? ds).spec, csv };
}

function runCsv(rows: RunRow[], best: RunRow, names: string[], withSelection: boolean): string {
  const header = ['step', 'miou', ...(withSelection ? ['selection_miou'] : []), ...names, 'best'];
  const line = (x: RunRow) => [x.step, x.miou.toFixed(6), ...(withSelection ? [x.selection!.toFixed(6)] : []),
    ...Array.from(x.iou, (v) => (Number.isNaN(v) ? '' : v.toFixed(6))), x === best ? 'best' : ''].join(',');
  return [header.join(','), ...rows.map(line)].join('\n') + '\n';
}
