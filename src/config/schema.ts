// The training configuration: one zod schema (unknown keys and wrong types are errors naming the key and what is
// allowed), composed with `extends:` (a preset name or another file) and `--set key=value` overrides.
import { z } from 'zod';
import { ConfigError } from '../util/errors.js';
import { DEVICE_PATTERN } from '../util/device.js';

const size = z.tuple([z.number().int().positive(), z.number().int().positive()]);   // [W, H]

const domain = z.object({
  data: z.string().min(1),                         // TYPE:ROOT[:SPLIT], e.g. gta5:/data/GTA5
  size: size.optional(),                           // nominal [W, H] (default: the dataset's own, §5)
  randomScale: z.boolean().default(true),          // image-only random scale ×0.8/×1.0/×1.1 (§5.4)
  flip: z.boolean().default(true),                 // random horizontal flip, p = 0.5 (§5.4)
  skipBad: z.boolean().default(false),             // log and skip unreadable/mismatched files instead of stopping
}).strict();

const evalDomain = z.object({
  data: z.string().min(1),                         // labelled target split used for evaluation during training
  size: size.optional(),                           // eval input [W, H]; logits are upsampled to the label size (§5.3)
  protocol: z.union([z.literal(19), z.literal(16), z.literal(13)]).default(19), // classes averaged into mIoU
  limit: z.number().int().positive().optional(),   // evaluate only the first N images (quick runs)
}).strict();

export const methodSchema = z.object({
  maxIter: z.number().int().positive().optional(), // defaults to `iters`
  warmup: z.number().int().nonnegative().nullable().default(null),  // null → iters/20 (official 5000 of 100000)
  preheat: z.number().int().nonnegative().nullable().default(null), // null → iters/20
  power: z.number().positive().default(0.9),
  optimizerG: z.enum(['sgd', 'adam']).default('sgd'), // 'adam' is not official: short from-scratch runs (cpu preset)
  lrG: z.number().positive().default(2.5e-4),
  headLrMult: z.number().positive().default(10),
  momentum: z.number().min(0).max(1).default(0.9),
  weightDecay: z.number().min(0).default(5e-4),
  beta1G: z.number().min(0).max(1).default(0.9),   // Adam β1 of G (optimizerG 'adam' only)
  beta2G: z.number().min(0).max(1).default(0.99),  // Adam β2 of G
  lrD: z.number().positive().default(1e-4),
  beta1D: z.number().min(0).max(1).default(0.9),
  beta2D: z.number().min(0).max(1).default(0.99),
  lambdaAdv: z.number().min(0).default(0.001),
  lambdaWeight: z.number().min(0).default(0.01),
  lambdaLocal: z.number().min(0).default(40),
  epsilon: z.number().min(0).default(0.4),
  detachM: z.boolean().default(false), // true: M only weights the G adversarial loss, no gradient through it (§2.3)
  segLoss: z.enum(['focal', 'ce']).default('focal'),
  gamma: z.number().min(0).default(2),
  ndf: z.number().int().positive().default(64),
  officialDuplicateParams: z.boolean().default(false),
}).strict();

export const trainSchema = z.object({
  extends: z.string().optional(),
  method: z.enum(['source-only', 'adversarial', 'clan']).default('clan'),
  backbone: z.string().default('resnet101'),
  source: domain,
  target: domain,
  targetVal: evalDomain.optional(),
  iters: z.number().int().positive().default(100000),
  batchSize: z.number().int().positive().default(1),
  seed: z.number().int().nonnegative().default(0),
  device: z.string().regex(DEVICE_PATTERN, 'expected cpu, cuda or cuda:N').default('cpu'), // where G, D, batches and eval run
  cudnnBenchmark: z.boolean().default(true),          // CUDA: cuDNN autotunes conv algorithms per shape (fixed crop sizes: faster)
  deterministic: z.boolean().default(false),          // CUDA: deterministic cuDNN algorithms, benchmark off (slower; mmseg's deterministic=True)
  amp: z.enum(['off', 'bf16', 'fp16']).default('off'), // mixed precision (fp16 with loss scaling); off = the official fp32 run
  threads: z.number().int().positive().optional(),  // default: all cores
  workers: z.number().int().nonnegative().default(0), // data worker threads (0: decode on the main thread)
  normalize: z.enum(['caffe', 'imagenet']).default('caffe'),
  init: z.string().optional(),                        // converted weights (clan convert) to start from
  initScope: z.enum(['backbone', 'all']).default('backbone'),
  logEvery: z.number().int().positive().default(10),
  evalEvery: z.number().int().positive().optional(),  // default: checkpointEvery
  checkpointEvery: z.number().int().positive().default(2000),
  keepLast: z.number().int().positive().default(3),   // checkpoints kept besides the best
  hyper: methodSchema.default({}),
}).strict();

export type TrainConfigInput = z.input<typeof trainSchema>;
export type TrainConfig = z.output<typeof trainSchema>;

/** zod issues → one line naming every bad key and what is expected. */
export function formatIssues(err: z.ZodError, where: string): string {
  const parts = err.issues.map((i) => {
    const key = i.path.join('.') || '(root)';
    switch (i.code) {
      case 'unrecognized_keys': return `unknown key${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${[...i.path, k].join('.')}'`).join(', ')}`;
      case 'invalid_enum_value': return `'${key}' must be one of ${i.options.map((o) => `'${String(o)}'`).join(', ')}, got '${String(i.received)}'`;
      case 'invalid_type': return i.received === 'undefined' ? `'${key}' is required (${i.expected})` : `'${key}' must be ${i.expected}, got ${i.received}`;
      case 'invalid_union': return `'${key}' must be one of 19, 16, 13`;
      default: return `'${key}': ${i.message}`;
    }
  });
  return `${where}: ${parts.join('; ')}`;
}

export function validate(raw: unknown, where: string): TrainConfig {
  const r = trainSchema.safeParse(raw);
  if (!r.success) throw new ConfigError(formatIssues(r.error, where));
  return r.data;
}
