// `clan eval`: one checkpoint on a labelled dataset (per-class table, JSON, CSV), or every checkpoint of a run
// (RUN_DIR/eval.csv, best marked); the work is train/evaluate-checkpoints.ts.
import { parse, str, intFlag, sizeFlag, enumFlag, boolFlag, ENGINE_OPTIONS, type Command, type Parsed } from './args.js';
import { countProgress } from './progress.js';
import { INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceFlag } from './inference.js';
import { UsageError } from '../util/errors.js';
import type { Protocol } from '../eval/evaluate.js';

const USAGE = `usage: clan eval --checkpoint CKPT --data TYPE:ROOT[:SPLIT] [--protocol all|19|16|13] [--size WxH] [--limit N]
                 [--mode whole|slide [--crop WxH --stride WxH]] [--scales LIST] [--flip] [--threads N]
                 [--pointwise-onednn] [--device cpu|cuda|cuda:N] [--skip-bad] [--json] [--csv FILE] [--confusion-csv FILE]
       clan eval --run RUN_DIR --data SPEC [--select-data SPEC] [--protocol …] [--json]

Evaluates as the papers do (docs/method.md §5.3): input at the eval size (the checkpoint's, or --size),
logits of C1 + C2 upsampled to the full label size, argmax, one confusion matrix over the whole set, per-class
IoU, mIoU = nan-mean over the protocol's classes (19; SYNTHIA: 16 or 13). Beside IoU, what mmsegmentation
prints: per-class Acc (pixels of the class found), mAcc (their nan-mean over the same classes) and aAcc (all
pixels right). The table shows percent; JSON and CSV hold fractions, null (empty) where a class is absent.
The memory estimate for the dataset's largest image (its header) is checked against CLAN_MEMORY_BUDGET_MB (MB,
default 3/4 of this machine's memory) before any image is read; over it, the evaluation is refused in one line.
  --json         stdout holds only {"miou", "macc", "aacc", "per_class": [{"class", "iou", "acc"}, …] (every class
                 in the dataset's class order), "protocol", "classes" (those averaged), "images", "pixels",
                 "confusion" (rows: ground truth, columns: prediction)}; with --run, the best checkpoint's summary
  --csv          also write per-class IoU and Acc, then mIoU, mAcc, aAcc, to this CSV file
  --confusion-csv  also write the confusion matrix (pixel counts, rows ground truth) to this CSV file
  --run          evaluate every checkpoint of a run into RUN_DIR/eval.csv and mark the best
  --select-data  pick the best checkpoint on this split and report --data at that checkpoint
  --protocol     classes averaged into mIoU and mAcc: all (default: every class of the dataset; 19 says the
                 same), 16 or 13 (the SYNTHIA subsets of the 19 Cityscapes classes; checked against the dataset
                 before any work)
  --size         network input WxH (default: the checkpoint's eval size)
  --limit        evaluate only the first N images
${INFERENCE_USAGE}
  --threads      libtorch CPU threads (default: all cores)
  --pointwise-onednn  CPU 1×1 convolutions through oneDNN (same math, faster on one thread; docs/speed.md)
  --device       where the forward passes and the confusion matrix run (default cpu)
  --skip-bad     log and skip unreadable or mismatched files found when the dataset is opened (as the config's
                 source.skipBad does in training) instead of stopping`;

const protocolOf = (v: 'all' | '19' | '16' | '13'): Protocol => (v === 'all' ? 'all' : Number(v) as 19 | 16 | 13);

interface EvalFlags { data: string; checkpoint?: string; run?: string; selectData?: string; protocol: Protocol; size?: [number, number];
  limit?: number; json: boolean; csv?: string; confusionCsv?: string; skipBad: boolean }

