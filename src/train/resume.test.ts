// Exact resume: batch 2, augmentation and shuffling on, evaluation during training, a run stopped mid-epoch after
// the preheat switch and resumed gives bit-identical losses and the same final weights as an uninterrupted run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../config/load.js';
import { METHODS } from '../methods/registry.js';
import { train, Interrupted } from './trainer.js';
import { listCheckpoints, newestValidCheckpoint, readCheckpoint } from '../io/checkpoint.js';

/** The tiny D and CLAN's early weighting, where the method has them (a section it does not read is refused). */
const sections = (method: string) => ({ ...(METHODS.get(method).reads.includes('clan') ? { clan: { preheat: 3 } } : {}),
  ...(METHODS.get(method).reads.includes('adversarial') ? { adversarial: { ndf: 8 } } : {}) });
const base = (iters: number, optimizerG: 'adam' | 'sgd' = 'adam', method = 'clan') => resolveConfig({ preset: 'cpu', flags: {
  method, backbone: 'micro', iters, batchSize: 2, threads: 1, checkpointEvery: 3, evalEvery: 4, logEvery: 1000,
  source: { data: 'digitscapes:source', randomScale: true }, target: { data: 'digitscapes:target', randomScale: true }, // flip is on by default
  targetVal: { data: 'digitscapes:val', limit: 4 },
  hyper: { maxIter: 12, warmup: 2, optimizerG, ...sections(method) },            // same schedule whatever `iters` is
} });

function losses(dir: string): string[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => {
    const o = JSON.parse(l) as Record<string, unknown>;
    delete o.seconds;                                                // wall time differs, everything else must not
    return JSON.stringify(o);
  });
}
function weightsDigest(ckpt: string): string {
  const ck = readCheckpoint(ckpt);
  const h = createHash('sha256');
  for (const k of [...ck.tensors.keys()].filter((k) => /^(G|D|EMA|IMNET)\./.test(k)).sort()) {
    const t = ck.tensors.get(k)!;
    h.update(k); h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest('hex');
}

for (const opt of ['adam', 'sgd'] as const) test(`resume after the preheat switch is bit-identical to an uninterrupted run (G: ${opt})`, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'clan-resume-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const quiet = { log: () => {} };
  const full = await train({ config: base(12, opt), outDir: join(root, 'full'), ...quiet });
  // interrupted (as by Ctrl-C) at step 7: mid-epoch, past the preheat switch at 3, between checkpoints (every 3)
  await assert.rejects(train({ config: base(12, opt), outDir: join(root, 'part'), hooks: { stopAfter: (s) => s === 7 }, ...quiet }),
    (e: unknown) => e instanceof Interrupted && /interrupted at step 7; checkpoint .*ckpt_0000007/.test((e as Error).message));
  const resumed = await train({ config: base(12, opt), outDir: join(root, 'part'), resume: true, ...quiet });
  assert.equal(resumed.step, 12);
  const a = losses(join(root, 'full')); const b = losses(join(root, 'part'));
  assert.equal(a.length, 12 + 3, '12 step lines + evaluations at 4, 8, 12');
  assert.deepEqual(b, a, 'every logged loss and evaluation identical');
  assert.ok(a.some((l) => /"weight"/.test(l)) && a.some((l) => /"d_t"/.test(l)));
  assert.equal(weightsDigest(resumed.checkpoint), weightsDigest(full.checkpoint), 'final weights SHA-256');
  assert.equal(full.finalEval!.miou, resumed.finalEval!.miou);
});

test('dacs: resume is bit-identical too — the mean teacher (EMA.*) and the ClassMix draws come back with the checkpoint', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'clan-resume-dacs-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const quiet = { log: () => {} };
  const full = await train({ config: base(9, 'adam', 'dacs'), outDir: join(root, 'full'), ...quiet });
  await assert.rejects(train({ config: base(9, 'adam', 'dacs'), outDir: join(root, 'part'), hooks: { stopAfter: (s) => s === 5 }, ...quiet }), Interrupted);
  const resumed = await train({ config: base(9, 'adam', 'dacs'), outDir: join(root, 'part'), resume: true, ...quiet });
  assert.deepEqual(losses(join(root, 'part')), losses(join(root, 'full')));
  assert.ok(losses(join(root, 'full')).some((l) => /"mix"/.test(l)));
  assert.ok([...readCheckpoint(full.checkpoint).tensors.keys()].some((k) => k.startsWith('EMA.')), 'the teacher is in the checkpoint');
  assert.equal(weightsDigest(resumed.checkpoint), weightsDigest(full.checkpoint), 'final G and teacher weights SHA-256');
});

