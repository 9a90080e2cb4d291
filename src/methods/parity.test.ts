// Parity with the PyTorch reference of the CLAN iteration (tools/reference/clan_parity.py): identical initial
// weights and inputs, 3 iterations with every term active (warm-up 1, preheat 1, lr ×100, batch 2), compared
// on all five losses, every weight delta, BN running statistics, SGD momentum and Adam moments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { stripPrefix } from '../util/prefix.js';
import { loadFixture } from '../torch/testing.js';
import { createGenerator } from '../models/registry.js';
import { FCDiscriminator } from '../models/deeplab.js';
import { Clan } from './clan.js';
import { DEFAULT_METHOD_CONFIG } from './uda.js';

interface Expected {
  config: { num_classes: number; ndf: number; max_iter: number; warmup: number; preheat: number; lr_G: number; lr_D: number };
  steps: { i: number; seg: number; adv: number; weight: number; d_s: number; d_t: number; lr_G: number; lr_D: number; damping: number; weighted: boolean }[];
}

function relErr(a: torch.Tensor, ref: HostTensor): { rel: number; refNorm: number } {
  return torch.tidy(() => {
    const r = torch.fromHost(ref);
    const refNorm = r.norm().item();
    const diff = a.sub(r).norm().item();
    return { rel: refNorm > 0 ? diff / refNorm : diff, refNorm };
  });
}

