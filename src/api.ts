// The package's public API, `import { loadModel, openDataset, evaluate, train } from 'clan'`: a model from a
// checkpoint that predicts images, datasets by spec, evaluation as the papers do (docs/method.md §5.3) and
// training from a preset, a config file or an object. Thin wrappers over what `clan predict`, `clan eval` and
// `clan train` run, so every number is the CLI's; errors are the one-line ClanError classes.
//
// `train` and `evaluate` also keep their earlier low-level forms (a resolved config in TrainOptions; a Segmentor,
// a Dataset and EvalOptions), which the package root exported before this facade existed.
import * as torch from './torch/index.js';
import { decodeRgb, readBytes, type RgbImage } from './data/image.js';
import type { Dataset } from './data/dataset.js';
import { openDataset } from './data/registry.js';
import { evaluate as evaluateSegmentor, type EvalOptions, type EvalResult, type Protocol } from './eval/evaluate.js';
import { evaluationJson, perClassMetrics, type ClassMetrics, type EvalJson } from './eval/results.js';
import { WHOLE, type InferenceSpec } from './data/inference-spec.js';
import { loadInferenceModel, type InferenceModel } from './infer/model.js';
import { predictImage, type Prediction } from './infer/predict.js';
import type { Segmentor } from './models/segmentor.js';
import type { StepLog } from './methods/uda.js';
import { resolveConfig } from './config/load.js';
import type { TrainConfig, TrainConfigInput } from './config/schema.js';
import { train as trainRun, type TrainOptions, type TrainResult } from './train/trainer.js';
import { ClanError, DataError, UsageError } from './util/errors.js';
import { nextTurn } from './util/tick.js';

export type Device = torch.Device;

/** Raw pixels, row-major: [H, W, 3] RGB or [H, W, 4] RGBA (e.g. a canvas's ImageData; alpha is ignored). */
export interface ImageInput { data: Uint8Array | Uint8ClampedArray; width: number; height: number }

export interface LoadModelOptions {
  /** Where the network runs: cpu (default), cuda or cuda:N. CUDA needs a CUDA build of the addon (README "GPU"). */
  device?: Device;
}

/** A segmentation network loaded from a checkpoint (`clan train`) or converted weights (`clan convert`). */
export interface Model {
  readonly checkpoint: string;
  readonly backbone: string;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  /** A colour per class, for drawing `label`. */
  readonly palette: readonly (readonly [number, number, number])[];
  /** The network's input size [W, H]: images are resized to it, predictions come back at the image's size. */
  readonly evalSize: readonly [number, number];
  /** The training step the checkpoint was written at (null for converted weights). */
  readonly step: number | null;
  readonly device: Device;
  /** How predict and evaluate run it unless told otherwise: the file's own mode (a converted DAFormer/HRDA checkpoint's), else whole. */
  readonly inference: InferenceSpec;
  /**
   * Class per pixel at the image's own size (`label`, [H, W]) and the disagreement of the two classifiers
   * (`disagreement`, [H, W], what CLAN weights its adversarial loss with, §2.3). A string is a PNG or JPEG file.
   * `opts.inference`: sliding windows and/or multi-scale + flip for the label (as EvaluateOptions.inference).
   */
  predict(image: string | ImageInput, opts?: PredictOptions): Promise<Prediction>;
  /** Frees the network's memory; the model cannot be used afterwards. */
  dispose(): void;
  [Symbol.dispose](): void;
}

export interface PredictOptions {
  /** Default: the model's own (`Model.inference`). */
  inference?: InferenceSpec;
}

export interface EvaluateOptions {
  /** Classes averaged into mIoU: 'all' (default) = every class of the dataset, 19 its GTA5 name; 16 / 13 = the SYNTHIA subsets. */
  protocol?: Protocol;
  /** The first N images only. */
  limit?: number;
  /** Network input [W, H]; default the checkpoint's evaluation size. */
  size?: readonly [number, number];
  /** Worker threads decoding images (default 0: decode on the main thread; the whole mode only). */
  workers?: number;
  /**
   * Sliding windows and/or multi-scale + flip, as mmsegmentation's test options (`clan eval --mode slide --crop WxH
   * --stride WxH --scales … --flip`): e.g. { mode: 'slide', crop: [512, 512], stride: [341, 341] } or
   * { mode: 'whole', scales: [0.5, 0.75, 1, 1.25, 1.5, 1.75], flip: true }. Default: the model's own (`Model.inference`).
   */
  inference?: InferenceSpec;
  onProgress?: (done: number, total: number) => void;
}

/** @deprecated IoU of one class; `per_class` holds it with the class's Acc. */
export interface ClassIoU { class: string; iou: number | null }

