// Loading a network for evaluation/prediction from a training checkpoint or from converted weights
// (`clan convert`, metadata format 'clan-weights'). A checkpoint carries everything: model config, class names,
// palette, normalisation and eval size.
import { existsSync } from 'node:fs';
import type { Device } from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { createSegmentor } from '../models/registry.js';
import type { Segmentor } from '../models/segmentor.js';
import { checkNumClasses, checkWeightsSeal, readCheckpoint } from '../io/checkpoint.js';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE } from '../data/labels.js';
import { CheckpointError, ClanError } from '../util/errors.js';
import { stripPrefix } from '../util/prefix.js';
import { checkInferenceSpec, type InferenceSpec } from '../data/inference-spec.js';

export interface InferenceModel {
  G: Segmentor;
  path: string;
  backbone: string;
  numClasses: number;
  classNames: string[];
  palette: [number, number, number][];
  normalize: 'caffe' | 'imagenet';
  evalSize: [number, number];         // [W, H]
  step: number | null;
  config: unknown;                    // the training run's resolved config (null for converted weights)
  /** How the weights' own config evaluates them (converted mmseg checkpoints: HRDA slides); absent: one whole pass. */
  inference?: InferenceSpec;
}

/** A fixed, distinct default palette for datasets without one (class 0 black, then well-separated hues). */
export function defaultPalette(k: number): [number, number, number][] {
  const out: [number, number, number][] = [[0, 0, 0]];
  for (let i = 1; i < k; i++) {
    const h = (i * 0.618033988749895) % 1; const s = 0.75; const v = i % 2 ? 0.95 : 0.75;
    const f = (n: number) => { const kk = (n + h * 6) % 6; return Math.round(255 * (v - v * s * Math.max(0, Math.min(kk, 4 - kk, 1)))); };
    out.push([f(5), f(3), f(1)]);
  }
  return out;
}

/** Loads weights on the CPU (checkpoints are device-independent), then moves G to `device`. */
export function loadInferenceModel(path: string, device: Device = 'cpu'): InferenceModel {
  if (!existsSync(path)) throw new CheckpointError(`checkpoint ${path} does not exist`);
  let meta: Record<string, string>;
  try { meta = readSafetensorsFile(path).metadata; } catch (e) {
    throw new CheckpointError(`${path} is not a readable checkpoint: ${(e as Error).message.split('\n')[0]}`);
  }
  if (meta.clan) {
    const ck = readCheckpoint(path);
    const m = ck.meta;
    const G = createSegmentor(m.backbone, checkNumClasses(path, m.numClasses));
    G.loadStateDict(stripPrefix(ck.tensors, 'G.'), true, path);
    G.to(device).eval();
    return { G, path, backbone: m.backbone, numClasses: m.numClasses, classNames: m.classNames,
      palette: m.palette ?? defaultPalette(m.numClasses), normalize: m.normalize, evalSize: m.evalSize, step: m.step,
      config: m.config ?? null };
  }
  if (meta.format === 'clan-weights') {
    const backbone = meta.backbone ?? 'resnet101';
    const k = checkNumClasses(path, meta.num_classes ?? '19');
    const st = readSafetensorsFile(path);
    checkWeightsSeal(path, st.tensors, st.metadata);
    const ev = convertedEval(path, meta, k);  // before the network is built: a bad entry costs nothing
    const G = createSegmentor(backbone, k);
    loadComplete(G, stripPrefix(st.tensors, 'G.'), path);
    G.to(device).eval();
    return { G, path, backbone, numClasses: k, step: null, config: null, ...ev };
  }
  throw new CheckpointError(`${path} is neither a clan checkpoint nor converted weights (no 'clan' or 'format: clan-weights' metadata)`);
}

/**
 * What converted weights say about their evaluation (infer/mmseg.ts writes it for mmseg checkpoints): normalisation,
 * eval size [W, H], inference mode, class names and palette; absent entries take CLAN's defaults (Caffe
 * normalisation at 1024×512, §5.3; Cityscapes names for 19 classes). Untrusted: each entry checked, one line if bad.
 */
