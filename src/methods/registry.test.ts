// Every registered method through the adapter alone (what the trainer sees): it reports exactly its declared loss
// keys, finite; dispose() frees everything it created; 300 steps leave memory flat; CLAN is the adversarial
// iteration plus two ingredients.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { METHODS, createMethod } from './registry.js';
import { DEFAULT_METHOD_CONFIG, withHyper } from './config.js';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Adversarial } from './adversarial.js';
import { nextTurn } from '../util/tick.js';
import { Clan } from './clan.js';
import { AdvEnt } from './advent.js';
import { tinyHrda, tinyMit } from '../models/models.testing.js';

const K = 5;
// τ 0.2 < 1/K: every teacher pixel is confident, so MIC's masked loss (weighted by their share) is not 0
const CFG = withHyper(DEFAULT_METHOD_CONFIG,
  { maxIter: 10, warmup: 0, clan: { preheat: 1 }, adversarial: { ndf: 8 }, dacs: { pseudoThreshold: 0.2 } });
/** The network each method trains here: hrda and mic-hrda need HRDA's (a small one), daformer's a MiT, the others take the micro ResNet. */
const network = (name: string) => (['hrda', 'mic-hrda'].includes(name) ? tinyHrda(K)
  : ['daformer', 'mic-daformer'].includes(name) ? tinyMit(K) : createSegmentor('micro', K));
/**
 * daformer's feature distance needs --init weights; every pixel counts here (K = 5 has no Cityscapes thing class).
 * mic runs as the cpu preset's (BN statistics put back, a threshold of its own, also below 1/K); mic-hrda and
 * mic-daformer keep the official 'update'.
 */
const configOf = (name: string) => (['daformer', 'mic-daformer'].includes(name) ? withHyper(CFG, { initWeights: true, daformer: { fdClasses: null } })
  : name === 'mic' ? withHyper(CFG, { mic: { bnStats: 'keep', pseudoThreshold: 0.1 } }) : CFG);

test('each method logs exactly its lossKeys (finite) and frees what it created', async () => {
  assert.deepEqual(METHODS.names(), ['source-only', 'adversarial', 'clan', 'minent', 'advent', 'dacs', 'cotrain', 'clan-cotrain', 'hrda', 'daformer', 'mic', 'mic-hrda', 'mic-daformer']);
  const expected: Record<string, string[]> = {
    'source-only': ['seg'], adversarial: ['seg', 'adv', 'd_s', 'd_t'], clan: ['seg', 'adv', 'weight', 'd_s', 'd_t'],
    minent: ['seg', 'ent'], advent: ['seg', 'adv', 'd_s', 'd_t'], dacs: ['seg', 'mix'], cotrain: ['seg', 'pseudo'],
    'clan-cotrain': ['seg', 'adv', 'pseudo', 'weight', 'd_s', 'd_t'], hrda: ['seg', 'seg_detail', 'mix', 'mix_detail'],
    daformer: ['seg', 'fd', 'mix'], mic: ['seg', 'mix', 'masked'], 'mic-hrda': ['seg', 'seg_detail', 'mix', 'mix_detail', 'masked'],
    'mic-daformer': ['seg', 'fd', 'mix', 'masked'],
  };
  for (const name of METHODS.names()) {
    torch.manualSeed(0);
    const image = torch.keep(torch.randn([2, 3, 32, 32]));
    const label = torch.keep(torch.randint(0, K, [2, 32, 32]));
    const before = torch.memoryStats().live;
    const G = network(name);
    const m = await createMethod(name, G, configOf(name));
    assert.deepEqual([...m.lossKeys], expected[name], name);
    // cotrain learns pseudo-labels: two stacked maps [N, 2h, w] (data/pseudo.ts), here the source labels twice
    const pseudo = m.targetLabels ? { label: torch.cat([label, label], 1) } : {};
    const log = m.trainStep(3, { image, label }, { image, size: [32, 32], ...pseudo });
    if (m.targetLabels) pseudo.label!.dispose();
    assert.deepEqual(Object.keys(log.losses), m.lossKeys, `${name}: the log's keys are the declared ones, in order`);
    for (const [k, v] of Object.entries(log.losses)) assert.ok(Number.isFinite(v) && v > 0, `${name} ${k} = ${v}`);
    if (['adversarial', 'clan', 'advent', 'clan-cotrain'].includes(name)) assert.equal(log.weighted, name.startsWith('clan'), `${name}: weighted past the preheat`);
    m.dispose();
    G.dispose(); // G (and the gradients on its parameters) belongs to the caller
    assert.equal(torch.memoryStats().live, before, `${name}: dispose() frees D, optimizer state and every step tensor`);
    image.dispose(); label.dispose();
  }
});

