// `clan train`: a config (file or preset) plus common-case flags and --set overrides; --resume continues a run.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, str, type Command } from './args.js';
import { trainProgress } from './progress.js';
import { deepMerge, methodConfig, parseSet, resolveConfig, type ResolveInput } from '../config/load.js';
import { PRESETS } from '../config/presets.js';
import { configHelp } from '../config/reference.js';
import { METHODS } from '../methods/registry.js';
import { GENERATORS } from '../models/backbones.js';
import { UsageError } from '../util/errors.js';

const USAGE = `usage: clan train [--config FILE|PRESET] [--preset NAME] [--method ${METHODS.names().join('|')}]
                  [--source TYPE:ROOT[:SPLIT]] [--target SPEC] [--target-val SPEC] [--backbone NAME]
                  [--iters N] [--batch-size N] [--seed N] [--threads N] [--workers N] [--init WEIGHTS]
                  [--device cpu|cuda|cuda:N] [--amp off|bf16|fp16] [--out DIR] [--set key=value ...]
       clan train --resume RUN_DIR [--iters N] [--set key=value ...]
       clan train --nproc-per-node N [--nnodes M --node-rank R --master-addr HOST --master-port P] …

Trains a segmentation network on a labelled source and an unlabelled target domain. Progress and the five
losses go to stderr; RUN_DIR gets config.yaml, run.json, metrics.jsonl (one line per step: step, lr, lr_d, seg,
adv, weight, d_s, d_t, m = mean C1/C2 disagreement M on the target batch, seconds; plus evaluation lines) and
checkpoints/ (the last --set keepLast=K and the best on --target-val). λ_local multiplies M: compare λ_local·m
with ε to see how much CLAN's per-pixel weighting acts.

  --config      a YAML/JSON config file or a preset name (configs compose with 'extends:')
  --preset      base preset: ${Object.keys(PRESETS).join(', ')}
  --method      ${METHODS.names().map((n) => `${n}: ${METHODS.get(n).summary}`).join('\n                ')}
  --backbone    ${GENERATORS.names().join(', ')}
  --source      labelled source dataset, e.g. gta5:/data/GTA5 or folder:/data/mine
  --target      unlabelled target dataset, e.g. cityscapes:/data/Cityscapes:train
  --target-val  labelled target split evaluated during training, e.g. cityscapes:/data/Cityscapes:val
  --init        converted weights (clan convert) to start from (backbone only; --set initScope=all for all)
  --device      where training and evaluation run (config 'device', default cpu); cuda needs a CUDA libtorch
  --amp         mixed precision on the GPU (config 'amp', default off = the official fp32 run); bf16, or fp16
                with loss scaling. CUDA settings: --set cudnnBenchmark=false, --set deterministic=true
  --out         run folder (default runs/<method>-<time>)
  --resume      continue RUN_DIR from its newest valid checkpoint. A larger --iters extends the run on its
                original schedule (poly-lr and damping horizon, warm-up, preheat: what the run started with,
                so the lr does not jump); --set hyper.maxIter=N stretches the schedule to N instead
  --overwrite   start over in an --out folder that already holds a run (deletes its checkpoints and metrics);
                without it such a folder is refused. One run per folder at a time (RUN_DIR/.lock)
  --set k=v     override any config key, e.g. --set hyper.clan.lambdaLocal=10 --set targetVal.protocol=16

Data-parallel (README "More than one process or machine"): --nproc-per-node N starts N worker processes here
(global batch = batchSize × processes; rank 0 logs, evaluates and checkpoints). Several machines: the same
command on each with --nnodes M --node-rank R --master-addr HOST --master-port P (rank 0's machine and a free
port). A worker started by another launcher (torchrun-style, SLURM srun) reads RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT from its environment. --set distTimeout=S bounds every wait.

Ctrl-C writes a checkpoint and exits 130. Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted.

Config keys (--set KEY=VALUE or a config file; [default]; § = docs/method.md; the same table is docs/config.md):
${configHelp()}`;

