// Data-parallel training over loopback, as users run it: workers started with the torchrun environment, the
// `--nproc-per-node` launcher, two "machines" (`--nnodes 2`, separate process trees), a worker killed mid-run, and
// a 2-process run resumed as one process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { encode as encodePng } from 'fast-png';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { distBackends } from '../torch/dist.js';
import { readCheckpoint, listCheckpoints } from '../io/checkpoint.js';
import { Rng } from '../data/rng.js';
import { freePort } from '../util/net.js';

const CLAN = join(packageRoot(), 'bin', 'clan.js');
const ENTRY = join(packageRoot(), 'dist', 'src', 'cli', 'cli.testing.js');
const TINY = ['--preset', 'cpu', '--backbone', 'micro', '--threads', '1', '--set', 'hyper.adversarial.ndf=8', '--set', 'targetVal.limit=4', '--set', 'logEvery=1'];
const skip = distBackends().includes('gloo') ? false : 'the addon was built without gloo (libgloo-dev)';

interface Proc {
  code: Promise<number | null>; stderr: () => string; kill: (s: NodeJS.Signals) => void; onLine: (re: RegExp) => Promise<void>;
}
function run(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const waiters: { re: RegExp; res: () => void }[] = [];
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); for (const w of waiters) if (w.re.test(err)) w.res(); });
  child.stdout.resume();
  return { code: new Promise((res) => child.on('exit', (c) => res(c))), stderr: () => err, kill: (s) => child.kill(s),
    onLine: (re) => new Promise((res) => { if (re.test(err)) res(); else waiters.push({ re, res }); }) };
}
const torchrun = (rank: number, world: number, port: number) => ({ RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(rank),
  LOCAL_WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) });
const digests = (base: string, ranks: number[]) => ranks.map((r) => JSON.parse(readFileSync(`${base}.${r}`, 'utf8')) as { params: string; buffers: string });

