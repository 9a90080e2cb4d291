// The CLAN-iteration parity check shared by the CPU test (committed fixtures of a PyTorch CPU run: exact to
// float32 noise) and the CUDA test (a PyTorch CUDA run made on the GPU machine: GPU kernels differ in summation
// order, so the tolerances are looser). Identical initial weights and inputs, 3 iterations with every term
// active (warm-up 1, preheat 1, lr ×100, batch 2); compared on all five losses, every weight delta, BN running
// statistics, SGD momentum and Adam moments. The same check runs MinEnt and AdvEnt against their reference
// (tools/reference/advent_parity.py: same init and inputs, its own lrs and λs in expected.json; the optimizer state
// only where a step file holds it).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { hashUniform } from '../torch/torch.testing.js';
import { stripPrefix } from '../util/prefix.js';
import { createSegmentor } from '../models/registry.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { Clan } from './clan.js';
import { AdvEnt } from './advent.js';
import { MinEnt } from './minent.js';
import type { UDAMethod } from './uda.js';
import { DEFAULT_METHOD_CONFIG, withHyper } from './config.js';

/**
 * The reference records for this libtorch. PyTorch versions sum in other orders, and three steps of the parity
 * configuration amplify rounding-level differences to ~4e-2 (tools/reference/parity_sensitivity.py), so each
 * version compares with its own PyTorch's run: 1.13's records are the `legacy` folders (test/fixtures/clan, …),
 * another version's are test/fixtures/torch-<major.minor>/<name> (clan_parity.py --device cpu --out …,
 * advent_parity.py --out …) and its other CPU kernel sets <name>-<kernels> beside it (MKL and oneDNN pick their
 * kernels by CPU, and no environment variable pins them across CPUs: see docs/method.md §9.1). Returns the folders,
 * or the reason to skip when this version has none.
 */
export function parityRecords(legacy: string[], name: string): { dirs: string[] } | { skip: string } {
  const minor = (v: string) => v.split('.').slice(0, 2).join('.');
  const ours = minor(torch.buildInfo().version);
  const legacyTorch = minor((JSON.parse(readFileSync(join(fixturePath(legacy[0]!), 'expected.json'), 'utf8')) as { torch: string }).torch);
  if (ours === legacyTorch) return { dirs: legacy.map(fixturePath) };
  const root = fixturePath(`torch-${ours}`);
  const sets = existsSync(root) ? readdirSync(root).filter((d) => d === name || d.startsWith(`${name}-`)).sort() : [];
  const dirs = sets.map((d) => join(root, d)).filter((d) => existsSync(join(d, 'expected.json')));
  if (dirs.length > 0) return { dirs };
  return { skip: `no ${name} parity record of PyTorch ${ours} (recorded: ${legacyTorch} and test/fixtures/torch-*): run with CLAN_PARITY_LIVE=1` };
}

/**
 * checkClanParity against each record (kernel set) in turn; returns the diagnostic line of the first that matches.
 * When none does, fails with every record's first complaint, so the message says how far each kernel set lies.
 */
export function checkAnyRecord(dirs: string[], o: Omit<ParityOptions, 'refDir'>): string {
  const failures: string[] = [];
  for (const refDir of dirs) {
    try {
      const { worstLoss, worstDelta } = checkClanParity({ ...o, refDir });
      return `${refDir}: worst relative loss error ${worstLoss.toExponential(2)}, worst ‖Δours − Δref‖/‖Δref‖ ${worstDelta.toExponential(2)}`;
    } catch (e) { failures.push(`${refDir}: ${(e as Error).message.split('\n')[0]}`); }
  }
  assert.fail(`no recorded kernel set matches — ${failures.join(' | ')}`);
}

interface Expected {
  config: { num_classes: number; ndf: number; max_iter: number; warmup: number; preheat: number; lr_G: number; lr_D: number;
    lambda_adv: number; lambda_ent?: number };
  // the method's losses by log key, and the schedule
  steps: ({ i: number; lr_G: number; lr_D?: number; damping: number; weighted?: boolean } & Record<string, number>)[];
}

export type ParityMethod = 'clan' | 'minent' | 'advent';

export interface ParityOptions {
  device: torch.Device;
  refDir: string;          // expected.json and step{1,2,3}.safetensors
  lossTol: number;         // relative, per loss
  deltaTol: number[];      // per step 1, 2, 3: ‖Δours − Δref‖/‖Δref‖ per trainable tensor
  bnTol: number;           // relative, BN running statistics
  stateTol: number[];      // per step: relative, SGD momentum and Adam moments
  method?: ParityMethod;   // what refDir holds a run of (default clan); init and inputs are always the clan fixture's
}

function relErr(a: torch.Tensor, ref: HostTensor): { rel: number; refNorm: number } {
  return torch.tidy(() => {
    const r = torch.fromHost(ref, a.device as torch.Device);
    const refNorm = r.norm().item();
    const diff = a.sub(r).norm().item();
    return { rel: refNorm > 0 ? diff / refNorm : diff, refNorm };
  });
}

