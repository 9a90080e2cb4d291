// The training loop, read top to bottom in train(): lock the run folder, open the data, build G and the method,
// resume or initialise, then per step: fetch two batches, method.trainStep, check and log the losses, evaluate,
// checkpoint. Exact resume (docs/checkpoint.md), Ctrl-C writes a checkpoint, a non-finite loss stops the run. The
// trainer knows a method only through UDAMethod (its lossKeys and parts) and a network only through Segmentor; the run
// folder (run-folder.ts), the run log (run-log.ts) and the data (run-data.ts) are modules of their own.
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import * as torch from '../torch/index.js';
import type { Loader } from '../data/loader.js';
import { createSegmentor } from '../models/registry.js';
import type { Segmentor } from '../models/segmentor.js';
import { createMethod } from '../methods/registry.js';
import type { MethodParts, StepLog, UDAMethod } from '../methods/uda.js';
import { agreeOnStep, broadcastModules, gradientAverager, missingRanks, type DistEnv } from '../methods/ddp.js';
import { methodConfig } from '../config/load.js';
import { forMethod } from '../config/hyper.js';
import type { TrainConfig } from '../config/schema.js';
import { evaluate, perClassIou, type EvalResult } from '../eval/evaluate.js';
import { checkpointName, newestValidCheckpoint, pruneCheckpoints, assertResumable } from '../io/checkpoint.js';
import { defaultPalette, type InferenceModel } from '../infer/model.js';
import { loadInit } from '../infer/init-weights.js';
import { encodePng } from '../report/png.js';
import { ClanError, ConfigError, DataError } from '../util/errors.js';
import { makeDirs } from '../util/paths.js';
import { nextTurn } from '../util/tick.js';
import { restoreParts, saveCheckpoint } from './checkpoint.js';
import { Interrupted } from './interrupted.js';
import { prepareRunFolder, writeRunInfo } from './run-folder.js';
import { openRunLog, type RunLog } from './run-log.js';
import { batchTensors, makeLoaders, openData, rareClassTable, paletteOf, type RunData } from './run-data.js';
import { predictionStrip } from './report.js';
import { checkRunBudget, paramCount } from './budget.js';
export { Interrupted };

/** Points where a test may act on a run; production code never sets them. */
export interface TrainHooks {
  afterStep?: (step: number, log: StepLog) => void;   // before the losses are checked (e.g. make one NaN)
  stopAfter?: (step: number) => boolean;              // true: behave as if Ctrl-C came during this step
  midCheckpointWrite?: (path: string) => void;        // half-way through writing a checkpoint file
  midLogRewrite?: (path: string) => void;             // half-way through rewriting metrics.jsonl (fresh or resumed run)
  afterRun?: (parts: MethodParts) => void;            // after the last step, before the modules are freed
}

