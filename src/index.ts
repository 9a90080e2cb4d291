// The package root, `import { train } from 'clan'`: what the CLI does, as functions — train a method from a
// resolved config, evaluate or predict with a checkpoint — plus the error classes. Minimal on purpose: the engine
// is `clan/torch`; a fuller library surface is a later step.
export { train, type TrainOptions, type TrainResult } from './train/trainer.js';
export { resolveConfig, type ResolveInput } from './config/load.js';
export type { TrainConfig, TrainConfigInput } from './config/schema.js';
export { evaluate, type EvalOptions, type EvalResult } from './eval/evaluate.js';
export { openDataset } from './data/registry.js';
export { loadInferenceModel, type InferenceModel } from './infer/model.js';
export { predictImage, type Prediction } from './infer/predict.js';
export { main } from './cli/main.js';
export { ClanError, UsageError, ConfigError, DataError, CheckpointError, TensorError } from './util/errors.js';
