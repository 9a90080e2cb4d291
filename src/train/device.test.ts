// Training on a device: mixed precision changes the math only when asked (bf16 on the CPU exercises the autocast
// plumbing every CUDA run uses), fp16 outside CUDA is refused, run.json and checkpoints record the device, and
// checkpoints are device-independent. The CUDA cases run only where a GPU is visible, and say so when skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { resolveConfig } from '../config/load.js';
import { train } from './trainer.js';
import { listCheckpoints, readCheckpoint } from '../io/checkpoint.js';
import { restoreParts } from './checkpoint.js';
import { loadInferenceModel } from '../infer/model.js';
import { createSegmentor } from '../models/registry.js';
import { createMethod } from '../methods/registry.js';
import { methodConfig } from '../config/load.js';
import { ConfigError } from '../util/errors.js';

const cfg = (flags: Record<string, unknown>) => resolveConfig({ preset: 'cpu', flags: {
  method: 'clan', backbone: 'micro', iters: 3, batchSize: 2, threads: 1, checkpointEvery: 3, logEvery: 1000,
  targetVal: { data: 'digitscapes:val', limit: 2 }, hyper: { maxIter: 12, warmup: 1, clan: { preheat: 1 }, adversarial: { ndf: 8 } }, ...flags } });
const quiet = { log: () => {} };
const steps = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l) as Record<string, number>).filter((o) => o.seg !== undefined);
const CUDA = torch.cudaDeviceCount() > 0;
const NO_CUDA = CUDA ? false : `no CUDA device in this build (${torch.buildInfo().build})`;

test('amp bf16 (CPU autocast) trains with finite losses that differ from the fp32 run; fp16 off CUDA is refused', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'clan-amp-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  await train({ config: cfg({}), outDir: join(root, 'fp32'), ...quiet });
  await train({ config: cfg({ amp: 'bf16' }), outDir: join(root, 'bf16'), ...quiet });
  const a = steps(join(root, 'fp32')); const b = steps(join(root, 'bf16'));
  assert.equal(b.length, 3);
  for (const k of ['seg', 'adv', 'weight', 'd_s', 'd_t']) assert.ok(b.every((s) => Number.isFinite(s[k])), `${k} finite`);
  assert.notEqual(b[0]!.seg, a[0]!.seg, 'bf16 really ran');
  assert.ok(Math.abs(b[0]!.seg - a[0]!.seg) < 0.05 * a[0]!.seg, `bf16 seg ${b[0]!.seg} close to fp32 ${a[0]!.seg}`);
  assert.equal(b[0]!.weight, a[0]!.weight, 'the weight loss runs outside autocast: identical at step 1');
  const run = JSON.parse(readFileSync(join(root, 'bf16', 'run.json'), 'utf8')) as { device: string; amp: string };
  assert.deepEqual([run.device, run.amp], ['cpu', 'bf16']);
  assert.equal(readCheckpoint(listCheckpoints(join(root, 'bf16', 'checkpoints'))[0]!).meta.device, 'cpu');
  await assert.rejects(train({ config: cfg({ amp: 'fp16' }), outDir: join(root, 'fp16'), ...quiet }),
    (e: unknown) => e instanceof ConfigError && /^'amp': fp16 needs a CUDA device/.test((e as Error).message));
  await assert.rejects(train({ config: cfg({ device: 'cuda:7' }), outDir: join(root, 'gpu7'), ...quiet }),
    /device 'cuda:7': /);
});

test('CUDA: a checkpoint trained on the GPU loads on the CPU with equal weights, and a CPU checkpoint resumes on the GPU', { skip: NO_CUDA }, async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'clan-cuda-ck-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const r = await train({ config: cfg({ device: 'cuda' }), outDir: join(root, 'gpu'), ...quiet });
  assert.ok(r.finalEval && Number.isFinite(r.finalEval.miou));
  const ck = readCheckpoint(r.checkpoint);
  assert.equal(ck.meta.device, 'cuda');
  const cpu = loadInferenceModel(r.checkpoint, 'cpu');
  const gpu = loadInferenceModel(r.checkpoint, 'cuda');
  assert.equal(gpu.G.device, 'cuda:0');
  for (const [k, v] of cpu.G.stateDict()) {
    const g = gpu.G.stateDict().get(k)!;
    assert.ok(torch.tidy(() => g.to('cpu').equal(v)), `${k} identical on both devices`);
  }
  cpu.G.dispose(); gpu.G.dispose();
  // the reverse: a CPU run's checkpoint (optimizer state included) continues on CUDA
  await train({ config: cfg({ iters: 2, checkpointEvery: 2 }), outDir: join(root, 'cpu'), ...quiet });
  const resumed = await train({ config: cfg({ iters: 3, device: 'cuda' }), outDir: join(root, 'cpu'), resume: true, ...quiet });
  assert.equal(resumed.step, 3);
  const last = steps(join(root, 'cpu'));
  assert.equal(last.length, 3);
  assert.ok(Number.isFinite(last[2]!.seg));
  // restoring optimizer state onto CUDA parameters puts the state on CUDA
  const c = cfg({ device: 'cuda' });
  const saved = readCheckpoint(listCheckpoints(join(root, 'cpu', 'checkpoints'))[0]!);
  const G = createSegmentor('micro', saved.meta.numClasses).to('cuda');
  const m = await createMethod('clan', G, methodConfig(c));
  restoreParts(saved, m.parts());
  const st = m.optG.stateDict().state.find((s) => s !== null)!;
  assert.match((Object.values(st).find((v) => v instanceof torch.Tensor) as torch.Tensor).device, /^cuda/);
  m.dispose(); m.parts().D?.dispose(); G.dispose();
});