export interface TrainOptions {
  config: TrainConfig;
  outDir: string;
  resume?: boolean;
  commandLine?: string[];
  log?: (line: string) => void;                 // progress/logs (stderr)
  progress?: (step: number, total: number, s: StepLog, secs: number, from: number) => void; // from: the step resumed at
  hooks?: TrainHooks;
  /** Data-parallel: this process's place (from the torchrun environment, methods/ddp.ts); absent = one process. */
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

/** Where a run stands: what resume restores and every checkpoint saves. */
interface RunState {
  step: number; consumed: { source: number; target: number }; best: { step: number; miou: number } | null; lastCkpt: string;
}

/** What a run is made of before it steps: its config, data, network, method, device and place among the processes. */
interface RunSetup {
  cfg: TrainConfig; data: RunData; G: Segmentor; method: UDAMethod; device: torch.Device; threads: number;
  out: string; ckptDir: string; log: (l: string) => void;
  dist: DistEnv | null; isRank0: boolean;   // rank 0 (or the only process) alone logs, evaluates and checkpoints
}

/** Everything the steps of a run share. */
interface Run extends RunSetup {
  state: RunState; srcLoader: Loader; tgtLoader: Loader; hooks: TrainHooks;
  runLog: RunLog | null;                    // metrics.jsonl and TensorBoard (rank 0)
  signal: AbortSignal | null;               // a library caller's stop (TrainOptions.signal)
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const dist = o.dist ?? null;
  const log = o.log ?? ((l: string) => process.stderr.write(l + '\n'));
  // Rank 0 owns the run folder: one writer (a lock), no debris of interrupted writes, no silent mix of two runs.
  const release = !dist || dist.rank === 0 ? prepareRunFolder(resolve(o.outDir), o, log) : null;
  try {
    if (dist) {
      const c = o.config;
      const backend = c.distBackend === 'auto' ? torch.dist.defaultBackend(c.device) : c.distBackend;
      torch.dist.initProcessGroup({ ...dist, timeoutMs: c.distTimeout * 1000, backend, cudaIndex: dist.localRank });
    }
    return await trainProcess(o, dist, log);
  } finally {
    if (dist && torch.dist.isInitialized()) torch.dist.destroyProcessGroup();
    release?.();
  }
}

async function trainProcess(o: TrainOptions, dist: DistEnv | null, log: (l: string) => void): Promise<TrainResult> {
  const cfg = o.config;
  const out = resolve(o.outDir);
  const ckptDir = join(out, 'checkpoints');
  // Data-parallel processes on one machine share its cores (torchrun sets OMP_NUM_THREADS=1; we divide).
  const threads = cfg.threads ?? Math.max(1, Math.floor(availableParallelism() / (dist?.localWorldSize ?? 1)));
  torch.setNumThreads(threads);
  const pointwiseBefore = torch.getPointwiseOnednn(); // a process-wide switch: restored when train() returns
  const data = openData(cfg, log);
  // Data-parallel on GPUs: one process per GPU, `cuda` meaning this process's cuda:LOCAL_RANK (as torchrun users expect).
  const device = applyDeviceSettings(dist && cfg.device === 'cuda' ? { ...cfg, device: `cuda:${dist.localRank}` } : cfg);
  torch.manualSeed(cfg.seed);
  // Initialised on the CPU (same weights on every device for a seed), then moved before the optimizers exist.
  const G = createSegmentor(cfg.backbone, data.numClasses).to(device);
  let method: UDAMethod | null = null;
  // Freed on every exit — an error or Ctrl-C too: a library caller's process goes on, nothing may wait for GC.
  try {
    checkRunBudget(cfg, data, paramCount(G));   // before any step (and any checkpoints/): the estimate against the budget
    makeDirs(ckptDir);   // after the data and budget checks: a refused run leaves no checkpoints/ behind
    torch.setPointwiseOnednn(cfg.pointwiseOnednn);
    method = await createMethod(cfg.method, G, methodConfig(cfg));
    // A pseudo:DIR target always carries its labels (data/pseudo.ts), however it was opened.
    if (method.targetLabels && !data.tgt.hasLabels) throw new ConfigError(`method '${cfg.method}' trains on target pseudo-labels: 'target.data' must be pseudo:DIR (clan selftrain writes it), got ${cfg.target.data}`);
    const setup: RunSetup = { cfg, data, G, method, device, threads, out, ckptDir, log, dist, isRank0: !dist || dist.rank === 0 };
    const state = o.resume ? resumeRun(setup) : freshRun(setup);
    const hook = o.hooks?.midLogRewrite;
    const runLog = setup.isRank0 ? openRunLog(out, { tensorboard: cfg.tensorboard, ...(o.resume ? { resumeAt: state.step } : {}), log,
      ...(hook ? { write: { midWrite: () => hook(join(out, 'metrics.jsonl')) } } : {}) }) : null;
    if (setup.isRank0) {
      writeRunInfo(out, cfg, { threads, device, start: state.step, worldSize: dist?.worldSize ?? 1, classNames: [...data.src.classNames],
        palette: paletteOf(data.src), command: o.commandLine ?? process.argv.slice(2), resumed: o.resume === true },
      torch.buildInfo().version);
    }
    if (dist) joinDataParallel(setup);
    const loaders = makeLoaders(cfg, data, state.consumed, dist, method.targetLabels, rareClassTable(cfg, data, log));
    const run: Run = { ...setup, state, ...loaders, hooks: o.hooks ?? {}, runLog, signal: o.signal ?? null };
    return await runToEnd(run, o.progress);
  } finally {
    method?.dispose();
    G.dispose();
    torch.setPointwiseOnednn(pointwiseBefore);
  }
}

/** DDP's start: rank 0's weights everywhere, gradients averaged in all-reduce buckets, optionally synchronised BN. */
function joinDataParallel(s: RunSetup): void {
  const parts0 = s.method.parts();
  broadcastModules([s.G, ...(parts0.D ? [parts0.D] : []), ...Object.values(parts0.modules ?? {})]);
  s.method.gradSync = gradientAverager(s.dist!.worldSize, { overlap: s.cfg.ddpOverlap });
  const parts = s.method.parts();
  for (const opt of [parts.optG, parts.optD]) if (opt) opt.gradToNone = false; // gradients live in the all-reduce buckets
  if (s.cfg.syncBN) torch.convertSyncBatchNorm(s.G);
}

/** The loop, then the loaders and the log closed whatever happened; a failed collective names the rank that is gone. */
async function runToEnd(run: Run, progress: TrainOptions['progress']): Promise<TrainResult> {
  const t0 = Date.now();
  let finalEval: EvalResult | null;
  try {
    finalEval = await trainLoop(run, t0, run.isRank0 ? progress : undefined);
  } catch (e) {
    if (run.dist && e instanceof torch.dist.DistError) throw await peerFailure(run, e);
    throw e;
  } finally {
    await run.srcLoader.close();
    await run.tgtLoader.close();
    run.runLog?.close();
  }
  run.hooks.afterRun?.(run.method.parts());
  const { cfg, state, data } = run;
  return { outDir: run.out, step: Math.max(state.step, cfg.iters), seconds: (Date.now() - t0) / 1000, checkpoint: state.lastCkpt,
    finalEval, best: state.best, classNames: [...data.src.classNames], palette: paletteOf(data.src), method: cfg.method };
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
      const { log: s, stop } = await trainOneStep(run, i,
        () => interrupted || run.signal?.aborted === true || run.hooks.stopAfter?.(step) === true);
      progress?.(step, cfg.iters, s, (Date.now() - t0) / 1000, start);
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

/** A new run: optional --init weights (data-parallel: the other ranks receive them by broadcast). */
function freshRun(s: RunSetup): RunState {
  if (s.cfg.init && s.isRank0) loadInit(s.cfg.init, s.G, s.cfg.initScope, s.log);
  return { step: 0, consumed: { source: 0, target: 0 }, best: null, lastCkpt: '' };
}

/** --resume: the newest valid (sealed) checkpoint restores modules, optimizers, RNG and loader positions. */
function resumeRun(s: RunSetup): RunState {
  const ck = newestValidCheckpoint(s.ckptDir, s.log);
  if (!ck) throw new ClanError(`--resume ${s.out}: no valid checkpoint in ${s.ckptDir}`);
  assertResumable(ck);
  if (ck.meta.backbone !== s.cfg.backbone || ck.meta.numClasses !== s.data.numClasses) {
    throw new ClanError(`--resume ${s.out}: checkpoint is ${ck.meta.backbone} with ${ck.meta.numClasses} classes, config says ${s.cfg.backbone} with ${s.data.numClasses}`);
  }
  restoreParts(ck, s.method.parts());
  torch.setRngState(new Uint8Array(Buffer.from(ck.meta.torchRng, 'base64')));
  if (s.isRank0 && ck.meta.threads !== s.threads) s.log(`warning: the run used ${ck.meta.threads} threads, now ${s.threads}: results stay correct but are no longer bit-identical to an uninterrupted run`);
  if (s.isRank0) s.log(`resuming ${s.out} from ${ck.path} (step ${ck.meta.step})`);
  return { step: ck.meta.step, consumed: ck.meta.loaders, best: ck.meta.best ?? null, lastCkpt: '' };
}

/**
 * Iteration i: two batches on the device, one method step, the losses checked and logged (metrics.jsonl, TensorBoard).
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
    const tgtLabel = run.method.targetLabels && tgt.label ? { label: tgt.label } : {};
    return run.method.trainStep(i, { image: src.image, label: src.label! }, { image: tgt.image, size: tgtSize, ...tgtLabel });
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
  const losses = run.method.lossKeys.filter((k) => s.losses[k] !== undefined).map((k) => [k, s.losses[k]!] as [string, number]);
  run.runLog?.step({ step, lr: s.lrG, ...(s.lrD !== undefined ? { lrD: s.lrD } : {}), losses, ...(s.m !== undefined ? { m: s.m } : {}),
    seconds: (Date.now() - ts) / 1000 });
  return { log: s, stop };
}

/** Evaluates G on the target validation split (if any), logs it, and tracks the best mIoU. */
async function evaluateRun(run: Run, step: number): Promise<EvalResult | null> {
  const { val, evalSize, src } = run.data;
  const tv = run.cfg.targetVal;
  if (!val || !tv || !run.isRank0) return null;
  const r = await evaluate(run.G, val, { size: evalSize, protocol: tv.protocol, normalize: run.cfg.normalize, device: run.device,
    ...(tv.limit ? { limit: tv.limit } : {}) });
  run.runLog?.evaluation({ step, miou: r.miou, perClassIou: perClassIou(r, src.classNames), images: r.images, classNames: src.classNames,
    iou: Array.from(r.iou, (v) => (Number.isNaN(v) ? null : v)), confusion: Array.from(r.confusion) });
  if (run.state.best === null || r.miou > run.state.best.miou) run.state.best = { step, miou: r.miou };
  if (run.runLog?.tensorboard) sampleStrips(run, step);
  return r;
}

const TB_SAMPLES = 3; // validation images drawn into TensorBoard at each evaluation

/** [image | ground truth | prediction] strips of the first validation images, into TensorBoard. */
function sampleStrips(run: Run, step: number): void {
  const names = run.data.src.classNames; const val = run.data.val!;
  const m: InferenceModel = { G: run.G, path: run.out, backbone: run.cfg.backbone, numClasses: run.data.numClasses, classNames: [...names],
    palette: paletteOf(run.data.src) ?? defaultPalette(run.data.numClasses), normalize: run.cfg.normalize, evalSize: run.data.evalSize,
    step, config: forMethod(run.cfg) };
  const wasTraining = run.G.training;
  run.G.eval();
  try {
    for (let i = 0; i < Math.min(TB_SAMPLES, val.length); i++) {
      const st = predictionStrip(m, val.load(i));
      run.runLog!.image(`val/sample_${i}`, encodePng(st.rgb, st.width, st.height), st.width, st.height, step);
    }
  } finally {
    if (wasTraining) run.G.train();
  }
}

/** A collective failed: name the ranks that are gone (methods/ddp.ts missingRanks) in one line. */
async function peerFailure(run: Run, e: Error): Promise<ClanError> {
  const gone = await missingRanks(run.dist!.rank, run.dist!.worldSize);
  const who = gone === 'store' ? 'rank 0 (the rendezvous host)' : gone.length ? `rank ${gone.join(', ')}` : 'a rank';
  return new ClanError(`${who} died or stopped responding (${e.message}); the last checkpoint is ${run.state.lastCkpt || '(none yet)'}; continue with: clan train --resume ${run.out}`);
}

/** Saves everything exact resume needs, then prunes to keepLast + the best. */
function checkpoint(run: Run, step: number): void {
  const { cfg, data, state } = run;
  const world = run.dist?.worldSize ?? 1;
  if (!run.isRank0) { state.lastCkpt = join(run.ckptDir, checkpointName(step)); return; }
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
