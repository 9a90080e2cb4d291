// The data side of a run: the source, target and validation datasets opened and checked against each other, the
// sizes they are read at ([W, H]), the two loaders positioned where the run stands (sharded for data-parallel), and
// host batches turned into tensors on the run's device.
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { openDataset } from '../data/registry.js';
import type { Dataset } from '../data/dataset.js';
import { Loader, type Batch } from '../data/loader.js';
import { cachedClassStats, rcsTable, type RcsTable } from '../data/rcs.js';
import { METHODS } from '../methods/registry.js';
import type { TrainConfig } from '../config/schema.js';
import type { DistEnv } from '../methods/ddp.js';
import { checkProtocol } from '../eval/evaluate.js';
import { ConfigError, DataError, UsageError } from '../util/errors.js';

/** The datasets of a run and the sizes they are read at ([W, H]). */
export interface RunData {
  src: Dataset; tgt: Dataset; val: Dataset | null; numClasses: number;
  srcSize: [number, number]; tgtSize: [number, number]; evalSize: [number, number];
}

/** Opens source, target and validation sets; they must agree on the class count. */
export function openData(cfg: TrainConfig, log: (l: string) => void): RunData {
  const src = openDataset(cfg.source.data, { labels: 'required', warn: log, skipBad: cfg.source.skipBad, skipHint: '--set source.skipBad=true' });
  const tgt = openDataset(cfg.target.data, { labels: 'none', warn: log, skipBad: cfg.target.skipBad, skipHint: '--set target.skipBad=true' });
  const val = cfg.targetVal ? openDataset(cfg.targetVal.data, { labels: 'required', warn: log }) : null;
  if (val) {
    // before any step: a SYNTHIA subset on another dataset would fail at the first evaluation
    try { checkProtocol(cfg.targetVal!.protocol, val, 'targetVal.protocol'); } catch (e) { throw e instanceof UsageError ? new ConfigError(e.message) : e; }
  }
  const K = src.numClasses;
  for (const d of [tgt, val]) {
    if (d && d.numClasses !== K) throw new DataError(`dataset ${d.spec} has ${d.numClasses} classes but the source ${src.spec} has ${K}`);
  }
  const tgtSize = sizeOf(tgt, cfg.target.size, 'target.size', log);
  return { src, tgt, val, numClasses: K, srcSize: sizeOf(src, cfg.source.size, 'source.size', log), tgtSize,
    evalSize: val ? sizeOf(val, cfg.targetVal!.size ?? cfg.target.size, 'targetVal.size', log) : tgtSize };
}

/** The configured size, else the dataset's own (said in the log: a folder's is its images'). */
function sizeOf(ds: Dataset, given: readonly [number, number] | undefined, key: string, log: (l: string) => void): [number, number] {
  const s = given ?? ds.defaultSize;
  if (!s) throw new ConfigError(`'${key}' is required for dataset ${ds.spec} (it has no default size); give [W, H]`);
  if (!given) log(`${key}: ${s[0]}×${s[1]}, the own size of ${ds.spec} (set ${key} to resize)`);
  return [s[0], s[1]];
}

export function paletteOf(ds: Dataset): [number, number, number][] | null {
  return ds.palette ? ds.palette.map((c) => [c[0], c[1], c[2]] as [number, number, number]) : null;
}

/** The source and target loaders (own seeds, augmentation per domain), positioned at `consumed` samples of each stream. */
export function makeLoaders(cfg: TrainConfig, data: RunData, consumed: { source: number; target: number }, dist: DistEnv | null,
  targetLabels: boolean, rareClass?: RcsTable): { srcLoader: Loader; tgtLoader: Loader } {
  const aug = (d: TrainConfig['source']) => ({ randomScale: d.randomScale, flip: d.flip, normalize: cfg.normalize });
  // Checkpoints count samples of the global stream, so a run resumes with any world size (at a batch boundary).
  const world = dist?.worldSize ?? 1;
  const shard = { rank: dist?.rank ?? 0, worldSize: world };
  return {
    srcLoader: new Loader({ dataset: data.src, seed: cfg.seed, batchSize: cfg.batchSize, workers: cfg.workers, ...shard,
      ...(rareClass ? { rareClass } : {}),
      transform: { size: data.srcSize, ...aug(cfg.source) }, startAt: Math.floor(consumed.source / world) }),
    tgtLoader: new Loader({ dataset: data.tgt, seed: cfg.seed + 1, batchSize: cfg.batchSize, workers: cfg.workers, ...shard,
      // pseudo-labels are written at the training size as two stacked maps (data/pseudo.ts): never resized
      transform: { size: data.tgtSize, ...aug(cfg.target), ...(targetLabels ? { labelSize: 'native' as const } : {}) }, startAt: Math.floor(consumed.target / world) }),
  };
}

/** Where rare-class statistics are cached: $XDG_CACHE_HOME/clan/rcs, else ~/.cache/clan/rcs. */
export function rcsCacheDir(): string { return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'clan', 'rcs'); }

/**
 * DAFormer's rare-class sampling of the source (data/rcs.ts) when the method reads hyper.daformer and its
 * rcsTemperature is set: the class statistics are counted once per dataset (a progress line) and cached.
 */
export function rareClassTable(cfg: TrainConfig, data: RunData, log: (l: string) => void, cacheDir = rcsCacheDir()): RcsTable | undefined {
  const d = cfg.hyper.daformer;
  if (!METHODS.get(cfg.method).reads.includes('daformer') || d.rcsTemperature === null) return undefined;
  const table = rcsTable(cachedClassStats(data.src, cacheDir, log), d.rcsTemperature, d.rcsMinPixels);
  log(`rare-class sampling: ${table.classes.length} classes, rarest ${table.classes[0]} drawn with p ${table.probs[0]!.toFixed(3)}`);
  return table;
}

/** A host batch as tensors on `device`: on CUDA through pinned memory with non-blocking copies; labels travel as uint8. */
export function batchTensors(b: Batch, device: torch.Device = 'cpu'): { image: torch.Tensor; label: torch.Tensor | null } {
  return torch.tidy(() => {
    const image = toDevice(torch.fromTypedArray(b.images, [b.size, 3, b.height, b.width]), device);
    if (!b.labels) return { image, label: null };
    const l8 = toDevice(torch.fromTypedArray(b.labels, [b.size, b.labelHeight, b.labelWidth], 'uint8'), device);
    return { image, label: l8.to('int64') };
  });
}

function toDevice(t: torch.Tensor, device: torch.Device): torch.Tensor {
  return torch.isCuda(device) ? t.pinMemory().to(device, { nonBlocking: true }) : t;
}