/** Runs the 3 parity iterations on o.device and asserts every value against the reference; returns the worst errors. */
export function checkClanParity(o: ParityOptions): { worstLoss: number; worstDelta: number } {
  const name = o.method ?? 'clan';
  let worstDelta = 0; let worstLoss = 0;
  // Every comparison is made; the failures are reported together (worst first), so one run shows the pattern.
  const fails: { what: string; rel: number }[] = [];
  const check: Check = (ok, what, rel) => { if (!ok) fails.push({ what, rel }); };
  const ex = JSON.parse(readFileSync(join(o.refDir, 'expected.json'), 'utf8')) as Expected;
  const init = readSafetensorsFile(fixturePath('clan/init.safetensors')).tensors;
  const inputs = readSafetensorsFile(fixturePath('clan/inputs.safetensors')).tensors;
  torch.setNumThreads(1);
  const G = createSegmentor('micro', ex.config.num_classes);
  const D = new FCDiscriminator(ex.config.num_classes, ex.config.ndf);
  G.loadStateDict(stripPrefix(init, 'G.'), true, 'init.safetensors G');
  D.loadStateDict(stripPrefix(init, 'D.'), true, 'init.safetensors D');
  G.to(o.device); D.to(o.device);
  // damping and halveDLoss stay null: each method's own convention is part of what is compared
  const cfg = withHyper(DEFAULT_METHOD_CONFIG, { maxIter: ex.config.max_iter, warmup: ex.config.warmup, lrG: ex.config.lr_G,
    clan: { preheat: ex.config.preheat }, adversarial: { lrD: ex.config.lr_D, lambdaAdv: ex.config.lambda_adv },
    minent: { lambdaEnt: ex.config.lambda_ent ?? DEFAULT_METHOD_CONFIG.minent.lambdaEnt } });
  const method: UDAMethod & { optD?: torch.Adam } = name === 'minent' ? new MinEnt(G, cfg) : new (name === 'advent' ? AdvEnt : Clan)(G, cfg, D);
  const trained = (): [string, torch.Tensor][] => [...G.namedParameters().map(([n, t]) => [`G.${n}`, t] as [string, torch.Tensor]),
    ...(name === 'minent' ? [] : D.namedParameters().map(([n, t]) => [`D.${n}`, t] as [string, torch.Tensor]))];
  const gNames = new Map(G.namedParameters().map(([n, p]) => [p, n]));
  const dNames = new Map(D.namedParameters().map(([n, p]) => [p, n]));
  const w0 = new Map<string, torch.Tensor>(trained().map(([n, p]) => [n, torch.keep(p.detach().clone())] as const));
  const input = (name: string) => torch.fromHost(inputs.get(name)!, o.device);

  for (const [k, ref] of ex.steps.entries()) {
    const step = k + 1;
    const log = torch.tidy(() => method.trainStep(ref.i, { image: input(`source_image_step${step}`), label: input(`source_label_step${step}`) },
      { image: input(`target_image_step${step}`), size: [64, 96] }));
    for (const key of method.lossKeys) {
      const ours = log.losses[key]!; const theirs = ref[key]!;
      assert.ok(typeof theirs === 'number', `step ${step}: the reference has no loss '${key}'`);
      check(Math.abs(ours - theirs) <= o.lossTol * Math.abs(theirs) + 1e-7, `step ${step} ${key}: ours ${ours}, torch ${theirs}`, Math.abs(ours - theirs) / Math.abs(theirs));
      worstLoss = Math.max(worstLoss, Math.abs(ours - theirs) / Math.abs(theirs));
    }
    const lrD = ref.lr_D === undefined ? log.lrD === undefined : Math.abs(log.lrD! - ref.lr_D) < 1e-12;
    assert.ok(Math.abs(log.lrG - ref.lr_G) < 1e-12 && lrD && log.damping === ref.damping, `step ${step} schedule`);
    assert.equal(log.weighted, ref.weighted, `step ${step} weighted`);

    worstDelta = Math.max(worstDelta, checkStepWeights({
      o, k, last: step === ex.steps.length, name, method, trained: trained(), w0, names: { G: gNames, D: dNames }, check }));
  }
  method.dispose(); G.dispose(); D.dispose();
  for (const w of w0.values()) w.dispose();
  fails.sort((a, b) => b.rel - a.rel);
  assert.equal(fails.length, 0, `${fails.length} values outside tolerance, worst: ${fails.slice(0, 6).map((f) => f.what).join('; ')}`);
  return { worstLoss, worstDelta };
}

type Check = (ok: boolean, what: string, rel: number) => void;

interface StepWeights {
  o: ParityOptions; k: number; last: boolean; name: string; method: UDAMethod; check: Check;
  trained: [string, torch.Tensor][];                          // the trainable tensors now, by prefixed name
  w0: Map<string, torch.Tensor>;                              // their values before the first step
  names: { G: Map<torch.Tensor, string>; D: Map<torch.Tensor, string> };
}

