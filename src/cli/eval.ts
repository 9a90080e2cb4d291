// `clan eval`: one checkpoint on a labelled dataset (per-class table, or JSON), or every checkpoint of a run
// (RUN_DIR/eval.csv, best marked; an optional separate selection split, since the official scripts select
// checkpoints on the evaluation set itself — docs/method.md §5.5).
import { join, resolve } from 'node:path';
import { parse, str, intFlag, sizeFlag, type Command } from './args.js';
import { countProgress } from './progress.js';
import { UsageError, DataError } from '../util/errors.js';
import type { Protocol } from '../eval/evaluate.js';

const USAGE = `usage: clan eval --checkpoint CKPT --data TYPE:ROOT[:SPLIT] [--protocol 19|16|13] [--size WxH] [--limit N]
                 [--threads N] [--pointwise-onednn] [--device cpu|cuda|cuda:N] [--skip-bad] [--json]
       clan eval --run RUN_DIR --data SPEC [--select-data SPEC] [--protocol …] [--json]

Evaluates as the papers do (docs/method.md §5.3): input at the eval size (the checkpoint's, or --size),
logits of C1 + C2 upsampled to the full label size, argmax, one confusion matrix over the whole set, per-class
IoU, mIoU = nan-mean over the protocol's classes (19; SYNTHIA: 16 or 13). Beside IoU, what mmsegmentation
prints: per-class Acc (pixels of the class found), mAcc (their nan-mean over the same classes) and aAcc (all
pixels right). The table shows percent; JSON holds fractions, null where a class is absent.
  --json         stdout holds only {"miou", "macc", "aacc", "per_class": [{"class", "iou", "acc"}, …] (every class
                 in the dataset's class order), "protocol", "images"}; with --run, the best checkpoint's summary
  --run          evaluate every checkpoint of a run into RUN_DIR/eval.csv and mark the best
  --select-data  pick the best checkpoint on this split and report --data at that checkpoint
  --protocol     classes averaged into mIoU and mAcc: 19 (all), 16 or 13 (the SYNTHIA subsets)
  --size         network input WxH (default: the checkpoint's eval size)
  --limit        evaluate only the first N images
  --threads      libtorch CPU threads (default: all cores)
  --pointwise-onednn  CPU 1×1 convolutions through oneDNN (same math, faster on one thread; docs/speed.md)
  --device       where the forward passes and the confusion matrix run (default cpu)
  --skip-bad     log and skip unreadable or mismatched files found when the dataset is opened (as the config's
                 source.skipBad does in training) instead of stopping`;

