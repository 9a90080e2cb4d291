// `clan demo`: source-only, adversarial and CLAN on the built-in digitscapes data with the `cpu` preset, each
// evaluated on digitscapes:val; a per-class table, summary.json, a checkpoint per method and report.html.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, str, intFlag, type Command } from './args.js';
import { assertWritable } from './files.js';
import type { TrainResult } from '../train/trainer.js';
import { availableParallelism } from 'node:os';
import { UsageError } from '../util/errors.js';
import { runJobHere, runJobsInChildren, type DemoJob } from './demo-jobs.js';

const USAGE = `usage: clan demo [--quick] [--seeds N] [--iters N] [--out DIR] [--jobs N] [--threads N] [--device cpu|cuda|cuda:N]

Trains source-only, adversarial (output-space, AdaptSegNet-style) and CLAN on the built-in digitscapes data
(synthetic source: flat-coloured MNIST digits; target: the same digits painted over real photographs) with the
'cpu' preset, evaluates each on digitscapes:val and prints the per-class IoU and the three target mIoUs.
Writes to --out (default runs/demo-<time>): a checkpoint per method and seed, summary.json, report.html.
  --quick    a short schedule (≈2 minutes on 2 cores) that still writes checkpoints, summary and report
  --seeds N  train each method with N seeds; mIoU is reported as mean ± std
  --iters N  iterations per method (default: the cpu preset's)
  --jobs N   training runs at once, each in its own process (default: min(3, cores / threads))
  --threads N  libtorch threads per run (default: cores / jobs)
  --val-limit N  evaluate on the first N validation images only
  --device D   where every run trains and evaluates (default cpu; cuda needs a CUDA libtorch)`;

// The methods the demo compares, baseline first (names in methods/registry.ts, which gives their keys and labels).
const DEMO_METHODS = ['source-only', 'adversarial', 'clan'] as const;

function meanStd(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const v = xs.length > 1 ? xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1) : 0;
  return [m, Math.sqrt(v)];
}

