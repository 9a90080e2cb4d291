// `clan train`: flags → a resolved config (config/load.ts; --resume keeps the run's schedule: config/resume.ts) → one
// training run (train/trainer.ts), or this machine's data-parallel workers (launch.ts).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, str, intFlag, boolFlag, type Command, type Parsed } from './args.js';
import { resolveConfig, type ResolveInput } from '../config/load.js';
import { keepSchedule } from '../config/resume.js';
import type { TrainConfig } from '../config/schema.js';
import { PRESETS } from '../config/presets.js';
import { configHelp } from '../config/reference.js';
import { METHODS } from '../methods/registry.js';
import { BACKBONES } from '../models/backbones.js';
import { UsageError } from '../util/errors.js';

const USAGE = `usage: clan train [--config FILE|PRESET] [--preset NAME] [--method ${METHODS.names().join('|')}]
                  [--source TYPE:ROOT[:SPLIT]] [--target SPEC] [--target-val SPEC] [--backbone NAME]
                  [--iters N] [--batch-size N] [--seed N] [--threads N] [--workers N] [--init WEIGHTS]
                  [--device cpu|cuda|cuda:N] [--amp off|bf16|fp16] [--out DIR] [--set key=value ...] [--dry-run]
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
  --backbone    ${BACKBONES.names().join(', ')}
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
  --dry-run     print the resolved config (as RUN_DIR/config.yaml would hold it) and the plan: method, backbone,
                iterations, batch, each dataset's images and size, the memory estimate against the budget
                (CLAN_MEMORY_BUDGET_MB, default 3/4 of this machine's memory; a run over it is refused before
                any step); exit 0 without creating the run folder or training

Data-parallel (README "More than one process or machine"): --nproc-per-node N starts N worker processes here
(global batch = batchSize × processes; rank 0 logs, evaluates and checkpoints). Several machines: the same
command on each with --nnodes M --node-rank R --master-addr HOST --master-port P (rank 0's machine and a free
port). A worker started by another launcher (torchrun-style, SLURM srun) reads RANK, WORLD_SIZE, LOCAL_RANK,
LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT from its environment. --set distTimeout=S bounds every wait.

Ctrl-C writes a checkpoint and exits 130. Exit codes: 0 ok, 1 error, 2 usage, 130 interrupted.

Config keys (--set KEY=VALUE or a config file; [default]; § = docs/method.md; the same table is docs/config.md):
${configHelp()}`;

const OPTIONS = {
  config: { type: 'string' }, preset: { type: 'string' }, method: { type: 'string' }, source: { type: 'string' },
  target: { type: 'string' }, 'target-val': { type: 'string' }, backbone: { type: 'string' }, iters: { type: 'string' },
  'batch-size': { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' }, workers: { type: 'string' },
  init: { type: 'string' }, out: { type: 'string' }, set: { type: 'string', multiple: true }, resume: { type: 'string' },
  device: { type: 'string' }, amp: { type: 'string' }, 'nproc-per-node': { type: 'string' }, nnodes: { type: 'string' },
  'node-rank': { type: 'string' }, 'master-addr': { type: 'string' }, 'master-port': { type: 'string' }, overwrite: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
} as const;

/** The integer flags: [name, config path, smallest, largest, why the largest]. */
const INT_FLAGS: [string, string[], number, number, string][] = [
  ['iters', ['iters'], 1, 1e8, "a thousand times the paper's 100k iterations"], ['batch-size', ['batchSize'], 1, 1024, 'images per domain and step'],
  ['seed', ['seed'], 0, 2 ** 31 - 1, 'a 31-bit seed'], ['threads', ['threads'], 1, 4096, 'threads of one process'],
  ['workers', ['workers'], 0, 64, 'data worker threads'],
];

/** The flags shaped like the config (what --source, --iters, … set), each number checked exactly and against its limit. */
function configFlags(p: Parsed): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  const put = (path: string[], v: unknown) => {
    if (v === undefined) return;
    let o = flags;
    for (const k of path.slice(0, -1)) o = (o[k] ??= {}) as Record<string, unknown>;
    o[path[path.length - 1]!] = v;
  };
  for (const [flag, path, min, max, why] of INT_FLAGS) put(path, str(p, flag) === undefined ? undefined : intFlag('train', flag, str(p, flag), min, min, max, why));
  for (const [flag, path] of [['method', ['method']], ['backbone', ['backbone']], ['init', ['init']], ['device', ['device']], ['amp', ['amp']],
    ['source', ['source', 'data']], ['target', ['target', 'data']], ['target-val', ['targetVal', 'data']]] as const) put([...path], str(p, flag));
  return flags;
}