export const evalCmd: Command = {
  name: 'eval',
  summary: 'mIoU of a checkpoint (or every checkpoint of a run) on a labelled dataset',
  usage: USAGE,
  async run(argv) {
    const p = parse('eval', argv, {
      checkpoint: { type: 'string' }, run: { type: 'string' }, data: { type: 'string' }, 'select-data': { type: 'string' },
      protocol: { type: 'string' }, size: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' }, threads: { type: 'string' }, 'pointwise-onednn': { type: 'boolean' },
      device: { type: 'string' }, 'skip-bad': { type: 'boolean' },
    });
    if (p.values.help) { console.log(USAGE); return 0; }
    const data = str(p, 'data');
    if (!data) throw new UsageError('eval: --data TYPE:ROOT[:SPLIT] is required');
    const ckpt = str(p, 'checkpoint'); const run = str(p, 'run');
    if (!ckpt === !run) throw new UsageError('eval: give exactly one of --checkpoint CKPT or --run RUN_DIR');
    const protoRaw = str(p, 'protocol') ?? '19';
    if (!['19', '16', '13'].includes(protoRaw)) throw new UsageError(`eval: --protocol must be 19, 16 or 13, got '${protoRaw}'`);
    const protocol = Number(protoRaw) as Protocol;
    const size = sizeFlag('eval', 'size', str(p, 'size'));
    const limit = str(p, 'limit') ? intFlag('eval', 'limit', str(p, 'limit'), 0) : undefined;
    const torch = await import('../torch/index.js');
    if (str(p, 'threads')) torch.setNumThreads(intFlag('eval', 'threads', str(p, 'threads'), 1));
    if (p.values['pointwise-onednn'] === true) torch.setPointwiseOnednn(true);
    const device = (await import('./device.js')).cliDevice('eval', str(p, 'device'));
    const { openDataset } = await import('../data/registry.js');
    const { evaluate, perClassMetrics } = await import('../eval/evaluate.js');
    const { loadInferenceModel } = await import('../infer/model.js');
    const { formatIoU } = await import('../eval/metric.js');
    const warn = (m: string) => { process.stderr.write(m + '\n'); };
    const skipBad = p.values['skip-bad'] === true;
    const ds = openDataset(data, { labels: 'required', warn, skipBad });
    const json = p.values.json === true;

    const evalOne = async (path: string, dataset = ds, quiet = false) => {
      const m = loadInferenceModel(path, device);
      try {
        if (m.numClasses !== dataset.numClasses) throw new DataError(`checkpoint ${path} predicts ${m.numClasses} classes but dataset ${dataset.spec} has ${dataset.numClasses}`);
        const r = await evaluate(m.G, dataset, { size: size ?? m.evalSize, protocol, normalize: m.normalize, device, ...(limit ? { limit } : {}),
          ...(quiet || json ? {} : { onProgress: countProgress(`eval ${dataset.spec}`) }) });
        return { r, names: m.classNames, step: m.step };
      } finally { m.G.dispose(); }
    };

    if (ckpt) {
      const { r, names } = await evalOne(ckpt);
      // (JSON.stringify writes a NaN mean as null; per_class is a list so the classes keep their order)
      if (json) console.log(JSON.stringify({ miou: r.miou, macc: r.macc, aacc: r.accuracy, per_class: perClassMetrics(r, names), protocol, images: r.images }));
      else console.log(formatIoU(r, names, `mIoU (${r.classes.length} classes, ${r.images} images)`));
      return 0;
    }
    const { listCheckpoints } = await import('../io/checkpoint.js');
    const dir = resolve(run!);
    const ckpts = listCheckpoints(join(dir, 'checkpoints')).reverse();
    if (ckpts.length === 0) throw new UsageError(`eval: --run ${run}: no checkpoints in ${join(dir, 'checkpoints')}`);
    const selData = str(p, 'select-data');
    const sel = selData ? openDataset(selData, { labels: 'required', warn, skipBad }) : null;
    const rows: { step: number; miou: number; sel: number | null; iou: Float64Array }[] = [];
    let names: string[] = [];
    for (const c of ckpts) {
      const { r, names: n, step } = await evalOne(c, ds, true);
      names = n;
      const s = sel ? (await evalOne(c, sel, true)).r.miou : null;
      rows.push({ step: step ?? 0, miou: r.miou, sel: s, iou: r.iou });
      process.stderr.write(`step ${step}: mIoU ${(r.miou * 100).toFixed(2)}${s !== null ? ` (selection ${(s * 100).toFixed(2)})` : ''}\n`);
    }
    const key = (x: typeof rows[number]) => (sel ? x.sel! : x.miou);
    const best = rows.reduce((a, b) => (key(b) > key(a) ? b : a));
    const header = ['step', 'miou', ...(sel ? ['selection_miou'] : []), ...names, 'best'];
    const csv = [header.join(','), ...rows.map((x) => [x.step, x.miou.toFixed(6), ...(sel ? [x.sel!.toFixed(6)] : []),
      ...Array.from(x.iou, (v) => (Number.isNaN(v) ? '' : v.toFixed(6))), x === best ? 'best' : ''].join(','))].join('\n') + '\n';
    const { atomicWrite } = await import('../util/atomic.js');
    atomicWrite(join(dir, 'eval.csv'), csv);
    const summary = { best_step: best.step, miou: best.miou, selected_on: sel ? selData : data, checkpoints: rows.length, csv: join(dir, 'eval.csv') };
    if (json) console.log(JSON.stringify(summary));
    else console.log(`best: step ${best.step}, mIoU ${(best.miou * 100).toFixed(2)} (selected on ${summary.selected_on}); wrote ${summary.csv}`);
    return 0;
  },
};