function convertedEval(path: string, meta: Record<string, string>, k: number): Pick<InferenceModel, 'normalize' | 'evalSize' | 'classNames' | 'palette' | 'inference'> {
  const bad = (key: string, want: string): never => { throw new CheckpointError(`${path}: metadata ${key} ${JSON.stringify(meta[key]!.slice(0, 80))}: expected ${want}`); };
  const json = (key: string): unknown => { try { return JSON.parse(meta[key]!); } catch { return bad(key, 'JSON'); } };
  const normalize = meta.normalize ?? 'caffe';
  if (normalize !== 'caffe' && normalize !== 'imagenet') bad('normalize', 'caffe or imagenet');
  let evalSize: [number, number] = [1024, 512];   // the official evaluation input (§5.3)
  if (meta.eval_size !== undefined) {
    const m = /^([1-9]\d{0,4})x([1-9]\d{0,4})$/.exec(meta.eval_size);
    evalSize = m ? [Number(m[1]), Number(m[2])] : bad('eval_size', 'WxH');
  }
  let inference: InferenceSpec | undefined;
  if (meta.inference !== undefined) {
    const v = json('inference') as InferenceSpec;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('inference', 'a JSON object');
    try { checkInferenceSpec(v); } catch (e) { bad('inference', `an inference mode (${(e as ClanError).message})`); }
    inference = v;
  }
  const cs = k === 19;
  let classNames = cs ? [...CITYSCAPES_CLASSES] : Array.from({ length: k }, (_, i) => `class${i}`);
  if (meta.class_names !== undefined) {
    const v = json('class_names');
    if (!Array.isArray(v) || v.length !== k || !v.every((c) => typeof c === 'string' && c.length <= 100)) bad('class_names', `${k} names`);
    classNames = v as string[];
  }
  let palette = cs ? CITYSCAPES_PALETTE.map((c) => [c[0], c[1], c[2]] as [number, number, number]) : defaultPalette(k);
  if (meta.palette !== undefined) {
    const v = json('palette');
    const rgb = (c: unknown) => Array.isArray(c) && c.length === 3
      && c.every((x) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 255);
    if (!Array.isArray(v) || v.length !== k || !v.every(rgb)) bad('palette', `${k} [r, g, b] colours`);
    palette = v as [number, number, number][];
  }
  return { normalize: normalize as 'caffe' | 'imagenet', evalSize, classNames, palette, ...(inference ? { inference } : {}) };
}

/**
 * Converted weights must hold ALL of G to be evaluated (a file without the heads, or without any G tensor, would
 * otherwise run with random weights and exit 0); names what is missing. Extra tensors are an error too.
 */
function loadComplete(G: Segmentor, sd: Map<string, HostTensor>, path: string): void {
  if (sd.size === 0) { G.dispose(); throw new CheckpointError(`${path}: holds no G.* tensors; expected converted weights of a whole model (clan convert)`); }
  const r = G.loadStateDict(sd, false, path);
  const missing = r.missing.filter((k) => !k.endsWith('num_batches_tracked'));
  if (missing.length || r.unexpected.length) {
    G.dispose();
    const heads = missing.length > 0 && missing.every((k) => G.isHeadKey(k));
    throw new CheckpointError(`${path}: ` + (heads ? `has no classifier heads (${[...new Set(missing.map((k) => k.split('.')[0]))].join(', ')}): a backbone init for --init, not a model to evaluate`
      : `does not fit ${missing.length ? `(missing ${missing.length}: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})` : ''}` +
        `${r.unexpected.length ? ` (unexpected ${r.unexpected.length}: ${r.unexpected.slice(0, 3).join(', ')}${r.unexpected.length > 3 ? ', …' : ''})` : ''}`));
  }
}