test('CLAN iteration equals the PyTorch reference over 3 steps (losses, Δw, BN stats, SGD and Adam state)', (t) => {
  let worstDelta = 0; let worstLoss = 0;
  const ex = loadFixture<Expected>('clan/expected.json');
  const init = readSafetensorsFile(fixturePath('clan/init.safetensors')).tensors;
  const inputs = readSafetensorsFile(fixturePath('clan/inputs.safetensors')).tensors;
  torch.setNumThreads(1);
  const G = createGenerator('micro', ex.config.num_classes);
  const D = new FCDiscriminator(ex.config.num_classes, ex.config.ndf);
  G.loadStateDict(stripPrefix(init, 'G.'), true, 'init.safetensors G');
  D.loadStateDict(stripPrefix(init, 'D.'), true, 'init.safetensors D');
  const cfg = { ...DEFAULT_METHOD_CONFIG, maxIter: ex.config.max_iter, warmup: ex.config.warmup, preheat: ex.config.preheat,
    lrG: ex.config.lr_G, lrD: ex.config.lr_D };
  const clan = new Clan(G, cfg, D);
  const gNames = new Map(G.namedParameters().map(([n, p]) => [p, n]));
  const dNames = new Map(D.namedParameters().map(([n, p]) => [p, n]));
  const w0 = new Map<string, torch.Tensor>([...G.namedParameters().map(([n, p]) => [`G.${n}`, torch.keep(p.detach().clone())] as const),
    ...D.namedParameters().map(([n, p]) => [`D.${n}`, torch.keep(p.detach().clone())] as const)]);

  for (const [k, ref] of ex.steps.entries()) {
    const step = k + 1;
    const log = torch.tidy(() => clan.trainStep(ref.i, {
      image: torch.fromHost(inputs.get(`source_image_step${step}`)!), label: torch.fromHost(inputs.get(`source_label_step${step}`)!),
    }, { image: torch.fromHost(inputs.get(`target_image_step${step}`)!), size: [64, 96] }));
    for (const key of ['seg', 'adv', 'weight', 'd_s', 'd_t'] as const) {
      const ours = log[key]!;
      assert.ok(Math.abs(ours - ref[key]) <= 1e-5 * Math.abs(ref[key]) + 1e-7, `step ${step} ${key}: ours ${ours}, torch ${ref[key]}`);
      worstLoss = Math.max(worstLoss, Math.abs(ours - ref[key]) / Math.abs(ref[key]));
    }
    assert.ok(Math.abs(log.lrG - ref.lr_G) < 1e-12 && Math.abs(log.lrD! - ref.lr_D) < 1e-12 && log.damping === ref.damping, `step ${step} schedule`);
    assert.equal(log.weighted, ref.weighted, `step ${step} weighted`);

    const st = readSafetensorsFile(fixturePath(`clan/step${step}.safetensors`)).tensors;
    let checked = 0; let moved = 0;
    for (const [name, p] of [...G.namedParameters().map(([n, t]) => [`G.${n}`, t] as const), ...D.namedParameters().map(([n, t]) => [`D.${n}`, t] as const)]) {
      const ref = st.get(`delta.${name}`);
      if (!ref) { assert.equal(p.requiresGrad, false, `${name} trains but has no reference delta`); continue; }
      const delta = torch.tidy(() => p.sub(w0.get(name)!));
      const { rel, refNorm } = relErr(delta, ref);
      delta.dispose();
      if (step > 1) assert.ok(refNorm > 0, `step ${step} ${name}: reference Δw is zero`);
      if (refNorm > 0) { moved++; worstDelta = Math.max(worstDelta, rel); assert.ok(rel <= 1e-4, `step ${step} Δ${name}: ‖Δours − Δref‖/‖Δref‖ = ${rel.toExponential(2)}`); }
      checked++;
    }
    assert.equal(checked, 43, 'trainable tensors compared (33 G + 10 D)');
    if (step > 1) assert.equal(moved, 43);
    for (const [n, b] of G.namedBuffers()) {
      if (!/running_(mean|var)$/.test(n)) continue;
      const { rel } = relErr(b, st.get(`bn.G.${n}`)!);
      assert.ok(rel <= 1e-5, `step ${step} ${n}: rel ${rel}`);
    }
    const sgd = clan.optG.stateDict();
    clan.optG.uniqueParams().forEach((p, idx) => {
      const { rel } = relErr(sgd.state[idx]!.momentum_buffer as torch.Tensor, st.get(`sgd.${gNames.get(p)}`)!);
      assert.ok(rel <= 1e-4, `step ${step} momentum of ${gNames.get(p)}: rel ${rel}`);
    });
    const adam = clan.optD.stateDict();
    clan.optD.uniqueParams().forEach((p, idx) => {
      for (const m of ['exp_avg', 'exp_avg_sq'] as const) {
        const { rel } = relErr(adam.state[idx]![m] as torch.Tensor, st.get(`adam.${m}.${dNames.get(p)}`)!);
        assert.ok(rel <= 1e-4, `step ${step} Adam ${m} of ${dNames.get(p)}: rel ${rel}`);
      }
    });
  }
  t.diagnostic(`worst relative loss error ${worstLoss.toExponential(2)}, worst ‖Δours − Δref‖/‖Δref‖ ${worstDelta.toExponential(2)}`);
  clan.dispose(); G.dispose(); D.dispose();
  for (const w of w0.values()) w.dispose();
});

test('the full resnet101 G and D map 1:1 onto the official key names and shapes (§1.1)', () => {
  const official = loadFixture<{ G: [string, number[]][]; D: [string, number[]][] }>('clan/official_keys.json');
  const G = createGenerator('resnet101', 19);
  const D = new FCDiscriminator(19, 64);
  const ours = (m: torch.Module) => [...m.stateDict()].map(([k, t]) => [k, t.shape] as [string, number[]]);
  assert.deepEqual(ours(G), official.G);
  assert.deepEqual(ours(D), official.D);
  assert.equal(G.backboneParameters().length, 104, 'unique trainable backbone tensors (§3)');
  assert.equal(G.officialBackboneParameterList().length, 314, 'entries of the official optimizer list (§3)');
  const w5 = G.layer5.parameters().reduce((a, p) => a + p.numel, 0);
  assert.equal(w5, 1400908, 'C1 parameter count (§2.2)');
  G.dispose(); D.dispose();
});
