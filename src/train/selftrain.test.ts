// Self-training rounds end to end on a tiny run: each round's pseudo-labels, run folder and result; p growing per
// round; a run stopped mid-round and resumed ends bit-identical to an uninterrupted one (finished rounds are kept,
// the running one resumes from its checkpoint).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { resolveConfig } from '../config/load.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { train, Interrupted } from './trainer.js';
import { ConfigError } from '../util/errors.js';
import { portionAt, selftrain, type SelfTrainPlan } from './selftrain.js';

const root = mkdtempSync(join(tmpdir(), 'clan-selftrain-'));
after(() => rmSync(root, { recursive: true, force: true }));
const quiet = { log: () => {} };
const FLAGS = { backbone: 'micro', threads: 1, batchSize: 2, logEvery: 1000, tensorboard: false,
  target: { data: 'digitscapes:target,n=8' }, targetVal: { data: 'digitscapes:val', limit: 4 }, hyper: { adversarial: { ndf: 8 } } };

let plan: SelfTrainPlan | null = null;
async function thePlan(): Promise<SelfTrainPlan> {
  if (plan) return plan;
  const clan = await train({ config: resolveConfig({ preset: 'cpu', flags: { ...FLAGS, method: 'clan', iters: 6, checkpointEvery: 6 } }), outDir: join(root, 'clan'), ...quiet });
  plan = { from: clan.checkpoint, rounds: 2, portion: 0.2, portionStep: 0.1, portionMax: 0.25, variant: 'cotrain',
    config: resolveConfig({ preset: 'cpu', flags: { ...FLAGS, hyper: {}, method: 'cotrain', iters: 4, checkpointEvery: 2 } }) }; // cotrain has no D
  return plan;
}

const weights = (ckpt: string) => {
  const t = readSafetensorsFile(ckpt).tensors;
  const h = createHash('sha256');
  for (const k of [...t.keys()].filter((x) => x.startsWith('G.')).sort()) { const d = t.get(k)!.data; h.update(k).update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)); }
  return h.digest('hex');
};

test('selftrain: two rounds, each with its pseudo-labels and run folder; p grows and is capped', async () => {
  const p = await thePlan();
  assert.deepEqual([1, 2, 3].map((r) => portionAt(p, r)), [0.2, 0.25, 0.25]);
  const out = join(root, 'full');
  const rs = await selftrain(p, out, quiet);
  assert.deepEqual(rs.map((r) => [r.round, r.portion]), [[1, 0.2], [2, 0.25]]);
  for (const r of rs) {
    const dir = join(out, `round-${r.round}`);
    assert.equal(readdirSync(join(dir, 'pseudo', 'labels')).length, 8);
    assert.ok(r.pseudo!.keptShare >= r.portion - 1e-9, `round ${r.round}: kept ${r.pseudo!.keptShare}`);
    assert.ok(r.pseudo!.val !== null && typeof r.miou === 'number');
    const cfg = readFileSync(join(dir, 'config.yaml'), 'utf8');
    assert.match(cfg, new RegExp(`data: pseudo:${join(dir, 'pseudo')}`));
    assert.match(cfg, new RegExp(`init: ${r.round === 1 ? p.from : rs[0]!.checkpoint}`)); // each round starts from the last
    assert.ok(existsSync(join(dir, 'round.json')));
  }
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'selftrain.json'), 'utf8')).rounds, 2);
});

test('cotrain on a plain target (no pseudo-labels) is refused in one line before any step', async () => {
  const config = resolveConfig({ preset: 'cpu', flags: { ...FLAGS, hyper: {}, method: 'cotrain', iters: 2 } });
  await assert.rejects(train({ config, outDir: join(root, 'plain'), ...quiet }),
    (e: unknown) => e instanceof ConfigError && /method 'cotrain' trains on target pseudo-labels: 'target\.data' must be pseudo:DIR .*got digitscapes:target,n=8$/.test((e as Error).message));
});

test('selftrain: stopped in round 2 and resumed, it ends bit-identical to the uninterrupted run', async () => {
  const p = await thePlan();
  const out = join(root, 'stopped');
  let calls = 0;
  await assert.rejects(selftrain(p, out, { ...quiet, hooks: { stopAfter: (step) => { calls++; return calls > 4 && step === 1; } } }),
    Interrupted);
  assert.ok(existsSync(join(out, 'round-1', 'round.json')) && !existsSync(join(out, 'round-2', 'round.json')));
  const lines: string[] = [];
  const rs = await selftrain(p, out, { log: (l) => lines.push(l) });
  assert.ok(lines.some((l) => /resuming .*round-2 .*\(step 1\)/.test(l)), lines.join('\n'));
  assert.ok(!lines.some((l) => /round 1\/2: pseudo-labels/.test(l)), 'round 1 is not redone');
  const full = JSON.parse(readFileSync(join(root, 'full', 'round-2', 'round.json'), 'utf8')) as { miou: number; checkpoint: string };
  assert.equal(rs[1]!.miou, full.miou);
  assert.equal(weights(rs[1]!.checkpoint), weights(full.checkpoint), 'final G weights');
});

test('selftrain with method clan-cotrain: a round logs the CLAN and pseudo-label losses; D is checkpointed', async () => {
  const p = await thePlan();
  const out = join(root, 'clan-cotrain');
  const rs = await selftrain({ ...p, rounds: 1, config: { ...p.config, method: 'clan-cotrain' } }, out, quiet);
  const rows = readFileSync(join(out, 'round-1', 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => typeof r.step === 'number' && typeof r.loss === 'undefined');
  const steps = rows.filter((r) => 'seg' in r);
  assert.equal(steps.length, 4);
  for (const r of steps) for (const k of ['seg', 'adv', 'pseudo', 'weight', 'd_s', 'd_t']) assert.ok(typeof r[k] === 'number' && Number.isFinite(r[k]), `${k} in ${JSON.stringify(r)}`);
  const t = readSafetensorsFile(rs[0]!.checkpoint).tensors;
  assert.ok([...t.keys()].some((k) => k.startsWith('D.')), 'D in the checkpoint');
  const cotrain = JSON.parse(readFileSync(join(root, 'full', 'round-1', 'round.json'), 'utf8')) as { checkpoint: string };
  assert.notEqual(weights(rs[0]!.checkpoint), weights(cotrain.checkpoint), 'not the cotrain round');
});
