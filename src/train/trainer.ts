// The training loop, read top to bottom in train(): open the data, build G and the method, resume or initialise,
// then per step: fetch two batches, method.trainStep, check and log the losses, evaluate, checkpoint. Exact resume
// (docs/checkpoint.md), Ctrl-C writes a checkpoint, a non-finite loss stops the run. The trainer knows a method only
// through UDAMethod (its lossKeys and parts) and a network only through Segmentor.
import { appendFileSync, closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { execFileSync } from 'node:child_process';
import YAML from 'yaml';
import * as torch from '../torch/index.js';
import { openDataset } from '../data/registry.js';
import type { Dataset } from '../data/dataset.js';
import { Loader, type Batch } from '../data/loader.js';
import { createGenerator } from '../models/registry.js';
import type { Segmentor } from '../models/segmentor.js';
import { createMethod } from '../methods/registry.js';
import type { MethodParts, StepLog, UDAMethod } from '../methods/uda.js';
import { methodConfig } from '../config/load.js';
import { forMethod } from '../config/hyper.js';
import type { TrainConfig } from '../config/schema.js';
import { evaluate, perClassIou, type EvalResult } from '../eval/evaluate.js';
import { checkpointName, listCheckpoints, newestValidCheckpoint, pruneCheckpoints } from '../io/checkpoint.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { isZip } from '../io/zip.js';
import { ClanError, ConfigError, DataError } from '../util/errors.js';
import { makeDirs, packageRoot } from '../util/paths.js';
import { nextTurn } from '../util/tick.js';
import { stripPrefix } from '../util/prefix.js';
import { restoreParts, saveCheckpoint } from './checkpoint.js';
import { Interrupted } from './interrupted.js';
import { lockRunFolder } from './runlock.js';
import { TfEventsWriter } from '../report/tfevents.js';
import { encodePng } from '../report/png.js';
import { defaultPalette, type InferenceModel } from '../infer/model.js';
import { predictionStrip } from './report.js';
import { agreeOnStep, broadcastModules, gradientAverager, missingRanks, type DistEnv } from './ddp.js';
export { Interrupted };

/** Points where a test may act on a run; production code never sets them. */
export interface TrainHooks {
  afterStep?: (step: number, log: StepLog) => void;   // before the losses are checked (e.g. make one NaN)
  stopAfter?: (step: number) => boolean;              // true: behave as if Ctrl-C came during this step
  midCheckpointWrite?: (path: string) => void;        // half-way through writing a checkpoint file
  afterRun?: (parts: MethodParts) => void;            // after the last step, before the modules are freed
}

export interface TrainOptions {
  config: TrainConfig;
  outDir: string;
  resume?: boolean;
  commandLine?: string[];
  log?: (line: string) => void;                 // progress/logs (stderr)
  progress?: (step: number, total: number, s: StepLog, secs: number) => void;
  hooks?: TrainHooks;
  /** Data-parallel: this process's place (from the torchrun environment, train/ddp.ts); absent = one process. */
  dist?: DistEnv | null;
  /** Start over in a run folder that holds a run (its checkpoints and metrics are deleted); without it that is refused. */
  overwrite?: boolean;
  /** Aborting it acts as Ctrl-C: the step ends, a checkpoint is written, train() rejects with Interrupted. */
  signal?: AbortSignal;
}

export interface TrainResult {
  outDir: string; step: number; seconds: number; checkpoint: string;
  finalEval: EvalResult | null; best: { step: number; miou: number } | null;
  classNames: string[]; palette: [number, number, number][] | null; method: string;
}

/** The datasets of a run and the sizes they are read at ([W, H]). */
interface RunData {
  src: Dataset; tgt: Dataset; val: Dataset | null; numClasses: number;
  srcSize: [number, number]; tgtSize: [number, number]; evalSize: [number, number];
}

/** Where a run stands: what resume restores and every checkpoint saves. */
interface RunState { step: number; consumed: { source: number; target: number }; best: { step: number; miou: number } | null; lastCkpt: string }

let eventFiles = 0; // events files this process opened (two runs of one process may start in the same second)

export async function train(o: TrainOptions): Promise<TrainResult> {
  const dist = o.dist ?? null;
  // Rank 0 owns the run folder: one writer (a lock), no debris of interrupted writes, no silent mix of two runs.
  const release = !dist || dist.rank === 0 ? prepareRunFolder(resolve(o.outDir), o) : null;
  try {
    if (dist) {
      const c = o.config;
      const backend = c.distBackend === 'auto' ? torch.dist.defaultBackend(c.device) : c.distBackend;
      torch.dist.initProcessGroup({ ...dist, timeoutMs: c.distTimeout * 1000, backend, cudaIndex: dist.localRank });
    }
    return await trainProcess(o, dist);
  } finally {
    if (dist && torch.dist.isInitialized()) torch.dist.destroyProcessGroup();
    release?.();
  }
}

/** Locks the run folder, removes temp files of interrupted checkpoint writes, and refuses to mix two runs. */
function prepareRunFolder(out: string, o: TrainOptions): () => void {
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const ckptDir = join(out, 'checkpoints');
  makeDirs(ckptDir);
  const release = lockRunFolder(out, log);
  try {
    const debris = readdirSync(ckptDir).filter((f) => /^\.ckpt_\d+\.safetensors\.tmp-/.test(f));
    for (const f of debris) rmSync(join(ckptDir, f), { force: true });
    if (debris.length) log(`note: removed ${debris.length} temp file(s) of interrupted checkpoint writes from ${ckptDir}`);
    const metrics = join(out, 'metrics.jsonl');
    const held = listCheckpoints(ckptDir).length > 0 || (existsSync(metrics) && statSync(metrics).size > 0);
    if (held && !o.resume) {
      if (!o.overwrite) throw new ClanError(`--out ${out} already holds a run (checkpoints, metrics.jsonl); continue it with --resume ${out}, or start over with --overwrite`);
      for (const c of listCheckpoints(ckptDir)) rmSync(c, { force: true });
      rmSync(metrics, { force: true });
      log(`note: --overwrite: deleted the previous run's checkpoints and metrics in ${out}`);
    }
    return release;
  } catch (e) {
    release();
    throw e;
  }
}

async function trainProcess(o: TrainOptions, dist: DistEnv | null): Promise<TrainResult> {
  const cfg = o.config;
  const main = !dist || dist.rank === 0; // rank 0 alone logs, evaluates, writes metrics and checkpoints
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  const out = resolve(o.outDir);
  const ckptDir = join(out, 'checkpoints');
  makeDirs(ckptDir);
  // Data-parallel processes on one machine share its cores (torchrun sets OMP_NUM_THREADS=1; we divide).
  const threads = cfg.threads ?? Math.max(1, Math.floor(availableParallelism() / (dist?.localWorldSize ?? 1)));
  torch.setNumThreads(threads);
  const pointwiseBefore = torch.getPointwiseOnednn(); // a process-wide switch: restored when train() returns

  const data = openData(cfg, log);
  // Data-parallel on GPUs: one process per GPU, `cuda` meaning this process's cuda:LOCAL_RANK (as torchrun users expect).
  const device = applyDeviceSettings(dist && cfg.device === 'cuda' ? { ...cfg, device: `cuda:${dist.localRank}` } : cfg);
  torch.manualSeed(cfg.seed);
  // Initialised on the CPU (same weights on every device for a seed), then moved before the optimizers exist.
  const G = createGenerator(cfg.backbone, data.numClasses).to(device);
  let owned: UDAMethod | null = null;
  // Freed on every exit — an error or Ctrl-C too: a library caller's process goes on, nothing may wait for GC.
  try {
    torch.setPointwiseOnednn(cfg.pointwiseOnednn);
    const method = await createMethod(cfg.method, G, methodConfig(cfg));
    owned = method;
    // A pseudo:DIR target always carries its labels (data/pseudo.ts), however it was opened.
    if (method.targetLabels && !data.tgt.hasLabels) throw new ConfigError(`method '${cfg.method}' trains on target pseudo-labels: 'target.data' must be pseudo:DIR (clan selftrain writes it), got ${cfg.target.data}`);
    const metricsPath = join(out, 'metrics.jsonl');
    const state = o.resume ? resumeRun(out, ckptDir, cfg, data, method, threads, log, main) : freshRun(cfg, G, metricsPath, log, main);
    // TensorBoard: a new events file per process start; a resumed run first tells TensorBoard to forget the steps
    // after its checkpoint (they are run again), as SummaryWriter(purge_step=…) does.
    const tb = main && cfg.tensorboard ? new TfEventsWriter(out, { suffix: `${process.pid}.${++eventFiles}` }) : null; // unique: pid and count, as SummaryWriter
    if (tb && o.resume) tb.sessionStart(state.step + 1);
    if (main) writeRunInfo(out, cfg, o, { threads, device, start: state.step, worldSize: dist?.worldSize ?? 1, classNames: [...data.src.classNames], palette: paletteOf(data.src) });
    if (dist) {
      const parts0 = method.parts(); // DDP's start: rank 0's weights everywhere
      broadcastModules([G, ...(parts0.D ? [parts0.D] : []), ...Object.values(parts0.modules ?? {})]);
      method.gradSync = gradientAverager(dist.worldSize, { overlap: cfg.ddpOverlap });
      const parts = method.parts();
      for (const opt of [parts.optG, parts.optD]) if (opt) opt.gradToNone = false; // gradients live in the all-reduce buckets
      if (cfg.syncBN) torch.convertSyncBatchNorm(G);
    }

    const { srcLoader, tgtLoader } = makeLoaders(cfg, data, state.consumed, dist, method.targetLabels);
    const run: Run = { cfg, data, G, method, device, threads, out, ckptDir, metricsPath, state, srcLoader, tgtLoader, hooks: o.hooks ?? {}, log, dist, main, tb, signal: o.signal ?? null };
    const t0 = Date.now();
    let finalEval: EvalResult | null;
    try {
      finalEval = await trainLoop(run, t0, main ? o.progress : undefined);
    } catch (e) {
      if (dist && e instanceof torch.dist.DistError) throw await peerFailure(run, e);
      throw e;
    } finally {
      await srcLoader.close();
      await tgtLoader.close();
      tb?.close();
    }
    run.hooks.afterRun?.(method.parts());
    return { outDir: out, step: Math.max(state.step, cfg.iters), seconds: (Date.now() - t0) / 1000, checkpoint: state.lastCkpt,
      finalEval, best: state.best, classNames: [...data.src.classNames], palette: paletteOf(data.src), method: cfg.method };
  } finally {
    owned?.dispose();
    G.dispose();
    torch.setPointwiseOnednn(pointwiseBefore);
  }
}

/** Steps from the run's position to cfg.iters, evaluating and checkpointing on schedule; returns the final evaluation. */
async function trainLoop(run: Run, t0: number, progress: TrainOptions['progress']): Promise<EvalResult | null> {
  const { cfg, state } = run;
  const start = state.step;
  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.on('SIGINT', onSigint);
  try {
    let finalEval: EvalResult | null = null;
    for (let i = start; i < cfg.iters; i++) {
      await nextTurn(); // signals, worker messages and tensor-wrapper finalizers run between steps (util/tick.ts)
      const step = i + 1;
      const { log: s, stop } = await trainOneStep(run, i, () => interrupted || run.signal?.aborted === true || run.hooks.stopAfter?.(step) === true);
      progress?.(step, cfg.iters, s, (Date.now() - t0) / 1000);
      const last = step === cfg.iters;
      const ckptDue = step % cfg.checkpointEvery === 0 || last;
      if (step % (cfg.evalEvery ?? cfg.checkpointEvery) === 0 || last) { const r = await evaluateRun(run, step); if (last) finalEval = r; }
      if (ckptDue) checkpoint(run, step);
      if (stop) {
        if (!ckptDue) checkpoint(run, step);
        throw new Interrupted(`interrupted at step ${step}; checkpoint ${state.lastCkpt}; continue with: clan train --resume ${run.out}`);
      }
    }
    if (start < cfg.iters) return finalEval;
    state.lastCkpt = join(run.ckptDir, checkpointName(start)); // resumed a finished run: evaluate its last checkpoint again
    return await evaluateRun(run, start);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The source and target loaders (own seeds, augmentation per domain), positioned where the run stands. */
function makeLoaders(cfg: TrainConfig, data: RunData, consumed: RunState['consumed'], dist: DistEnv | null, targetLabels: boolean): { srcLoader: Loader; tgtLoader: Loader } {
  const aug = (d: TrainConfig['source']) => ({ randomScale: d.randomScale, flip: d.flip, normalize: cfg.normalize });
  // Checkpoints count samples of the global stream, so a run resumes with any world size (at a batch boundary).
  const world = dist?.worldSize ?? 1;
  const shard = { rank: dist?.rank ?? 0, worldSize: world };
  return {
    srcLoader: new Loader({ dataset: data.src, seed: cfg.seed, batchSize: cfg.batchSize, workers: cfg.workers, ...shard,
      transform: { size: data.srcSize, ...aug(cfg.source) }, startAt: Math.floor(consumed.source / world) }),
    tgtLoader: new Loader({ dataset: data.tgt, seed: cfg.seed + 1, batchSize: cfg.batchSize, workers: cfg.workers, ...shard,
      // pseudo-labels are written at the training size as two stacked maps (data/pseudo.ts): never resized
      transform: { size: data.tgtSize, ...aug(cfg.target), ...(targetLabels ? { labelSize: 'native' as const } : {}) }, startAt: Math.floor(consumed.target / world) }),
  };
}

/** Everything the steps of a run share. */
interface Run {
  cfg: TrainConfig; data: RunData; G: Segmentor; method: UDAMethod; device: torch.Device; threads: number;
  out: string; ckptDir: string; metricsPath: string; state: RunState; srcLoader: Loader; tgtLoader: Loader;
  hooks: TrainHooks; log: (l: string) => void;
  dist: DistEnv | null; main: boolean;   // data-parallel place; main = rank 0 (or the only process)
  tb: TfEventsWriter | null;             // TensorBoard events (rank 0, config 'tensorboard')
  signal: AbortSignal | null;            // a library caller's stop (TrainOptions.signal)
}

/** Opens source, target and validation sets; they must agree on the class count. */
function openData(cfg: TrainConfig, log: (l: string) => void): RunData {
  const src = openDataset(cfg.source.data, { labels: 'required', warn: log, skipBad: cfg.source.skipBad });
  const tgt = openDataset(cfg.target.data, { labels: 'none', warn: log, skipBad: cfg.target.skipBad });
  const val = cfg.targetVal ? openDataset(cfg.targetVal.data, { labels: 'required', warn: log }) : null;
  const K = src.numClasses;
  for (const d of [tgt, val]) {
    if (d && d.numClasses !== K) throw new DataError(`dataset ${d.spec} has ${d.numClasses} classes but the source ${src.spec} has ${K}`);
  }
  const tgtSize = sizeOf(tgt, cfg.target.size, 'target.size');
  return { src, tgt, val, numClasses: K, srcSize: sizeOf(src, cfg.source.size, 'source.size'), tgtSize,
    evalSize: val ? sizeOf(val, cfg.targetVal!.size ?? cfg.target.size, 'targetVal.size') : tgtSize };
}

function sizeOf(ds: Dataset, given: readonly [number, number] | undefined, key: string): [number, number] {
  const s = given ?? ds.defaultSize;
  if (!s) throw new ConfigError(`'${key}' is required for dataset ${ds.spec} (it has no default size); give [W, H]`);
  return [s[0], s[1]];
}

function paletteOf(ds: Dataset): [number, number, number][] | null {
  return ds.palette ? ds.palette.map((c) => [c[0], c[1], c[2]] as [number, number, number]) : null;
}

/** A new run: optional --init weights, an empty metrics log. */
function freshRun(cfg: TrainConfig, G: Segmentor, metricsPath: string, log: (l: string) => void, main: boolean): RunState {
  if (cfg.init && main) loadInit(cfg.init, G, cfg.initScope, log); // data-parallel: the other ranks receive it by broadcast
  if (main) writeFileSync(metricsPath, '');
  return { step: 0, consumed: { source: 0, target: 0 }, best: null, lastCkpt: '' };
}

/** --resume: the newest valid checkpoint restores modules, optimizers, RNG and loader positions. */
function resumeRun(out: string, ckptDir: string, cfg: TrainConfig, data: RunData, method: UDAMethod, threads: number, log: (l: string) => void, main: boolean): RunState {
  const ck = newestValidCheckpoint(ckptDir, log);
  if (!ck) throw new ClanError(`--resume ${out}: no valid checkpoint in ${ckptDir}`);
  if (ck.meta.backbone !== cfg.backbone || ck.meta.numClasses !== data.numClasses) {
    throw new ClanError(`--resume ${out}: checkpoint is ${ck.meta.backbone} with ${ck.meta.numClasses} classes, config says ${cfg.backbone} with ${data.numClasses}`);
  }
  restoreParts(ck, method.parts());
  torch.setRngState(new Uint8Array(Buffer.from(ck.meta.torchRng, 'base64')));
  const step = ck.meta.step;
  if (main && ck.meta.threads !== threads) log(`warning: the run used ${ck.meta.threads} threads, now ${threads}: results stay correct but are no longer bit-identical to an uninterrupted run`);
  // Keep the log consistent with the restored state: drop lines written after the checkpoint.
  const metricsPath = join(out, 'metrics.jsonl');
  if (main && existsSync(metricsPath)) writeFileSync(metricsPath, metricsUpTo(metricsPath, step, log).map((l) => l + '\n').join(''));
  if (main) log(`resuming ${out} from ${ck.path} (step ${step})`);
  return { step, consumed: ck.meta.loaders, best: ck.meta.best ?? null, lastCkpt: '' };
}

/**
 * The lines of metrics.jsonl up to `step`. A torn last line (power lost mid-append) is dropped with a note; a
 * damaged line before it is an error naming the line.
 */
function metricsUpTo(path: string, step: number, log: (l: string) => void): string[] {
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
  const kept: string[] = [];
  for (const [i, l] of lines.entries()) {
    let row: { step?: unknown };
    try { row = JSON.parse(l) as { step?: unknown }; } catch {
      if (i === lines.length - 1) { log(`note: ${path}: dropped a torn last line (an interrupted write)`); break; }
      throw new ClanError(`${path}: line ${i + 1} is not JSON; repair or delete the file to resume`);
    }
    if (typeof row.step === 'number' && row.step <= step) kept.push(l);
  }
  return kept;
}

interface RunInfo { threads: number; device: torch.Device; start: number; worldSize: number; classNames: string[]; palette: [number, number, number][] | null }

/** config.yaml (the resolved config) and run.json (code version, engine, threads, device, command line, classes). */
function writeRunInfo(out: string, cfg: TrainConfig, o: TrainOptions, i: RunInfo): void {
  writeFileSync(join(out, "config.yaml"), YAML.stringify(forMethod(cfg)));
  writeFileSync(join(out, 'run.json'), JSON.stringify({ git: gitHash(), libtorch: torch.buildInfo().version, threads: i.threads, device: i.device, amp: cfg.amp,
    worldSize: i.worldSize, command: o.commandLine ?? process.argv.slice(2), resumedAt: o.resume ? i.start : null, time: new Date().toISOString(),
    classNames: i.classNames, palette: i.palette }, null, 2) + '\n');
}

function gitHash(): string | null {
  try { return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: packageRoot(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; }
}

/**
 * Iteration i: two batches on the device, one method step, the losses checked and appended to metrics.jsonl.
 * Data-parallel: the logged losses are the mean over ranks, and `stop` is true on every rank if it is on any.
 */
async function trainOneStep(run: Run, i: number, wantStop: () => boolean): Promise<{ log: StepLog; stop: boolean }> {
  const ts = Date.now();
  const sb = await run.srcLoader.next();
  const tb = await run.tgtLoader.next();
  if (!sb || !tb) throw new DataError('a training loader ended early');
  const tgtSize: [number, number] = [run.data.tgtSize[1], run.data.tgtSize[0]];
  const s = torch.tidy(() => {
    const src = batchTensors(sb, run.device);
    const tgt = batchTensors(tb, run.device);
    return run.method.trainStep(i, { image: src.image, label: src.label! }, { image: tgt.image, size: tgtSize, ...(run.method.targetLabels && tgt.label ? { label: tgt.label } : {}) });
  });
  const step = i + 1;
  run.hooks.afterStep?.(step, s);
  let stop = wantStop();
  if (run.dist) {
    const keys = run.method.lossKeys.filter((k) => s.losses[k] !== undefined);
    const a = agreeOnStep([...keys.map((k) => s.losses[k]!), s.m ?? 0], stop, run.dist.worldSize);
    keys.forEach((k, j) => { s.losses[k] = a.values[j]!; });
    if (s.m !== undefined) s.m = a.values[keys.length]!;
    stop = a.stop;
  }
  for (const k of run.method.lossKeys) {
    const v = s.losses[k];
    if (v !== undefined && !Number.isFinite(v)) {
      throw new ClanError(`loss '${k}' is ${v} at step ${step}; stopped, the last good checkpoint is ${run.state.lastCkpt || '(none yet)'}`);
    }
  }
  const losses = run.method.lossKeys.filter((k) => s.losses[k] !== undefined).map((k) => [k, s.losses[k]!] as const);
  const seconds = (Date.now() - ts) / 1000;
  if (run.main) appendFileSync(run.metricsPath, JSON.stringify({ step, lr: s.lrG, ...(s.lrD !== undefined ? { lr_d: s.lrD } : {}),
    ...Object.fromEntries(losses), ...(s.m !== undefined ? { m: s.m } : {}), seconds }) + '\n');
  run.tb?.scalars(step, { ...Object.fromEntries(losses.map(([k, v]) => [`loss/${k}`, v])), 'lr/G': s.lrG, ...(s.lrD !== undefined ? { 'lr/D': s.lrD } : {}),
    ...(s.m !== undefined ? { 'disagreement/M': s.m } : {}), 'time/step_seconds': seconds });
  return { log: s, stop };
}

/** Evaluates G on the target validation split (if any), logs it, and tracks the best mIoU. */
async function evaluateRun(run: Run, step: number): Promise<EvalResult | null> {
  const { val, evalSize, src } = run.data;
  const tv = run.cfg.targetVal;
  if (!val || !tv || !run.main) return null;
  const r = await evaluate(run.G, val, { size: evalSize, protocol: tv.protocol, normalize: run.cfg.normalize, device: run.device,
    ...(tv.limit ? { limit: tv.limit } : {}) });
  // iou (class order, null = absent) and the confusion matrix (rows = ground truth, flat) feed the run report.
  appendFileSync(run.metricsPath, JSON.stringify({ step, eval: { miou: r.miou, per_class_iou: perClassIou(r, src.classNames), images: r.images,
    iou: Array.from(r.iou, (v) => (Number.isNaN(v) ? null : v)), confusion: Array.from(r.confusion) } }) + '\n');
  if (run.state.best === null || r.miou > run.state.best.miou) run.state.best = { step, miou: r.miou };
  if (run.tb) tbEval(run, step, r, val);
  return r;
}

const TB_SAMPLES = 3; // validation images drawn into TensorBoard at each evaluation

/** val/mIoU, val/IoU/<class> and [image | ground truth | prediction] strips of the first validation images. */
function tbEval(run: Run, step: number, r: EvalResult, val: Dataset): void {
  const names = run.data.src.classNames;
  run.tb!.scalars(step, { 'val/mIoU': r.miou, ...Object.fromEntries(names.flatMap((n, c) => (Number.isNaN(r.iou[c]!) ? [] : [[`val/IoU/${n}`, r.iou[c]!]]))) });
  const m: InferenceModel = { G: run.G, path: run.out, backbone: run.cfg.backbone, numClasses: run.data.numClasses, classNames: [...names],
    palette: paletteOf(run.data.src) ?? defaultPalette(run.data.numClasses), normalize: run.cfg.normalize, evalSize: run.data.evalSize, step, config: forMethod(run.cfg) };
  const wasTraining = run.G.training;
  run.G.eval();
  try {
    for (let i = 0; i < Math.min(TB_SAMPLES, val.length); i++) {
      const st = predictionStrip(m, val.load(i));
      run.tb!.image(`val/sample_${i}`, encodePng(st.rgb, st.width, st.height), st.width, st.height, step);
    }
  } finally {
    if (wasTraining) run.G.train();
  }
}

/** A collective failed: name the ranks that are gone (train/ddp.ts missingRanks) in one line. */
async function peerFailure(run: Run, e: Error): Promise<ClanError> {
  const gone = await missingRanks(run.dist!.rank, run.dist!.worldSize);
  const who = gone === 'store' ? 'rank 0 (the rendezvous host)' : gone.length ? `rank ${gone.join(', ')}` : 'a rank';
  return new ClanError(`${who} died or stopped responding (${e.message}); the last checkpoint is ${run.state.lastCkpt || '(none yet)'}; continue with: clan train --resume ${run.out}`);
}

/** Saves everything exact resume needs, then prunes to keepLast + the best. */
function checkpoint(run: Run, step: number): void {
  const { cfg, data, state } = run;
  const world = run.dist?.worldSize ?? 1;
  if (!run.main) { state.lastCkpt = join(run.ckptDir, checkpointName(step)); return; }
  const hook = run.hooks.midCheckpointWrite;
  state.lastCkpt = saveCheckpoint(run.ckptDir, run.method.parts(), {
    step, method: cfg.method, backbone: cfg.backbone, numClasses: data.numClasses, classNames: [...data.src.classNames],
    palette: paletteOf(data.src), normalize: cfg.normalize, evalSize: data.evalSize, config: forMethod(cfg),
    torchRng: Buffer.from(torch.getRngState()).toString('base64'),
    loaders: { source: run.srcLoader.consumed * world, target: run.tgtLoader.consumed * world }, libtorch: torch.buildInfo().version,
    threads: run.threads, device: run.device, ...(state.best ? { best: state.best } : {}),
  }, hook ? { midWrite: () => hook(join(run.ckptDir, checkpointName(step))) } : {});
  pruneCheckpoints(run.ckptDir, cfg.keepLast, state.best?.step ?? null);
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

/** --init: converted weights (`clan convert`, keys G.*) into G — the backbone only (heads stay at init) or all. */
export function loadInit(path: string, G: Segmentor, scope: 'backbone' | 'all', log: (l: string) => void): void {
  let st;
  try { st = readSafetensorsFile(path); } catch (e) {
    if (existsSync(path) && isPyTorchFile(path)) throw new ClanError(`--init ${path} is a PyTorch file (.pth), not converted weights; convert it first: clan convert ${path} init.safetensors`);
    throw e;
  }
  const g = stripPrefix(st.tensors, 'G.');
  if (g.size === 0) throw new ClanError(`--init ${path}: no 'G.*' weights (convert PyTorch files first: clan convert IN OUT)`);
  const wanted = scope === 'backbone' ? new Map([...g].filter(([k]) => !G.isHeadKey(k))) : g;
  const r = G.loadStateDict(wanted, false, `--init ${path}`);
  const missing = r.missing.filter((k) => !(scope === 'backbone' && G.isHeadKey(k)) && !k.endsWith('num_batches_tracked'));
  log(`--init ${path}: loaded ${wanted.size - r.unexpected.length} tensors (${scope})${missing.length ? `; left at init: ${missing.length}` : ''}${r.unexpected.length ? `; unused: ${r.unexpected.length}` : ''}`);
}

/** A zip archive (torch.save since 1.6, io/zip.ts isZip) or a pickle stream (older torch.save: PROTO opcode 0x80). */
function isPyTorchFile(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(4);
    readSync(fd, head, 0, 4, 0);
    return isZip(head) || head[0] === 0x80;
  } finally { closeSync(fd); }
}
