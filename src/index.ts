// The package root, `import { loadModel, train } from 'clan'`: the typed facade of src/api.ts (a model from a
// checkpoint that predicts images, datasets by spec, evaluation, training; README "Use from TypeScript"), the
// lower-level pieces it wraps, and the error classes. The engine is `clan/torch`.
export {
  loadModel, evaluate, train, openDataset,
  type Model, type LoadModelOptions, type ImageInput, type Device,
  type EvaluateOptions, type PredictOptions, type Evaluation, type ClassIoU,
  type TrainSpec, type TrainRunOptions, type StepInfo, type Overrides,
} from './api.js';
export { type TrainOptions, type TrainResult } from './train/trainer.js';
export { resolveConfig, type ResolveInput } from './config/load.js';
export type { TrainConfig, TrainConfigInput } from './config/schema.js';
export { type EvalOptions, type EvalResult, type Protocol } from './eval/evaluate.js';
export { evaluationJson, metricsCsv, confusionCsv, type EvalJson, type ClassMetrics } from './eval/results.js';
export { WHOLE, describeInference, type InferenceSpec } from './data/inference-spec.js';
export type { Dataset, RawSample, LabelMap, OpenOptions } from './data/dataset.js';
export type { RgbImage } from './data/image.js';
export { loadInferenceModel, type InferenceModel } from './infer/model.js';
export { predictImage, type Prediction } from './infer/predict.js';
export { main } from './cli/main.js';
export { ClanError, UsageError, ConfigError, DataError, CheckpointError, TensorError, BudgetError } from './util/errors.js';
export { Interrupted } from './train/interrupted.js';