test('each method over 300 steps as the trainer runs them: live tensors the same at step 30 and 300, RSS flat, nothing freed by finalizers', async () => {
  for (const name of METHODS.names()) {
    torch.manualSeed(0);
    const image = torch.keep(torch.randn([2, 3, 32, 32]));
    const label = torch.keep(torch.randint(0, K, [2, 32, 32]));
    const pseudo = torch.keep(torch.cat([label, label], 1)); // cotrain's stacked maps [N, 2h, w]
    const G = network(name);
    const m = await createMethod(name, G, { ...configOf(name), maxIter: 1000 });
    const finalized = torch.memoryStats().finalized;
    let live30 = 0; let rss30 = 0;
    for (let step = 0; step < 300; step++) {
      await nextTurn(); // as the trainer does between steps: Node-API runs the wrappers' finalizers there (util/tick.ts)
      const log = m.trainStep(step, { image, label }, { image, size: [32, 32], ...(m.targetLabels ? { label: pseudo } : {}) });
      for (const [k, v] of Object.entries(log.losses)) assert.ok(Number.isFinite(v), `${name} step ${step}: ${k} = ${v}`);
      if (step === 29) { live30 = torch.memoryStats().live; rss30 = process.memoryUsage().rss; }
    }
    assert.equal(torch.memoryStats().live, live30, `${name}: live tensors at step 300 vs 30 (EMA teacher, optimizer state and D made once)`);
    const grownMb = (process.memoryUsage().rss - rss30) / 2 ** 20;
    assert.ok(grownMb <= 20, `${name}: RSS grew ${grownMb.toFixed(1)} MB between step 30 and 300`);
    assert.equal(torch.memoryStats().finalized - finalized, 0, `${name}: tensors freed by GC finalizers`);
    m.dispose(); G.dispose();
    image.dispose(); label.dispose(); pseudo.dispose();
  }
});

test('CLAN and AdvEnt extend the adversarial baseline, not the other way round', () => {
  assert.ok(Clan.prototype instanceof Adversarial);
  assert.ok(AdvEnt.prototype instanceof Adversarial);
  assert.ok(!(Adversarial.prototype instanceof Clan));
});

test('each method\'s code reads only the hyper sections its registry entry declares (methods/config.ts)', () => {
  // which registered methods run each file's code (subclasses run their bases')
  const users: Record<string, string[]> = {
    'uda.js': METHODS.names(), 'adversarial.js': ['adversarial', 'clan', 'advent', 'clan-cotrain'], 'clan.js': ['clan', 'clan-cotrain'],
    'advent.js': ['advent'], 'minent.js': ['minent'], 'dacs.js': ['dacs', 'hrda', 'daformer', 'mic', 'mic-hrda', 'mic-daformer'],
    'cotrain.js': ['cotrain', 'clan-cotrain'], 'clan-cotrain.js': ['clan-cotrain'], 'source-only.js': ['source-only'],
    'hrda.js': ['hrda', 'mic-hrda'], 'daformer.js': ['daformer', 'mic-daformer'], 'mic.js': ['mic', 'mic-hrda', 'mic-daformer'],
  };
  const here = dirname(fileURLToPath(import.meta.url));
  for (const [file, methods] of Object.entries(users)) {
    const code = readFileSync(join(here, file), 'utf8');
    const used = new Set([...code.matchAll(/\b(?:cfg|c)\.(adversarial|clan|minent|dacs|cotrain|hrda|daformer|mic)\b/g)].map((m) => m[1]!));
    for (const m of methods) for (const s of used) assert.ok(METHODS.get(m).reads.includes(s as never), `${file} reads hyper.${s}, which method '${m}' does not declare`);
  }
  // and every section is owned by exactly one method
  for (const s of ['adversarial', 'clan', 'minent', 'dacs', 'cotrain', 'hrda', 'daformer', 'mic']) assert.equal(METHODS.names().filter((n) => METHODS.get(n).section === s).length, 1, s);
});