/**
 * The numbers of `clan eval --json` under the same names (fractions; NaN where a class is absent): `miou`, `macc`
 * (over the protocol's classes), `aacc` (every labelled pixel), `per_class` [{ class, iou, acc }] in the dataset's
 * order, `protocol`, `images`, `pixels`, `confusion` ([K·K], row = ground truth, column = prediction).
 * `JSON.stringify(evaluation)` writes exactly `clan eval --json` (toJSON: null for NaN, the confusion as K rows).
 */
export interface Evaluation extends EvalResult {
  per_class: ClassMetrics[];
  /** @deprecated `per_class` without Acc. */
  perClass: ClassIoU[];
  toJSON(): EvalJson;
}

/** What `onStep` sees after each training step. */
export interface StepInfo {
  step: number;
  iters: number;
  /** The method's losses by name (e.g. seg, adv, weight, d_s, d_t for CLAN). */
  losses: Readonly<Record<string, number>>;
  /** The generator's learning rate at this step. */
  lr: number;
  /** Mean disagreement M of the two classifiers on the target batch (methods with two heads, §2.3). */
  m?: number;
  /** Since the run (or this resumption) started. */
  seconds: number;
}

export interface TrainRunOptions {
  /** The run folder: config.yaml, run.json, metrics.jsonl and checkpoints/ are written there. */
  outDir: string;
  onStep?: (s: StepInfo) => void;
  /** Log lines (data warnings, evaluations, checkpoints); default stderr. */
  log?: (line: string) => void;
  /** Continue the run in outDir from its newest valid checkpoint. */
  resume?: boolean;
  /** Start over in an outDir that holds a run (deletes its checkpoints and metrics); without it that is refused. */
  overwrite?: boolean;
  /** Stop from code, as Ctrl-C: the current step ends, a checkpoint is written, train rejects with Interrupted. */
  signal?: AbortSignal;
}

/** Every key optional, recursively; tuples such as [W, H] stay whole. */
export type Overrides<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: Overrides<T[K]> } : T;

/**
 * A training config: a preset name ('cpu', 'gta5-cityscapes', …) or a YAML/JSON file path; a whole config object
 * (a resolveConfig result, too); or overrides of a preset or file named by `extends`.
 */
export type TrainSpec = string | TrainConfigInput | (Overrides<TrainConfigInput> & { extends: string });

/** Loads a checkpoint or converted weights; CheckpointError naming the file if it cannot be used. */
export async function loadModel(checkpoint: string, opts: LoadModelOptions = {}): Promise<Model> {
  const device = torch.parseDevice(opts.device ?? 'cpu', 'loadModel: device');
  if (torch.isCuda(device)) torch.setBackendFlags({ cudnnBenchmark: true }); // one input size: autotuning pays, as in `clan predict`
  return new LoadedModel(loadInferenceModel(checkpoint, device));
}

class LoadedModel implements Model {
  readonly checkpoint: string;
  readonly backbone: string;
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly palette: readonly (readonly [number, number, number])[];
  readonly evalSize: readonly [number, number];
  readonly step: number | null;
  readonly device: Device;
  readonly inference: InferenceSpec;
  #m: InferenceModel | null;

  constructor(m: InferenceModel) {
    this.#m = m;
    this.checkpoint = m.path; this.backbone = m.backbone; this.numClasses = m.numClasses; this.classNames = m.classNames;
    this.palette = m.palette; this.evalSize = m.evalSize; this.step = m.step; this.device = m.G.device;
    this.inference = m.inference ?? WHOLE;
  }

  /** The loaded network, or an error once disposed (a freed network would fail inside the engine). */
  live(): InferenceModel {
    if (!this.#m) throw new ClanError(`the model of ${this.checkpoint} was disposed`);
    return this.#m;
  }

  async predict(image: string | ImageInput, opts: PredictOptions = {}): Promise<Prediction> {
    // One event-loop turn first: the previous call's tensor wrappers are freed then, so a loop stays flat (util/tick.ts).
    await nextTurn();
    const m = this.live();
    const spec = opts.inference ?? m.inference;
    if (typeof image === 'string') return predictImage(m, decodeRgb(readBytes(image), image), image, spec);
    return predictImage(m, rgbOf(image), 'image', spec);
  }

  dispose(): void {
    this.#m?.G.dispose();
    this.#m = null;
  }

  [Symbol.dispose](): void { this.dispose(); }
}

/** Checks raw pixels against their size and drops an alpha channel: RGB [H, W, 3] as the network reads it. */
function rgbOf(img: ImageInput): RgbImage {
  const { width: w, height: h } = img;
  if (!(Number.isSafeInteger(w) && w > 0 && Number.isSafeInteger(h) && h > 0)) {
    throw new DataError(`predict: image width and height must be positive integers, got ${w}x${h}`);
  }
  const bytes = new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.byteLength);
  const n = w * h;
  if (bytes.length === 3 * n) return { width: w, height: h, data: bytes };
  if (bytes.length !== 4 * n) {
    throw new DataError(`predict: image data holds ${bytes.length} bytes; a ${w}x${h} image needs ${3 * n} (RGB) or ${4 * n} (RGBA)`);
  }
  const rgb = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) { rgb[3 * i] = bytes[4 * i]!; rgb[3 * i + 1] = bytes[4 * i + 1]!; rgb[3 * i + 2] = bytes[4 * i + 2]!; }
  return { width: w, height: h, data: rgb };
}