/** One step's weight deltas, BN statistics and optimizer state against the reference; returns the worst Δ error. */
function checkStepWeights({ o, k, last, name, method, trained, w0, names, check }: StepWeights): number {
  const step = k + 1;
  let worstDelta = 0;
  const st = readSafetensorsFile(join(o.refDir, `step${step}.safetensors`)).tensors;
  let checked = 0; let moved = 0;
  for (const [pname, p] of trained) {
    const ref = st.get(`delta.${pname}`);
    if (!ref) { assert.equal(p.requiresGrad, false, `${pname} trains but has no reference delta`); continue; }
    const delta = torch.tidy(() => p.sub(w0.get(pname)!));
    const { rel, refNorm } = relErr(delta, ref);
    delta.dispose();
    if (step > 1) assert.ok(refNorm > 0, `step ${step} ${pname}: reference Δw is zero`);
    if (refNorm > 0) { moved++; worstDelta = Math.max(worstDelta, rel); check(rel <= o.deltaTol[k]!, `step ${step} Δ${pname}: ‖Δours − Δref‖/‖Δref‖ = ${rel.toExponential(2)}`, rel); }
    checked++;
  }
  const trainable = name === 'minent' ? 33 : 43;
  assert.equal(checked, trainable, 'trainable tensors compared (33 G + 10 D; MinEnt has no D)');
  if (step > 1) assert.equal(moved, trainable);
  const hasState = [...st.keys()].some((n) => n.startsWith('sgd.'));
  if (last) assert.ok(hasState, `step ${step}: the reference holds no optimizer state`);
  checkStatistics(method, st, step, o.bnTol, hasState ? o.stateTol[k]! : null, names, check);
  return worstDelta;
}

/**
 * BN running statistics of G, and (stateTol not null: the step file holds them) SGD momentum of G and Adam moments
 * of D (methods with a D) against the reference after `step`.
 */
function checkStatistics(m: UDAMethod & { optD?: torch.Adam }, st: Map<string, HostTensor>, step: number, bnTol: number,
  stateTol: number | null, names: { G: Map<torch.Tensor, string>; D: Map<torch.Tensor, string> }, check: Check): void {
  for (const [n, b] of m.G.namedBuffers()) {
    if (!/running_(mean|var)$/.test(n)) continue;
    const { rel } = relErr(b, st.get(`bn.G.${n}`)!);
    check(rel <= bnTol, `step ${step} ${n}: rel ${rel.toExponential(2)}`, rel);
  }
  if (stateTol === null) return;
  const sgd = m.optG.stateDict();
  m.optG.uniqueParams().forEach((p, idx) => {
    const { rel } = relErr(sgd.state[idx]!.momentum_buffer as torch.Tensor, st.get(`sgd.${names.G.get(p)}`)!);
    check(rel <= stateTol, `step ${step} momentum of ${names.G.get(p)}: rel ${rel.toExponential(2)}`, rel);
  });
  if (!m.optD) return;
  const adam = m.optD.stateDict();
  m.optD.uniqueParams().forEach((p, idx) => {
    for (const m of ['exp_avg', 'exp_avg_sq'] as const) {
      const { rel } = relErr(adam.state[idx]![m] as torch.Tensor, st.get(`adam.${m}.${names.D.get(p)}`)!);
      check(rel <= stateTol, `step ${step} Adam ${m} of ${names.D.get(p)}: rel ${rel.toExponential(2)}`, rel);
    }
  });
}

/** A parity twin's summary of a tensor: [‖t‖, Σt, max |t|, t at the probes k·2654435761 mod numel] (hrda_parity.py). */
export type Sketch = number[];

/** hrda_parity.py label_blocks: 8×8 blocks of class ⌊(u + 1)/2·(K + 1)⌋, K meaning ignore. [N, H, W] int64. */
export function labelBlocks(n: number, h: number, w: number, k: number, salt: number): torch.Tensor {
  const u = hashUniform(n * (h / 8) * (w / 8), salt, 1);
  const out = new BigInt64Array(n * h * w);
  for (let b = 0; b < n; b++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const c = Math.min(Math.floor((u[(b * (h / 8) + (y >> 3)) * (w / 8) + (x >> 3)]! + 1) / 2 * (k + 1)), k);
    out[(b * h + y) * w + x] = BigInt(c === k ? 255 : c);
  }
  return torch.fromTypedArray(out, [n, h, w], 'int64');
}

/** Ours against the twin's sketch: the norm and every probe within `tol` of the reference's scale (max |ref|). */
export function sketchError(t: torch.Tensor, ref: Sketch, what: string): number {
  const a = torch.tidy(() => t.detach().to('float64').flatten().toTypedArray<'float64'>());
  const norm = Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  const [refNorm, , refMax] = ref as [number, number, number];
  // zero in the twin (a gradient that cancels exactly there): rounding may leave ~1e-11 here on another CPU, a real update far more
  if (refNorm === 0) { assert.ok(norm <= 1e-9, `${what}: zero in the reference, ${norm} here`); return 0; }
  let worst = Math.abs(norm - refNorm) / refNorm;
  ref.slice(3).forEach((v, k) => { worst = Math.max(worst, Math.abs(a[(k * 2654435761) % a.length]! - v) / refMax); });
  return worst;
}