test('daformer: resume is bit-identical — AdamW state, the teacher, the frozen initial encoder (IMNET.*), augmentation and rare-class draws', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'clan-resume-daformer-'));
  const cacheBefore = process.env.XDG_CACHE_HOME;
  process.env.XDG_CACHE_HOME = join(root, 'cache');                     // the rare-class statistics (train/run-data.ts)
  t.after(() => {
    if (cacheBefore === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = cacheBefore;
    rmSync(root, { recursive: true, force: true });
  });
  const quiet = { log: () => {} };
  const cfg = (iters: number, init?: string) => resolveConfig({ preset: 'cpu', flags: {
    method: 'daformer', backbone: 'mit-b0', iters, batchSize: 2, threads: 1, checkpointEvery: 2, evalEvery: 6, logEvery: 1000, normalize: 'imagenet',
    source: { data: 'digitscapes:source', randomScale: false }, target: { data: 'digitscapes:target', randomScale: false }, targetVal: { data: 'digitscapes:val', limit: 2 },
    ...(init ? { init } : {}),
    hyper: { maxIter: 12, warmup: 2, optimizerG: 'adamw', lrG: 1e-3, weightDecay: 0.01, daformer: { fdLambda: init ? 0.005 : 0, fdClasses: null } },
  } });
  const start = await train({ config: cfg(1), outDir: join(root, 'init'), ...quiet });    // the --init weights
  const full = await train({ config: cfg(6, start.checkpoint), outDir: join(root, 'full'), ...quiet });
  await assert.rejects(train({ config: cfg(6, start.checkpoint), outDir: join(root, 'part'), hooks: { stopAfter: (s) => s === 3 }, ...quiet }), Interrupted);
  const resumed = await train({ config: cfg(6, start.checkpoint), outDir: join(root, 'part'), resume: true, ...quiet });
  assert.deepEqual(losses(join(root, 'part')), losses(join(root, 'full')));
  assert.ok(losses(join(root, 'full')).some((l) => /"fd"/.test(l)), 'the feature distance is on');
  const keys = [...readCheckpoint(full.checkpoint).tensors.keys()];
  assert.ok(keys.some((k) => k.startsWith('IMNET.')) && keys.some((k) => k.startsWith('EMA.')), 'the frozen encoder and the teacher are in the checkpoint');
  assert.equal(weightsDigest(resumed.checkpoint), weightsDigest(full.checkpoint), 'final G, teacher and frozen encoder SHA-256');
});

test('a truncated or corrupted newest checkpoint is refused and the previous one used', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'clan-ckpt-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await train({ config: base(6), outDir: root, log: () => {} });
  const [newest, previous] = listCheckpoints(join(root, 'checkpoints'));
  assert.ok(newest && previous);
  const bytes = readFileSync(newest!);
  bytes[bytes.length - 10] ^= 0xff;                                   // flip one weight byte
  writeFileSync(newest!, bytes);
  assert.throws(() => readCheckpoint(newest!), /failed its SHA-256 check/);
  const warnings: string[] = [];
  assert.equal(newestValidCheckpoint(join(root, 'checkpoints'), (m) => warnings.push(m))!.path, previous);
  assert.match(warnings[0]!, /failed its SHA-256 check.*trying the previous one/);
  truncateSync(newest!, Math.floor(statSync(newest!).size / 2));
  assert.throws(() => readCheckpoint(newest!), /damaged or truncated/);
});

test('resume rewrites metrics.jsonl whole: a crash half-way through that rewrite leaves the old file intact', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'clan-resume-log-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const quiet = { log: () => {} };
  const out = join(root, 'run');
  // 5 steps, the last checkpoint at 3: a resume keeps the lines up to step 3 and rewrites the file
  await assert.rejects(train({ config: base(12), outDir: out, hooks: { stopAfter: (s) => s === 5 }, ...quiet }),
    (e: unknown) => e instanceof Interrupted);
  rmSync(join(out, 'checkpoints', 'ckpt_0000005.safetensors'));
  const before = readFileSync(join(out, 'metrics.jsonl'), 'utf8');
  assert.equal(before.split('\n').filter(Boolean).length, 5 + 1, '5 steps and the evaluation at 4');
  await assert.rejects(train({ config: base(12), outDir: out, resume: true, hooks: { midLogRewrite: () => { throw new Error('power lost'); } }, ...quiet }), /power lost/);
  assert.equal(readFileSync(join(out, 'metrics.jsonl'), 'utf8'), before, 'the old metrics.jsonl, byte for byte');
  const r = await train({ config: base(6), outDir: out, resume: true, ...quiet });
  assert.equal(r.step, 6);
  assert.deepEqual(readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { step: number }).step),
    [1, 2, 3, 4, 4, 5, 6, 6], 'cut back to step 3, then steps 4–6, the evaluation at 4 and the final one');
});