/** mIoU of a model on a labelled dataset (a spec such as 'cityscapes:/data/Cityscapes:val', or an opened one). */
export function evaluate(model: Model, dataset: string | Dataset, opts?: EvaluateOptions): Promise<Evaluation>;
/** The low-level form: a Segmentor, as the trainer evaluates one. */
export function evaluate(G: Segmentor, dataset: Dataset, opts: EvalOptions): Promise<EvalResult>;
export async function evaluate(model: Model | Segmentor, dataset: string | Dataset,
  opts: EvaluateOptions | EvalOptions = {}): Promise<Evaluation | EvalResult> {
  if (!(model instanceof LoadedModel)) {
    if (typeof dataset === 'string' || opts.size === undefined) throw new UsageError('evaluate: expects a model from loadModel(), or a Segmentor, a Dataset and EvalOptions with a size');
    return evaluateSegmentor(model as Segmentor, dataset, opts as EvalOptions);
  }
  const m = model.live();
  const o = opts as EvaluateOptions;
  const ds = typeof dataset === 'string' ? openDataset(dataset, { labels: 'required' }) : dataset;
  if (ds.numClasses !== m.numClasses) throw new DataError(`checkpoint ${m.path} predicts ${m.numClasses} classes but dataset ${ds.spec} has ${ds.numClasses}`);
  const r = await evaluateSegmentor(m.G, ds, { size: o.size ?? m.evalSize, normalize: m.normalize, device: model.device,
    ...(o.protocol !== undefined ? { protocol: o.protocol } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(o.workers !== undefined ? { workers: o.workers } : {}),
    ...(o.inference ?? m.inference ? { inference: o.inference ?? m.inference! } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
  const per_class = perClassMetrics(r, m.classNames);
  const perClass = per_class.map((c) => ({ class: c.class, iou: c.iou }));
  const out = { ...r, per_class, perClass } as Evaluation;
  Object.defineProperty(out, 'toJSON', { value: () => evaluationJson(r, m.classNames), enumerable: false });
  return out;
}

/**
 * Trains as `clan train` does and returns where the run ended: the last checkpoint (`checkpoint`, for loadModel),
 * the final evaluation on `targetVal` if the config has one, the best step. Interrupted (a ClanError) on Ctrl-C,
 * after a checkpoint is written.
 */
export function train(config: TrainSpec, opts: TrainRunOptions): Promise<TrainResult>;
/** The low-level form: a resolved config (resolveConfig) and the trainer's own options. */
export function train(options: TrainOptions): Promise<TrainResult>;
export async function train(config: TrainSpec | TrainOptions, opts?: TrainRunOptions): Promise<TrainResult> {
  if (opts === undefined) {
    if (isTrainOptions(config)) return trainRun(config);
    throw new UsageError(`train: give the run folder as the second argument, e.g. train('cpu', { outDir: 'runs/x' })`);
  }
  const { onStep } = opts;
  return trainRun({ config: resolveTrainSpec(config as TrainSpec), outDir: opts.outDir, commandLine: [],
    ...(opts.log ? { log: opts.log } : {}), ...(opts.resume ? { resume: true } : {}), ...(opts.overwrite ? { overwrite: true } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(onStep ? { progress: (step: number, iters: number, s: StepLog, seconds: number) =>
      onStep({ step, iters, losses: { ...s.losses }, lr: s.lrG, ...(s.m !== undefined ? { m: s.m } : {}), seconds }) } : {}) });
}

function isTrainOptions(x: unknown): x is TrainOptions {
  return typeof x === 'object' && x !== null && 'config' in x && 'outDir' in x;
}

/** A preset or file name, a config object, or overrides of `extends` → the validated config (ConfigError naming the key). */
function resolveTrainSpec(spec: TrainSpec): TrainConfig {
  if (typeof spec === 'string') return resolveConfig({ config: spec }, spec);
  if (typeof spec !== 'object' || spec === null) throw new UsageError(`train: config must be a preset name, a file path or an object, got ${spec === null ? 'null' : typeof spec}`);
  const { extends: base, ...rest } = spec;
  return resolveConfig({ ...(base !== undefined ? { config: base } : {}), flags: rest }, 'train config');
}

export { openDataset };