/** The resolved config and the run folder: a new run (--config / --preset / --source …) or --resume RUN_DIR. */
function trainConfig(p: Parsed): { config: TrainConfig; out: string; resumeDir?: string } {
  const flags = configFlags(p);
  const sets = (p.values.set as unknown as string[] | undefined) ?? [];
  const log = (l: string) => process.stderr.write(l + '\n');
  const resumeDir = str(p, 'resume');
  if (resumeDir) {
    const cfgPath = join(resolve(resumeDir), 'config.yaml');
    if (!existsSync(cfgPath)) throw new UsageError(`train: --resume ${resumeDir} is not a run folder (no config.yaml)`);
    if (str(p, 'config') || str(p, 'preset')) throw new UsageError('train: --resume takes the run\'s own config; use --set or flags to change it');
    const inp: ResolveInput = { config: cfgPath, flags: keepSchedule(cfgPath, flags, sets, log), sets, log, commandLine: true };
    return { config: resolveConfig(inp, `${resumeDir}/config.yaml`), out: resolve(resumeDir), resumeDir };
  }
  const inp: ResolveInput = { flags, sets, log, commandLine: true, ...(str(p, 'config') ? { config: str(p, 'config')! } : {}), ...(str(p, 'preset') ? { preset: str(p, 'preset')! } : {}) };
  if (!inp.config && !inp.preset && !str(p, 'source')) throw new UsageError("train: give --config, --preset or --source/--target (try 'clan train --preset cpu')");
  return { config: resolveConfig(inp, inp.config ?? 'config'), out: resolve(str(p, 'out') ?? `runs/${str(p, 'method') ?? 'clan'}-${new Date().toISOString().replace(/[:.]/g, '-')}`) };
}

export const trainCommand: Command = {
  name: 'train',
  summary: `train ${METHODS.names().join(' / ')} (config, presets, resume)`,
  usage: USAGE,
  async run(argv, ctx = {}) {
    const p = parse('train', argv, OPTIONS);
    if (p.values.help) { console.log(USAGE); return 0; }
    const { config, out, resumeDir } = trainConfig(p);
    if (boolFlag(p, 'dry-run')) {
      const { dryRun } = await import('../train/dry-run.js');
      console.log(dryRun(config, out, { resume: resumeDir !== undefined, log: (l) => process.stderr.write(l + '\n') }));
      return 0;
    }
    const { assertWritable } = await import('./files.js');
    assertWritable(out);
    if (str(p, 'nproc-per-node') !== undefined) return await launch(p, argv, config, out, ctx.entry);
    const { trainInThisProcess } = await import('./train-run.js');
    return await trainInThisProcess(config, out, { resume: resumeDir !== undefined, overwrite: boolFlag(p, 'overwrite'), argv,
      ...(ctx.trainHooks ? { hooks: ctx.trainHooks } : {}) });
  },
};

/** --nproc-per-node N [--nnodes M --node-rank R --master-addr HOST --master-port P]: this machine's workers (launch.ts). */
async function launch(p: Parsed, argv: string[], config: TrainConfig, out: string, entry: string[] | undefined): Promise<number> {
  const nproc = intFlag('train', 'nproc-per-node', str(p, 'nproc-per-node'), 1, 1, 1024, 'processes on one machine');
  const nnodes = intFlag('train', 'nnodes', str(p, 'nnodes'), 1, 1, 4096);
  const nodeRank = intFlag('train', 'node-rank', str(p, 'node-rank'), 0, 0);
  if (nodeRank >= nnodes) throw new UsageError(`train: --node-rank ${nodeRank} must be below --nnodes ${nnodes}`);
  const port = str(p, 'master-port') === undefined ? null : intFlag('train', 'master-port', str(p, 'master-port'), 0, 1, 65535, 'a TCP port');
  if (nnodes > 1 && (!str(p, 'master-addr') || port === null)) throw new UsageError('train: several machines need --master-addr and --master-port (rank 0\'s machine and a free port)');
  if (config.device !== 'cpu') await assertGpuPerProcess(config.device, nproc);
  const { launchWorkers } = await import('./launch.js');
  return await launchWorkers({ nproc, nnodes, nodeRank, masterAddr: str(p, 'master-addr') ?? '127.0.0.1', masterPort: port,
    args: workerArgs(argv, out), ...(entry ? { entry } : {}), ...(config.threads ? { threads: config.threads } : {}),
    graceSeconds: Math.min(config.distTimeout, 60) });
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
