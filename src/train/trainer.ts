// The training loop: datasets → loaders → method.trainStep, with metrics.jsonl, periodic evaluation on the target
// validation split, checkpoints (keep last K + best), exact resume, Ctrl-C and NaN handling.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import YAML from 'yaml';
import * as torch from '../torch/index.js';
import { openDataset, loadOptionalDatasetTypes } from '../data/registry.js';
import type { Dataset } from '../data/dataset.js';
import { Loader, type Batch } from '../data/loader.js';
import { createGenerator } from '../models/registry.js';
import { METHODS } from '../methods/registry.js';
import type { StepLog, UDAMethod } from '../methods/uda.js';
import { methodConfig } from '../config/load.js';
import type { TrainConfig } from '../config/schema.js';
import { evaluate, perClassIou, type EvalResult } from '../eval/evaluate.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { ClanError, ConfigError, DataError } from '../util/errors.js';
import { makeDirs, packageRoot } from '../util/paths.js';
import { stripPrefix } from '../util/prefix.js';
import { newestValidCheckpoint, pruneCheckpoints, restoreParts, saveCheckpoint, checkpointName } from './checkpoint.js';

import { Interrupted } from './interrupted.js';
export { Interrupted };

export interface TrainOptions {
  config: TrainConfig;
  outDir: string;
  resume?: boolean;
  commandLine?: string[];
  log?: (line: string) => void;                 // progress/logs (stderr)
  progress?: (step: number, total: number, s: StepLog, secs: number) => void;
  debugNanAt?: number;                          // inject a NaN loss at this step (tests)
  stopAt?: number;                              // behave as if Ctrl-C came during this step (tests)
}

export interface TrainResult {
  outDir: string; step: number; seconds: number; checkpoint: string;
  finalEval: EvalResult | null; best: { step: number; miou: number } | null;
  classNames: string[]; palette: [number, number, number][] | null; method: string;
}

const LOSS_KEYS = ['seg', 'adv', 'weight', 'd_s', 'd_t'] as const;

function gitHash(): string | null {
  try { return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; }
}