export const trainCmd: Command = {
  name: 'train',
  summary: `train ${METHODS.names().join(' / ')} (config, presets, resume)`,
  usage: USAGE,
  async run(argv, ctx = {}) {
    const p = parse('train', argv, {
      config: { type: 'string' }, preset: { type: 'string' }, method: { type: 'string' }, source: { type: 'string' },
      target: { type: 'string' }, 'target-val': { type: 'string' }, backbone: { type: 'string' }, iters: { type: 'string' },
      'batch-size': { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' }, workers: { type: 'string' },
      init: { type: 'string' }, out: { type: 'string' }, set: { type: 'string', multiple: true }, resume: { type: 'string' },
      device: { type: 'string' }, amp: { type: 'string' }, 'nproc-per-node': { type: 'string' }, nnodes: { type: 'string' },
      'node-rank': { type: 'string' }, 'master-addr': { type: 'string' }, 'master-port': { type: 'string' }, overwrite: { type: 'boolean' },
    });
    if (p.values.help) { console.log(USAGE); return 0; }
    const num = (k: string): number | undefined => {
      const v = str(p, k);
      if (v === undefined) return undefined;
      const n = Number(v);
      const min = ['seed', 'workers', 'node-rank'].includes(k) ? 0 : 1; // the others count something or name a port
      if (!Number.isInteger(n) || n < min) throw new UsageError(`train: --${k} expects a ${min ? 'positive' : 'non-negative'} integer, got '${v}'`);
      return n;
    };
    const flags: Record<string, unknown> = {};
    const put = (path: string[], v: unknown) => {
      if (v === undefined) return;
      let o = flags;
      for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
      o[path[path.length - 1]!] = v;
    };
    put(['method'], str(p, 'method')); put(['backbone'], str(p, 'backbone')); put(['iters'], num('iters'));
    put(['batchSize'], num('batch-size')); put(['seed'], num('seed')); put(['threads'], num('threads'));
    put(['workers'], num('workers')); put(['init'], str(p, 'init')); put(['device'], str(p, 'device')); put(['amp'], str(p, 'amp'));
    put(['source', 'data'], str(p, 'source')); put(['target', 'data'], str(p, 'target')); put(['targetVal', 'data'], str(p, 'target-val'));
    const sets = (p.values.set as unknown as string[] | undefined) ?? [];
    const resumeDir = str(p, 'resume');
    let inp: ResolveInput;
    let out: string;
    if (resumeDir) {
      const cfgPath = join(resolve(resumeDir), 'config.yaml');
      if (!existsSync(cfgPath)) throw new UsageError(`train: --resume ${resumeDir} is not a run folder (no config.yaml)`);
      if (str(p, 'config') || str(p, 'preset')) throw new UsageError('train: --resume takes the run\'s own config; use --set or flags to change it');
      inp = { config: cfgPath, flags: keepSchedule(cfgPath, flags, sets), sets };
      out = resolve(resumeDir);
    } else {
      inp = { flags, sets, ...(str(p, 'config') ? { config: str(p, 'config')! } : {}), ...(str(p, 'preset') ? { preset: str(p, 'preset')! } : {}) };
      if (!inp.config && !inp.preset && !str(p, 'source')) throw new UsageError("train: give --config, --preset or --source/--target (try 'clan train --preset cpu')");
      out = resolve(str(p, 'out') ?? `runs/${str(p, 'method') ?? 'clan'}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
    }
    const config = resolveConfig(inp, resumeDir ? `${resumeDir}/config.yaml` : (inp.config ?? 'config'));
    const { assertWritable } = await import('./files.js');
    assertWritable(out);
    const nproc = num('nproc-per-node');
    if (nproc !== undefined) {
      if (nproc < 1) throw new UsageError('train: --nproc-per-node expects an integer ≥ 1');
      const nnodes = num('nnodes') ?? 1;
      const nodeRank = num('node-rank') ?? 0;
      if (nnodes < 1 || nodeRank >= nnodes) throw new UsageError(`train: --node-rank ${nodeRank} must be below --nnodes ${nnodes}`);
      if (nnodes > 1 && (!str(p, 'master-addr') || num('master-port') === undefined)) throw new UsageError('train: several machines need --master-addr and --master-port (rank 0\'s machine and a free port)');
      if (config.device !== 'cpu') await assertGpuPerProcess(config.device, nproc);
      const { launchWorkers } = await import('./launch.js');
      return await launchWorkers({ nproc, nnodes, nodeRank, masterAddr: str(p, 'master-addr') ?? '127.0.0.1', masterPort: num('master-port') ?? null,
        args: workerArgs(argv, out), ...(ctx.entry ? { entry: ctx.entry } : {}), ...(config.threads ? { threads: config.threads } : {}), graceSeconds: Math.min(config.distTimeout, 60) });
    }
    const { train } = await import('../train/trainer.js');
    const { distEnvFrom } = await import('../train/ddp.js');
    const dist = distEnvFrom(process.env);
    const main = !dist || dist.rank === 0;
    let r;
    try {
      r = await train({ config, outDir: out, resume: Boolean(resumeDir), commandLine: ['train', ...argv], dist, overwrite: p.values.overwrite === true,
        ...(main ? { progress: trainProgress(config.method, config.logEvery) } : { log: () => {} }), ...(ctx.trainHooks ? { hooks: ctx.trainHooks } : {}) });
    } catch (e) {
      const { Interrupted } = await import('../train/interrupted.js');
      if (main && e instanceof Interrupted) await runReport(out, true); // Ctrl-C: the report of what ran so far
      throw e;
    }
    if (!main) return 0;
    await runReport(out);
    const miou = r.finalEval ? `; target mIoU ${(r.finalEval.miou * 100).toFixed(2)}` : '';
    process.stderr.write(`done: ${r.step} steps in ${r.seconds.toFixed(0)} s${miou}; checkpoint ${r.checkpoint}\n`);
    return 0;
  },
};

/**
 * --resume with another --iters: the lr schedule stays the run's own (maxIter, warm-up and preheat derive from
 * iters unless set, so they are pinned to the values the run started with) unless `--set hyper.…` sets them.
 */
function keepSchedule(cfgPath: string, flags: Record<string, unknown>, sets: string[]): Record<string, unknown> {
  if (flags.iters === undefined) return flags;
  const before = resolveConfig({ config: cfgPath }, cfgPath);
  if (before.iters === flags.iters) return flags;
  const h = methodConfig(before);
  const setKeys = new Set(sets.map((s) => s.split('=')[0]!.trim()));
  const unset = (k: string) => !setKeys.has(k) && !setKeys.has(`hyper.${k.split('.').pop()!}`); // old flat names count too
  const pinned: [string, number][] = [['hyper.maxIter', h.maxIter], ['hyper.warmup', h.warmup]];
  if (METHODS.get(before.method).reads.includes('clan')) pinned.push(['hyper.clan.preheat', h.clan.preheat]);
  const keep = pinned.filter(([k]) => unset(k));
  if (keep.length === 0) return flags;
  process.stderr.write(`note: --iters ${String(flags.iters)} keeps the run's schedule (${keep.map(([k, v]) => `${k}=${v}`).join(', ')});` +
    ` --set hyper.maxIter=N to stretch it${Number(flags.iters) > h.maxIter ? `; steps after ${h.maxIter} train with lr 0 unless you do` : ''}\n`);
  let out = flags;
  for (const [k, v] of keep) out = deepMerge(out, parseSet(`${k}=${v}`));
  return out;
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

/** Data-parallel on GPUs is one process per GPU, each on its cuda:LOCAL_RANK (NCCL refuses two ranks on one GPU). */
async function assertGpuPerProcess(device: string, nproc: number): Promise<void> {
  const torch = await import('../torch/index.js');
  torch.parseDevice(device, 'train: --device');
  if (device !== 'cuda') throw new UsageError(`train: --nproc-per-node takes --device cuda (each process uses cuda:LOCAL_RANK), got '${device}'`);
  const n = torch.cudaDeviceCount();
  if (nproc > n) throw new UsageError(`train: --nproc-per-node ${nproc} with --device cuda needs one GPU per process, and ${n} GPU(s) are visible`);
}

/** A worker's arguments: the launcher's without its own flags, with the run folder fixed (one for all workers). */
function workerArgs(argv: string[], out: string): string[] {
  const own = new Set(['--nproc-per-node', '--nnodes', '--node-rank', '--master-addr', '--master-port', '--out', '--threads']);
  // (--overwrite passes through: rank 0 applies it)
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.split('=')[0]!;
    if (own.has(name)) { if (!a.includes('=')) i++; continue; }
    rest.push(a);
  }
  return argv.includes('--resume') || argv.some((a) => a.startsWith('--resume=')) ? rest : [...rest, '--out', out];
}
