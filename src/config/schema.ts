// The training configuration: one zod schema (unknown keys and wrong types are errors naming the key and what is
// allowed), composed with `extends:` (a preset name or another file) and `--set key=value` overrides. Every field
// says what it is, its default and where the value comes from: `clan train --help` and docs/config.md are
// generated from these descriptions (config/reference.ts). Method hyper-parameters are methods/config.ts.
import { z } from 'zod';
import { ConfigError, ConfigIssuesError } from '../util/errors.js';
import { DEVICE_PATTERN } from '../util/device.js';
import { didYouMean } from '../util/registry.js';
import { METHODS } from '../methods/registry.js';
import { methodSchema } from '../methods/config.js';
import { upgradeLegacyHyper } from './hyper.js';
import { BACKBONES } from '../models/backbones.js';

const names = (r: { names(): string[] }) => r.names() as [string, ...string[]];
const size = z.tuple([z.number().int().positive(), z.number().int().positive()]);   // [W, H]

const domain = z.object({
  data: z.string().min(1).describe('dataset TYPE:ROOT[:SPLIT], e.g. gta5:/data/GTA5 (types: docs/contributing.md)'),
  size: size.optional().describe('nominal input [W, H]; default: the dataset\'s own (official 1280×720 GTA5, 1024×512 Cityscapes, §5; a folder: its images\' most common size); a preset\'s size is dropped when you name another dataset without one'),
  randomScale: z.boolean().default(true).describe('image-only random scale ×0.8/×1.0/×1.1 (official, §5.4)'),
  flip: z.boolean().default(true).describe('random horizontal flip, p = 0.5 (official, §5.4)'),
  skipBad: z.boolean().default(false).describe('log and skip unreadable or mismatched files instead of stopping'),
}).strict();

const evalDomain = z.object({
  data: z.string().min(1).describe('labelled target split evaluated during training, e.g. cityscapes:/data/Cityscapes:val'),
  size: size.optional().describe('eval input [W, H]; logits are upsampled to the label size (§5.3); default: target.size, else the dataset\'s own'),
  protocol: z.union([z.literal('all'), z.literal(19), z.literal(16), z.literal(13)]).default('all')
    .describe('classes averaged into mIoU: all (every class of the dataset; 19, GTA5\'s name, says the same), 16 or 13 (SYNTHIA subsets) (§5.3)'),
  limit: z.number().int().positive().optional().describe('evaluate only the first N images (quick runs); default: all'),
}).strict();