function sizeOf(ds: Dataset, given: readonly [number, number] | undefined, key: string): [number, number] {
  const s = given ?? ds.defaultSize;
  if (!s) throw new ConfigError(`'${key}' is required for dataset ${ds.spec} (it has no default size); give [W, H]`);
  return [s[0], s[1]];
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

/** CUDA settings of a run (torch.backends.cudnn.*): benchmark unless deterministic; no effect on the CPU. */
export function applyDeviceSettings(cfg: Pick<TrainConfig, 'device' | 'cudnnBenchmark' | 'deterministic' | 'amp'>): torch.Device {
  const device = torch.parseDevice(cfg.device, 'device');
  if (cfg.amp === 'fp16' && !torch.isCuda(device)) throw new ConfigError("'amp': fp16 needs a CUDA device (the CPU's autocast computes in bf16: use amp bf16 there)");
  if (torch.isCuda(device)) {
    // cuBLAS needs a fixed workspace to be deterministic; the variable is read when cuBLAS starts (after this).
    if (cfg.deterministic) process.env.CUBLAS_WORKSPACE_CONFIG ??= ':4096:8';
    torch.setBackendFlags({ cudnnBenchmark: cfg.cudnnBenchmark && !cfg.deterministic, cudnnDeterministic: cfg.deterministic });
  }
  return device;
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const cfg = o.config;
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const out = resolve(o.outDir);
  const ckptDir = join(out, 'checkpoints');
  makeDirs(ckptDir);
  const threads = cfg.threads ?? availableParallelism();
  torch.setNumThreads(threads);
  await loadOptionalDatasetTypes();

  const srcDs = openDataset(cfg.source.data, { labels: 'required', warn: log, skipBad: cfg.source.skipBad });
  const tgtDs = openDataset(cfg.target.data, { labels: 'none', warn: log, skipBad: cfg.target.skipBad });
  const valDs = cfg.targetVal ? openDataset(cfg.targetVal.data, { labels: 'required', warn: log }) : null;
  const K = srcDs.numClasses;
  for (const d of [tgtDs, valDs]) {
    if (d && d.numClasses !== K) throw new DataError(`dataset ${d.spec} has ${d.numClasses} classes but the source ${srcDs.spec} has ${K}`);
  }
  const srcSize = sizeOf(srcDs, cfg.source.size, 'source.size');
  const tgtSize = sizeOf(tgtDs, cfg.target.size, 'target.size');
  const evalSize = valDs ? sizeOf(valDs, cfg.targetVal!.size ?? cfg.target.size, 'targetVal.size') : tgtSize;

  const device = applyDeviceSettings(cfg);
  torch.manualSeed(cfg.seed);
  // Initialised on the CPU (same weights on every device for a seed), then moved before the optimizers exist.
  const G = createGenerator(cfg.backbone, K).to(device);
  const mcfg = methodConfig(cfg);
  const method: UDAMethod = METHODS.get(cfg.method)(G, mcfg);
  const parts = method.parts();
  const classNames = [...srcDs.classNames];
  const palette = srcDs.palette ? srcDs.palette.map((c) => [c[0], c[1], c[2]] as [number, number, number]) : null;

  let start = 0;
  let consumed = { source: 0, target: 0 };
  let best: { step: number; miou: number } | null = null;
  const metricsPath = join(out, 'metrics.jsonl');
  if (o.resume) {
    const ck = newestValidCheckpoint(ckptDir, log);
    if (!ck) throw new ClanError(`--resume ${out}: no valid checkpoint in ${ckptDir}`);
    if (ck.meta.backbone !== cfg.backbone || ck.meta.numClasses !== K) {
      throw new ClanError(`--resume ${out}: checkpoint is ${ck.meta.backbone} with ${ck.meta.numClasses} classes, config says ${cfg.backbone} with ${K}`);
    }
    restoreParts(ck, parts);
    torch.setRngState(new Uint8Array(Buffer.from(ck.meta.torchRng, 'base64')));
    start = ck.meta.step;
    consumed = ck.meta.loaders;
    best = ck.meta.best ?? null;
    if (ck.meta.threads !== threads) log(`warning: the run used ${ck.meta.threads} threads, now ${threads}: results stay correct but are no longer bit-identical to an uninterrupted run`);
    // Keep the log consistent with the restored state: drop lines written after the checkpoint.
    if (existsSync(metricsPath)) {
      const kept = readFileSync(metricsPath, 'utf8').split('\n').filter((l) => l && (JSON.parse(l) as { step: number }).step <= start);
      writeFileSync(metricsPath, kept.map((l) => l + '\n').join(''));
    }
    log(`resuming ${out} from ${ck.path} (step ${start})`);
  } else {
    if (cfg.init) loadInit(cfg.init, G, cfg.initScope, log);
    writeFileSync(metricsPath, '');
  }
  writeFileSync(join(out, 'config.yaml'), YAML.stringify(cfg));
  writeFileSync(join(out, 'run.json'), JSON.stringify({ git: gitHash(), libtorch: torch.buildInfo().version, threads, device, amp: cfg.amp,
    command: o.commandLine ?? process.argv.slice(2), resumedAt: o.resume ? start : null, time: new Date().toISOString() }, null, 2) + '\n');

  const aug = (d: TrainConfig['source']) => ({ randomScale: d.randomScale, flip: d.flip, normalize: cfg.normalize });
  const srcLoader = new Loader({ dataset: srcDs, seed: cfg.seed, batchSize: cfg.batchSize, workers: cfg.workers,
    transform: { size: srcSize, ...aug(cfg.source) }, startAt: consumed.source });
  const tgtLoader = new Loader({ dataset: tgtDs, seed: cfg.seed + 1, batchSize: cfg.batchSize, workers: cfg.workers,
    transform: { size: tgtSize, ...aug(cfg.target) }, startAt: consumed.target });

  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.on('SIGINT', onSigint);
  const evalEvery = cfg.evalEvery ?? cfg.checkpointEvery;
  let lastCkpt = '';
  let finalEval: EvalResult | null = null;
  const t0 = Date.now();
  const runEval = async (step: number): Promise<EvalResult | null> => {
    if (!valDs) return null;
    const r = await evaluate(G, valDs, { size: evalSize, protocol: cfg.targetVal!.protocol, normalize: cfg.normalize, device,
      ...(cfg.targetVal!.limit ? { limit: cfg.targetVal!.limit } : {}) });
    appendFileSync(metricsPath, JSON.stringify({ step, eval: { miou: r.miou, per_class_iou: perClassIou(r, classNames), images: r.images } }) + '\n');
    if (best === null || r.miou > best.miou) best = { step, miou: r.miou };
    return r;
  };
  const checkpoint = (step: number): string => {
    lastCkpt = saveCheckpoint(ckptDir, parts, {
      step, method: cfg.method, backbone: cfg.backbone, numClasses: K, classNames, palette, normalize: cfg.normalize,
      evalSize, config: cfg, torchRng: Buffer.from(torch.getRngState()).toString('base64'),
      loaders: { source: srcLoader.consumed, target: tgtLoader.consumed }, libtorch: torch.buildInfo().version, threads, device,
      ...(best ? { best } : {}),
    });
    pruneCheckpoints(ckptDir, cfg.keepLast, best ? (best as { step: number }).step : null);
    return lastCkpt;
  };

  try {
    for (let i = start; i < cfg.iters; i++) {
      // Let the event loop run once per step: signals (Ctrl-C) and worker messages arrive as macrotasks, which a
      // loop of already-resolved promises would starve.
      await new Promise<void>((r) => setImmediate(r));
      const ts = Date.now();
      const sb = await srcLoader.next();
      const tb = await tgtLoader.next();
      if (!sb || !tb) throw new DataError('a training loader ended early');
      const s = torch.tidy(() => {
        const src = batchTensors(sb, device);
        const tgt = batchTensors(tb, device);
        return method.trainStep(i, { image: src.image, label: src.label! }, { image: tgt.image, size: [tgtSize[1], tgtSize[0]] });
      });
      const step = i + 1;
      if (o.debugNanAt === step) s.seg = NaN;
      for (const k of LOSS_KEYS) {
        const v = s[k];
        if (v !== undefined && !Number.isFinite(v)) {
          throw new ClanError(`loss '${k}' is ${v} at step ${step}; stopped, the last good checkpoint is ${lastCkpt || '(none yet)'}`);
        }
      }
      const secs = (Date.now() - ts) / 1000;
      appendFileSync(metricsPath, JSON.stringify({ step, lr: s.lrG, ...(s.lrD !== undefined ? { lr_d: s.lrD } : {}),
        ...Object.fromEntries(LOSS_KEYS.filter((k) => s[k] !== undefined).map((k) => [k, s[k]])),
        ...(s.m !== undefined ? { m: s.m } : {}), seconds: secs }) + '\n');
      o.progress?.(step, cfg.iters, s, (Date.now() - t0) / 1000);
      const last = step === cfg.iters;
      if (step % evalEvery === 0 || last) {
        const r = await runEval(step);
        if (last) finalEval = r;
      }
      if (step % cfg.checkpointEvery === 0 || last) checkpoint(step);
      if (interrupted || o.stopAt === step) {
        if (!(step % cfg.checkpointEvery === 0 || last)) checkpoint(step);
        throw new Interrupted(`interrupted at step ${step}; checkpoint ${lastCkpt}; continue with: clan train --resume ${out}`);
      }
    }
    if (start >= cfg.iters) {
      lastCkpt = join(ckptDir, checkpointName(start));
      finalEval = await runEval(start);
    }
  } finally {
    process.off('SIGINT', onSigint);
    await srcLoader.close();
    await tgtLoader.close();
  }
  const result: TrainResult = { outDir: out, step: Math.max(start, cfg.iters), seconds: (Date.now() - t0) / 1000, checkpoint: lastCkpt,
    finalEval, best, classNames, palette, method: cfg.method };
  method.dispose();
  parts.D?.dispose();
  G.dispose();
  return result;
}

/** --init: converted weights (`clan convert`, keys G.*) into G — the backbone only (heads stay random) or all. */
export function loadInit(path: string, G: torch.Module, scope: 'backbone' | 'all', log: (l: string) => void): void {
  const st = readSafetensorsFile(path);
  const g = stripPrefix(st.tensors, 'G.');
  if (g.size === 0) throw new ClanError(`--init ${path}: no 'G.*' weights (convert PyTorch files first: clan convert IN OUT)`);
  const wanted = scope === 'backbone' ? new Map([...g].filter(([k]) => !/^layer[56]\./.test(k))) : g;
  const r = G.loadStateDict(wanted, false, `--init ${path}`);
  const missing = r.missing.filter((k) => !(scope === 'backbone' && /^layer[56]\./.test(k)) && !k.endsWith('num_batches_tracked'));
  log(`--init ${path}: loaded ${wanted.size - r.unexpected.length} tensors (${scope})${missing.length ? `; left at init: ${missing.length}` : ''}${r.unexpected.length ? `; unused: ${r.unexpected.length}` : ''}`);
}