function evalFlags(p: Parsed): EvalFlags {
  const data = str(p, 'data');
  if (!data) throw new UsageError('eval: --data TYPE:ROOT[:SPLIT] is required');
  const checkpoint = str(p, 'checkpoint'); const run = str(p, 'run');
  if (!checkpoint === !run) throw new UsageError('eval: give exactly one of --checkpoint CKPT or --run RUN_DIR');
  const size = sizeFlag('eval', 'size', str(p, 'size'));
  const limit = str(p, 'limit') ? intFlag('eval', 'limit', str(p, 'limit'), 0) : undefined;
  const opt = (k: string) => str(p, k);
  return { data, ...(checkpoint ? { checkpoint } : {}), ...(run ? { run } : {}), ...(opt('select-data') ? { selectData: opt('select-data')! } : {}),
    protocol: protocolOf(enumFlag('eval', 'protocol', str(p, 'protocol'), ['all', '19', '16', '13'] as const, 'all')), ...(size ? { size } : {}),
    ...(limit ? { limit } : {}), json: boolFlag(p, 'json'), ...(opt('csv') ? { csv: opt('csv')! } : {}),
    ...(opt('confusion-csv') ? { confusionCsv: opt('confusion-csv')! } : {}), skipBad: boolFlag(p, 'skip-bad') };
}

export const evalCommand: Command = {
  name: 'eval',
  summary: 'mIoU of a checkpoint (or every checkpoint of a run) on a labelled dataset',
  usage: USAGE,
  async run(argv) {
    const p = parse('eval', argv, { checkpoint: { type: 'string' }, run: { type: 'string' }, data: { type: 'string' },
      'select-data': { type: 'string' }, protocol: { type: 'string' }, size: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' },
      csv: { type: 'string' }, 'confusion-csv': { type: 'string' }, 'skip-bad': { type: 'boolean' }, ...ENGINE_OPTIONS, ...INFERENCE_OPTIONS });
    if (p.values.help) { console.log(USAGE); return 0; }
    const f = evalFlags(p);
    const inference = inferenceFlag('eval', p);
    const device = (await import('./device.js')).engineFlags('eval', p);
    const { openDataset } = await import('../data/registry.js');
    const { checkProtocol } = await import('../eval/evaluate.js');
    const warn = (m: string) => process.stderr.write(m + '\n');
    const open = (spec: string) => openDataset(spec, { labels: 'required', warn, skipBad: f.skipBad, skipHint: '--skip-bad' });
    const ds = open(f.data);
    const sel = f.selectData ? open(f.selectData) : null;
    for (const d of [ds, ...(sel ? [sel] : [])]) checkProtocol(f.protocol, d);
    const o = { protocol: f.protocol, device, ...(f.size ? { size: f.size } : {}), ...(f.limit ? { limit: f.limit } : {}),
      ...(inference ? { inference } : {}),
      ...(f.skipBad ? { onBadSample: (name: string, m: string) => warn(`eval: skipping ${name}: ${m}`) } : {}) };
    const { evaluateCheckpoint, evaluateCheckpoints } = await import('../train/evaluate-checkpoints.js');
    if (f.checkpoint) {
      const { r, names, inference: used } = await evaluateCheckpoint(f.checkpoint, ds, { ...o, ...(f.json ? {} : { onProgress: countProgress(`eval ${ds.spec}`) }) });
      await printEvaluation(f, r, names, ds.spec, used);
      return 0;
    }
    const e = await evaluateCheckpoints(f.run!, ds, sel, o, (l) => process.stderr.write(l + '\n'));
    const summary = { best_step: e.best.step, miou: e.best.miou, selected_on: e.selectedOn, checkpoints: e.rows.length, csv: e.csv };
    console.log(f.json ? JSON.stringify(summary) : `best: step ${e.best.step}, mIoU ${(e.best.miou * 100).toFixed(2)} (selected on ${e.selectedOn}); wrote ${e.csv}`);
    return 0;
  },
};

/** The table (or JSON) on stdout, and the CSV files asked for. */
async function printEvaluation(f: EvalFlags, r: import('../eval/evaluate.js').EvalResult, names: string[], spec: string,
  inference: import('../data/inference-spec.js').InferenceSpec): Promise<void> {
  const { evaluationJson, metricsCsv, confusionCsv } = await import('../eval/results.js');
  const { formatIoU } = await import('../eval/metric.js');
  const { atomicWrite } = await import('../util/atomic.js');
  if (f.csv) atomicWrite(f.csv, metricsCsv(r, names));
  if (f.confusionCsv) atomicWrite(f.confusionCsv, confusionCsv(r, names));
  const { describeInference } = await import('../data/inference-spec.js');
  const title = `${spec}: ${r.images} images, protocol ${f.protocol}, ${describeInference(inference)}`;
  console.log(f.json ? JSON.stringify({ ...evaluationJson(r, names), inference }) : formatIoU(r, names, title));
}