export const trainSchema = z.object({
  extends: z.string().optional().describe('a preset name or a config file this one builds on'),
  method: z.enum(names(METHODS)).default('clan').describe(`the adaptation method: ${METHODS.names().join(', ')}`),
  backbone: z.enum(names(BACKBONES)).default('resnet101').describe(`the segmentor's backbone: ${BACKBONES.names().join(', ')} (official resnet101, §1.1)`),
  source: domain.describe('the labelled source domain'),
  target: domain.describe('the unlabelled target domain'),
  targetVal: evalDomain.optional().describe('the labelled target split for evaluation and best-checkpoint selection'),
  iters: z.number().int().positive().default(100000).describe('training iterations (official 100000, §3)'),
  batchSize: z.number().int().positive().default(1).describe('source and target images per iteration, each (official 1, §3)'),
  seed: z.number().int().nonnegative().default(0).describe('seeds initialisation, data order and augmentation'),
  device: z.string().regex(DEVICE_PATTERN, 'expected cpu, cuda or cuda:N').default('cpu').describe('where G, D, batches and evaluation run: cpu, cuda or cuda:N'),
  cudnnBenchmark: z.boolean().default(true).describe('CUDA: cuDNN autotunes conv algorithms per shape (fixed crop sizes: faster)'),
  deterministic: z.boolean().default(false).describe('CUDA: deterministic cuDNN algorithms, benchmark off (slower; mmseg\'s deterministic=True)'),
  amp: z.enum(['off', 'bf16', 'fp16']).default('off').describe('mixed precision (fp16 with loss scaling, CUDA only); off = the official fp32 run'),
  threads: z.number().int().positive().optional().describe('intra-op CPU threads; default: all cores'),
  pointwiseOnednn: z.boolean().default(false)
    .describe('CPU: 1×1 convolutions through oneDNN also on one thread (same math, oneDNN\'s rounding; faster: docs/speed.md); false = PyTorch\'s dispatch, bit-identical to the reference'),
  workers: z.number().int().nonnegative().default(0).describe('data worker threads (0: decode on the main thread)'),
  normalize: z.enum(['caffe', 'imagenet']).default('caffe').describe('input normalisation: caffe = BGR minus the mean, as the official code (§5.4)'),
  init: z.string().optional().describe('converted weights (clan convert) to start from; default: random init'),
  initScope: z.enum(['backbone', 'all']).default('backbone').describe('what --init loads: the backbone only (heads stay random) or all of G'),
  logEvery: z.number().int().positive().default(10).describe('progress line every N steps (metrics.jsonl gets every step)'),
  evalEvery: z.number().int().positive().optional().describe('evaluate on targetVal every N steps; default: checkpointEvery'),
  checkpointEvery: z.number().int().positive().default(2000).describe('checkpoint every N steps (official SAVE_PRED_EVERY 2000, §3)'),
  keepLast: z.number().int().positive().default(3).describe('checkpoints kept besides the best'),
  tensorboard: z.boolean().default(true).describe('write TensorBoard event files into the run folder (losses, lr, M, mIoU, per-class IoU, sample predictions)'),
  syncBN: z.boolean().default(false)
    .describe('data-parallel: batch-norm statistics over every rank\'s batch (SyncBatchNorm, exact backward); false: per process, as DDP'),
  ddpOverlap: z.boolean().default(false)
    .describe('data-parallel: start G\'s gradient all-reduce while D\'s passes run (same result; no gain measured with as many processes as cores: docs/speed.md)'),
  distBackend: z.enum(['auto', 'gloo', 'nccl']).default('auto')
    .describe('data-parallel: c10d backend; auto = NCCL on CUDA where the addon has it (Gloo beside it for CPU tensors), else Gloo (torch.distributed\'s choice)'),
  distTimeout: z.number().positive().default(1800)
    .describe('data-parallel: seconds a rank waits for the others (rendezvous, each collective; rank 0 evaluates meanwhile)'),
  hyper: methodSchema.default({}).describe('the method\'s hyper-parameters: common keys, then one section per method (below)'),
}).strict();

export type TrainConfigInput = z.input<typeof trainSchema>;
export type TrainConfig = z.output<typeof trainSchema>;

/** zod issues → one line naming every bad key and what is expected. */
export function formatIssues(err: z.ZodError, where: string): string {
  const parts = err.issues.map((i) => {
    const key = i.path.join('.') || '(root)';
    switch (i.code) {
      case 'unrecognized_keys': return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${[...i.path, k].join('.')}'`).join(', ')}`;
      case 'invalid_enum_value': return `'${key}' must be one of ${i.options.map((o) => `'${String(o)}'`).join(', ')}, got '${String(i.received)}'${didYouMean(String(i.received), i.options.map(String))}`;
      case 'invalid_type': return i.received === 'undefined' ? `'${key}' is required (${i.expected})` : `'${key}' must be ${i.expected}, got ${i.received}`;
      case 'invalid_union': return `'${key}' must be one of all, 19, 16, 13`;
      default: return `'${key}': ${i.message}`;
    }
  });
  return `${where}: ${parts.join('; ')}`;
}

/** YAML reads 1e309 and .inf as Infinity, which z.number() accepts: no config value may be non-finite. */
function checkFinite(v: unknown, where: string, path: string[] = []): void {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new ConfigError(`${where}: '${path.join('.')}' must be a finite number, got ${v}`);
  if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) checkFinite(x, where, [...path, k]);
}

/**
 * A whole config → TrainConfig, or one ConfigError line. A config written before the method sections (a run folder's
 * config.yaml, a checkpoint's header) has a flat `hyper:`: its keys are mapped onto the sections first.
 */
export function validate(raw: unknown, where: string): TrainConfig {
  checkFinite(raw, where);
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const o = raw as Record<string, unknown>; const method = typeof o.method === 'string' ? o.method : 'clan';
    if (typeof o.hyper === 'object' && o.hyper !== null && METHODS.has(method)) {
      raw = { ...o, hyper: upgradeLegacyHyper(o.hyper as Record<string, unknown>, method, true).hyper };
    }
  }
  const r = trainSchema.safeParse(raw);
  if (!r.success) {
    const paths = r.error.issues.flatMap((i) => (i.code === 'unrecognized_keys' ? i.keys.map((k) => [...i.path, k].map(String)) : [i.path.map(String)]));
    throw new ConfigIssuesError(formatIssues(r.error, where), paths);
  }
  return r.data;
}
