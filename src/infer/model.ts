// Loading a network for evaluation/prediction from a training checkpoint or from converted weights
// (`clan convert`, metadata format 'clan-weights'). A checkpoint carries everything: model config, class names,
// palette, normalisation and eval size.
import { existsSync } from 'node:fs';
import type { Device } from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { createGenerator } from '../models/registry.js';
import type { Segmentor } from '../models/segmentor.js';
import { checkNumClasses, checkWeightsSeal, readCheckpoint } from '../io/checkpoint.js';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE } from '../data/labels.js';
import { CheckpointError } from '../util/errors.js';
import { stripPrefix } from '../util/prefix.js';

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
    const G = createGenerator(m.backbone, checkNumClasses(path, m.numClasses));
    G.loadStateDict(stripPrefix(ck.tensors, 'G.'), true, path);
    G.to(device).eval();
    return { G, path, backbone: m.backbone, numClasses: m.numClasses, classNames: m.classNames,
      palette: m.palette ?? defaultPalette(m.numClasses), normalize: m.normalize, evalSize: m.evalSize, step: m.step, config: m.config ?? null };
  }
  if (meta.format === 'clan-weights') {
    const backbone = meta.backbone ?? 'resnet101';
    const k = checkNumClasses(path, meta.num_classes ?? '19');
    const G = createGenerator(backbone, k);
    const st = readSafetensorsFile(path);
    checkWeightsSeal(path, st.tensors, st.metadata);
    loadComplete(G, stripPrefix(st.tensors, 'G.'), path);
    G.to(device).eval();
    const cs = k === 19;
    return { G, path, backbone, numClasses: k, classNames: cs ? [...CITYSCAPES_CLASSES] : Array.from({ length: k }, (_, i) => `class${i}`),
      palette: cs ? CITYSCAPES_PALETTE.map((c) => [c[0], c[1], c[2]] as [number, number, number]) : defaultPalette(k),
      normalize: 'caffe', evalSize: [1024, 512], step: null, config: null };   // the official evaluation input (§5.3)
  }
  throw new CheckpointError(`${path} is neither a clan checkpoint nor converted weights (no 'clan' or 'format: clan-weights' metadata)`);
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
    throw new CheckpointError(`${path}: ` + (heads ? 'has no classifier heads (layer5, layer6): a backbone init for --init, not a model to evaluate'
      : `does not fit ${missing.length ? `(missing ${missing.length}: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})` : ''}` +
        `${r.unexpected.length ? ` (unexpected ${r.unexpected.length}: ${r.unexpected.slice(0, 3).join(', ')}${r.unexpected.length > 3 ? ', …' : ''})` : ''}`));
  }
}
