// The engine's public surface: `import * as torch from 'clan/torch'`. Knows nothing of CLAN.
export * from './dtype.js';
export * from './tensor.js';
export { tidy, keep } from './scope.js';
export * from './runtime.js';
export * from './device.js';
export * as dist from './dist.js';
export { profile, readTrace, opTable, type TraceEvent, type OpRow } from './profiler.js';
export { GradScaler, GRAD_SCALER_DEFAULTS, type GradScalerOptions, type GradScalerState } from './amp.js';
export * as F from './functional.js';
export { setPointwiseOnednn, getPointwiseOnednn } from './functional.js';
export * as init from './nn/init.js';
export { Module, type Layer, type LoadResult } from './nn/module.js';
export { Conv2d, BatchNorm2d, ReLU, LeakyReLU, MaxPool2d, Sequential, ModuleList, convertSyncBatchNorm } from './nn/layers.js';
export { Linear, LayerNorm, GELU, Dropout, Dropout2d, DropPath } from './nn/dense.js';
export { Optimizer, type OptimizerState, type ParamState } from './optim/optimizer.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Adam, type AdamOptions } from './optim/adam.js';
export { AdamW } from './optim/adamw.js';