test('workers from the torchrun environment: parameters bitwise identical on both ranks, rank 0 alone writes', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-ddp-'));
  try {
    const port = await freePort();
    const ps = [0, 1].map((r) => run([ENTRY, '--digest-out', join(dir, 'digest'), '--', 'train', ...TINY, '--iters', '10', '--set', 'checkpointEvery=5', '--out', join(dir, 'run')], torchrun(r, 2, port)));
    for (const p of ps) assert.equal(await p.code, 0, p.stderr());
    const [a, b] = digests(join(dir, 'digest'), [0, 1]);
    assert.equal(a!.params, b!.params, 'averaged gradients: the same weights on every rank');
    assert.notEqual(a!.buffers, b!.buffers, 'batch-norm statistics are per process (different shards)');
    const steps = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"seg"'));
    assert.equal(steps.length, 10, 'one metrics line per step, from rank 0 only');
    assert.equal(JSON.parse(readFileSync(join(dir, 'run', 'run.json'), 'utf8')).worldSize, 2);
    assert.equal(ps[1]!.stderr(), '', 'rank 1 prints nothing');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('two "machines" on 127.0.0.1 (--nnodes 2, separate launchers) train together and agree', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-ddp-'));
  try {
    const port = await freePort();
    const node = (r: number) => run([ENTRY, '--digest-out', join(dir, 'digest'), '--', 'train', ...TINY, '--iters', '4', '--out', join(dir, `node${r}`),
      '--nproc-per-node', '1', '--nnodes', '2', '--node-rank', String(r), '--master-addr', '127.0.0.1', '--master-port', String(port)]);
    const ps = [node(0), node(1)];
    for (const p of ps) assert.equal(await p.code, 0, p.stderr());
    const [a, b] = digests(join(dir, 'digest'), [0, 1]);
    assert.equal(a!.params, b!.params);
    assert.equal(readCheckpoint(listCheckpoints(join(dir, 'node0', 'checkpoints'))[0]!).meta.step, 4);
    assert.deepEqual(listCheckpoints(join(dir, 'node1', 'checkpoints')), [], 'only rank 0 checkpoints');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a worker killed mid-run: the other exits with one line naming it; the run resumes as one process', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-ddp-'));
  try {
    const port = await freePort();
    const out = join(dir, 'run');
    const args = [CLAN, 'train', ...TINY, '--iters', '1000', '--set', 'checkpointEvery=2', '--set', 'distTimeout=20', '--out', out];
    const [r0, r1] = [run(args, torchrun(0, 2, port)), run(args, torchrun(1, 2, port))];
    await r0!.onLine(/ 5\/1000/);
    const t = Date.now();
    r1!.kill('SIGKILL');
    assert.equal(await r0!.code, 1);
    assert.ok(Date.now() - t < 20_000, `rank 0 stopped ${Date.now() - t} ms after the kill`);
    const errors = r0!.stderr().split('\n').filter((l) => l.startsWith('clan:'));
    assert.equal(errors.length, 1, r0!.stderr());
    assert.match(errors[0]!, /^clan: rank 1 died or stopped responding \(.*\); the last checkpoint is .*ckpt_\d+\.safetensors; continue with: clan train --resume /);
    const saved = readCheckpoint(listCheckpoints(join(out, 'checkpoints'))[0]!).meta;
    assert.ok(saved.step >= 4 && saved.loaders.source === saved.step * 8 * 2, `global stream position ${saved.loaders.source} at step ${saved.step}`);
    // The same run, one process (batch 8 instead of 2 × 8): it continues from the global position.
    const resumed = run([CLAN, 'train', '--resume', out, '--iters', String(saved.step + 2)]);
    assert.equal(await resumed.code, 0, resumed.stderr());
    assert.match(resumed.stderr(), new RegExp(`resuming .* \\(step ${saved.step}\\)`));
    assert.ok(existsSync(join(out, 'checkpoints', `ckpt_${String(saved.step + 2).padStart(7, '0')}.safetensors`)));
    const last = readCheckpoint(listCheckpoints(join(out, 'checkpoints'))[0]!).meta;
    assert.equal(last.loaders.source, saved.loaders.source + 2 * 8);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('--nproc-per-node 2: the launcher starts both workers, prefixes rank 1, exits 0', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-ddp-'));
  try {
    const p = run([CLAN, 'train', ...TINY, '--iters', '3', '--out', join(dir, 'run'), '--nproc-per-node', '2']);
    assert.equal(await p.code, 0, p.stderr());
    assert.match(p.stderr(), /done: 3 steps/);
    assert.doesNotMatch(p.stderr(), /\[rank 1\]/, 'rank 1 had nothing to say');
    assert.equal(JSON.parse(readFileSync(join(dir, 'run', 'run.json'), 'utf8')).threads, 1);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

/** n random 32×32 images with labels 0…3 and no ignored pixel (so a per-image mean equals the batch mean). */
function folder(root: string, n: number, seed: number): string {
  const rng = new Rng(seed);
  mkdirSync(join(root, 'images'), { recursive: true }); mkdirSync(join(root, 'labels'));
  for (let i = 0; i < n; i++) {
    writeFileSync(join(root, 'images', `s${i}.png`), encodePng({ width: 32, height: 32, channels: 3, depth: 8, data: Uint8Array.from({ length: 32 * 32 * 3 }, () => rng.int(256)) }));
    writeFileSync(join(root, 'labels', `s${i}.png`), encodePng({ width: 32, height: 32, channels: 1, depth: 8, data: Uint8Array.from({ length: 32 * 32 }, () => rng.int(4)) }));
  }
  writeFileSync(join(root, 'classes.txt'), 'a\nb\nc\nd\n');
  return root;
}

test('syncBN: 2 ranks × batch 1 ≡ 1 process × batch 2 over 3 CLAN iterations (losses, weights, BN statistics); ddpOverlap bitwise the same', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-ddp-'));
  try {
    const src = folder(join(dir, 'src'), 6, 1); const tgt = folder(join(dir, 'tgt'), 6, 2);
    const common = ['train', '--source', `folder:${src}`, '--target', `folder:${tgt}`, '--backbone', 'micro', '--iters', '3', '--threads', '1',
      '--set', 'source.size=[32,32]', '--set', 'target.size=[32,32]', '--set', 'source.randomScale=false', '--set', 'target.randomScale=false',
      '--set', 'hyper.adversarial.ndf=8', '--set', 'checkpointEvery=1', '--set', 'keepLast=10'];
    const one = run([CLAN, ...common, '--batch-size', '2', '--out', join(dir, 'one')]);
    assert.equal(await one.code, 0, one.stderr());
    const port = await freePort();
    const ranks = [0, 1].map((r) => run([CLAN, ...common, '--batch-size', '1', '--set', 'syncBN=true', '--out', join(dir, 'two')], torchrun(r, 2, port)));
    for (const p of ranks) assert.equal(await p.code, 0, p.stderr());
    // ddpOverlap: G's all-reduce starts before D's passes, in buckets of its own; with 2 ranks each sum is a + b either way
    const port2 = await freePort();
    const early = [0, 1].map((r) => run([CLAN, ...common, '--batch-size', '1', '--set', 'syncBN=true', '--set', 'ddpOverlap=true', '--out', join(dir, 'early')], torchrun(r, 2, port2)));
    for (const p of early) assert.equal(await p.code, 0, p.stderr());
    const losses = (d: string) => readFileSync(join(dir, d, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, number>);
    const [a, b] = [losses('one'), losses('two')];
    assert.equal(a.length, 3);
    a.forEach((row, i) => {
      for (const k of ['seg', 'adv', 'weight', 'd_s', 'd_t', 'm']) {
        assert.ok(Math.abs(row[k]! - b[i]![k]!) <= 1e-5 * Math.abs(row[k]!), `step ${i + 1} ${k}: one process ${row[k]}, two ranks ${b[i]![k]}`);
      }
    });
    const ck = (d: string, step: number) => readCheckpoint(join(dir, d, 'checkpoints', `ckpt_${String(step).padStart(7, '0')}.safetensors`)).tensors;
    const [a3, b3, a1] = [ck('one', 3), ck('two', 3), ck('one', 1)];
    let compared = 0;
    for (const [k, t] of a3) {
      if (!/^[GD]\./.test(k) || t.dtype !== 'float32') continue;
      const x = t.data as Float32Array; const y = b3.get(k)!.data as Float32Array; const x1 = a1.get(k)!.data as Float32Array;
      let diff = 0, move = 0, norm = 0;
      for (let i = 0; i < x.length; i++) { diff += (x[i]! - y[i]!) ** 2; move += (x[i]! - x1[i]!) ** 2; norm += x[i]! ** 2; }
      const scale = /running_/.test(k) ? Math.sqrt(norm) : Math.sqrt(move);
      if (scale === 0) { assert.equal(diff, 0, k); continue; }
      // D is stepped by Adam, which moves an element whose gradient is at rounding level by a whole step either way:
      // measured on an AVX2 CPU, G ≤ 2.1e-5 and D ≤ 1.95e-4 of the step 1→3 movement (AVX-512: both under 1e-4)
      const tol = k.startsWith('D.') ? 1e-3 : 1e-4;
      assert.ok(Math.sqrt(diff) <= tol * scale, `${k}: ‖one − two‖ = ${Math.sqrt(diff).toExponential(2)}, scale ${scale.toExponential(2)}`);
      compared++;
    }
    assert.ok(compared > 60, `${compared} tensors compared`);
    const e3 = ck('early', 3);
    for (const [k, t] of b3) if (/^[GD]\./.test(k)) assert.deepEqual(e3.get(k)!.data, t.data, `${k}: ddpOverlap changed the result`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