export const demoCmd: Command = {
  name: 'demo',
  summary: 'train the three methods on built-in data and show that adaptation works',
  usage: USAGE,
  async run(argv) {
    const p = parse('demo', argv, { quick: { type: 'boolean' }, seeds: { type: 'string' }, iters: { type: 'string' }, out: { type: 'string' },
      threads: { type: 'string' }, 'val-limit': { type: 'string' }, jobs: { type: 'string' },
      job: { type: 'string' }, 'job-out': { type: 'string' }, device: { type: 'string' } }); // --job/--job-out: one run, for the parent's job pool
    if (p.values.help) { console.log(USAGE); return 0; }
    const quick = p.values.quick === true;
    const seeds = intFlag('demo', 'seeds', str(p, 'seeds'), 1);
    const { resolveConfig } = await import('../config/load.js');
    const torch = await import('../torch/index.js');
    const base = resolveConfig({ preset: 'cpu' });
    const iters = str(p, 'iters') ? intFlag('demo', 'iters', str(p, 'iters'), base.iters) : quick ? Math.round(base.iters / 5) : base.iters;
    const valLimit = str(p, 'val-limit') ? intFlag('demo', 'val-limit', str(p, 'val-limit'), 1) : quick ? 200 : undefined;
    const cores = availableParallelism();
    const threadsFlag = str(p, 'threads') ? intFlag('demo', 'threads', str(p, 'threads'), 1) : undefined;
    // no oversubscription by default: jobs × threads ≤ cores
    const jobs = str(p, 'jobs') ? intFlag('demo', 'jobs', str(p, 'jobs'), 1) : Math.min(3, Math.max(1, Math.floor(cores / (threadsFlag ?? 1))));
    const threads = threadsFlag ?? Math.max(1, Math.floor(cores / jobs));
    const device = (await import('./device.js')).cliDevice('demo', str(p, 'device'));
    const jobOpts = { iters, threads, ...(valLimit ? { valLimit } : {}), ...(device !== 'cpu' ? { device } : {}), commandLine: ['demo', ...argv] };

    const one = str(p, 'job');
    if (one !== undefined) { // a child of the job pool: one run, result.json for the parent
      const m = /^([a-z][a-z0-9-]*):(\d+)$/.exec(one);
      const dir = str(p, 'job-out');
      if (!m || !dir) throw new UsageError(`demo: --job expects METHOD:SEED with --job-out DIR, got '${one}'`);
      await runJobHere({ method: m[1]!, key: '', seed: Number(m[2]), outDir: resolve(dir) }, jobOpts, true);
      return 0;
    }

    const { METHODS: registry } = await import('../methods/registry.js');
    const METHODS = DEMO_METHODS.map((name) => [name, registry.get(name).key, registry.get(name).label] as const);
    const out = resolve(str(p, 'out') ?? `runs/demo-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    assertWritable(out);
    process.stderr.write(`clan demo: 3 methods × ${seeds} seed(s) × ${iters} iterations on digitscapes → ${out}` +
      ` (${Math.min(jobs, 3 * seeds)} at a time, ${threads} thread(s) each)\n`);

    // Longest runs first (CLAN, adversarial, then source-only) so that the job pool ends together.
    const list: DemoJob[] = [];
    for (const [name, key] of [...METHODS].reverse()) for (let s = 0; s < seeds; s++) list.push({ method: name, key, seed: s, outDir: join(out, key, `seed-${s}`) });
    const ran: TrainResult[] = [];
    if (jobs > 1) ran.push(...await runJobsInChildren(list, jobs, threads, jobOpts));
    else for (const job of list) ran.push(await runJobHere(job, jobOpts));
    const results: Record<string, TrainResult[]> = {};
    for (const [, key] of METHODS) results[key] = list.flatMap((j, i) => (j.key === key ? [ran[i]!] : []));
    const first = results.clan![0]!;
    const classNames = first.classNames;

    // The untrained network (same init as seed 0) on the same validation images: the floor.
    const { createGenerator } = await import('../models/registry.js');
    const { openDataset } = await import('../data/registry.js');
    const { evaluate } = await import('../eval/evaluate.js');
    const val = openDataset(base.targetVal!.data);
    torch.manualSeed(0);
    const G0 = createGenerator(base.backbone, val.numClasses).to(device);
    const untrained = await evaluate(G0, val, { size: base.targetVal!.size ?? [64, 64], device, ...(valLimit ? { limit: valLimit } : {}) });
    G0.dispose();

    const summary: Record<string, unknown> = {};
    for (const [, key] of METHODS) {
      const rs = results[key]!;
      const mious = rs.map((r) => r.finalEval!.miou);
      const [mean, std] = meanStd(mious);
      const perClass = classNames.map((_, c) => {
        const vals = rs.map((r) => r.finalEval!.iou[c]!).filter((v) => !Number.isNaN(v));
        return vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : null;
      });
      summary[key] = { target_miou: mean, target_miou_std: std, per_seed: mious,
        per_class_iou: Object.fromEntries(classNames.map((n, c) => [n, perClass[c]])),
        iters, seconds: rs.reduce((a, r) => a + r.seconds, 0) / rs.length, checkpoint: resolve(rs[0]!.checkpoint) };
    }
    summary.untrained_target_miou = untrained.miou;
    const { atomicWrite } = await import('../util/atomic.js');
    atomicWrite(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');

    // Report: loss curves from seed 0, target mIoU of every seed, per-class means, CLAN's confusion matrix, samples.
    const { writeReport } = await import('../report/html.js');
    const { buildSamples } = await import('./demo-samples.js');
    const { CURVE_KEYS } = await import('../report/types.js');
    const readMetrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const methods = METHODS.map(([, key, label]) => {
      const rs = results[key]!;
      const rows = readMetrics(rs[0]!.outDir);
      const s = summary[key] as { target_miou: number; target_miou_std: number; per_seed: number[]; seconds: number; per_class_iou: Record<string, number | null> };
      return {
        key, label,
        // each curve the report draws, where the method logged it (source-only has no adv/weight/d_s/d_t/m)
        metrics: rows.filter((r) => r.eval === undefined).map((r) => ({ step: r.step as number, lr: r.lr as number, seg: r.seg as number,
          ...Object.fromEntries(CURVE_KEYS.filter((k) => r[k] !== undefined).map((k) => [k, r[k] as number])) })),
        evals: rs.flatMap((r, seed) => (seed === 0 ? rows : readMetrics(r.outDir)).filter((x) => x.eval !== undefined)
          .map((x) => ({ step: x.step as number, miou: (x.eval as { miou: number }).miou, seed }))),
        perClassIou: classNames.map((n) => s.per_class_iou[n] ?? null),
        miouMean: s.target_miou, miouStd: s.target_miou_std, perSeed: s.per_seed, seeds, iters, seconds: s.seconds,
      };
    });
    const K = classNames.length;
    const conf = first.finalEval!.confusion;
    const matrix = Array.from({ length: K }, (_, i) => Array.from(conf.subarray(i * K, (i + 1) * K)));
    const { samples, mMax } = buildSamples(results.source_only![0]!.checkpoint, first.checkpoint, val, 6);
    await writeReport(join(out, 'report.html'), {
      title: `clan demo — digitscapes, ${iters} iterations × ${seeds} seed(s)`, classNames, methods,
      confusion: { method: 'clan', matrix }, samples, disagreementRange: [0, mMax], ...(first.palette ? { palette: first.palette } : {}),
      notes: [`untrained network: target mIoU ${(untrained.miou * 100).toFixed(2)}`, `summary: ${join(out, 'summary.json')}`],
    });

    // Per-class table and the three mIoUs.
    const w = Math.max(...classNames.map((n) => n.length), 10);
    const pct = (v: number | null) => (v === null ? '   -  ' : (v * 100).toFixed(2).padStart(6));
    console.log(`${'class'.padEnd(w)}  source-only  adversarial    clan`);
    classNames.forEach((n, c) => console.log(`${n.padEnd(w)}  ${pct(methods[0]!.perClassIou[c]!)}       ${pct(methods[1]!.perClassIou[c]!)}       ${pct(methods[2]!.perClassIou[c]!)}`));
    for (const m of methods) console.log(`${m.label.padEnd(12)} target mIoU ${(m.miouMean * 100).toFixed(2)}${seeds > 1 ? ` ± ${(m.miouStd * 100).toFixed(2)}` : ''}`);
    console.log(`untrained    target mIoU ${(untrained.miou * 100).toFixed(2)}`);
    console.log(`wrote ${join(out, 'summary.json')} and ${join(out, 'report.html')}`);
    return 0;
  },
};
