// Data-parallel on GPUs through NCCL (native/dist.cc): the collectives on CUDA tensors with one process per GPU (a
// CPU tensor beside them goes through Gloo, or through the GPU where Gloo is absent), and a data-parallel training run
// on one GPU equal to the plain run. Skipped, saying why, without NCCL in the build or without a GPU; the launcher's
// one-GPU-per-process rule is checked everywhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { resolveConfig } from '../config/load.js';
import { train } from './trainer.js';
import { listCheckpoints, readCheckpoint } from '../io/checkpoint.js';
import { freePort } from '../util/net.js';
import type { HostTensor } from '../torch/dtype.js';
import { packageRoot } from '../util/paths.js';

const gpus = torch.cudaDeviceCount();
const NCCL = !torch.dist.distBackends().includes('nccl') ? `the addon has no NCCL (${torch.buildInfo().build}; backends: ${torch.dist.distBackends().join(', ') || 'none'})`
  : gpus === 0 ? `no GPU visible to ${torch.buildInfo().build}` : false;
const TORCH = new URL('../torch/index.js', import.meta.url).href;

/** Rank `r` of `world` as its own process on cuda:r; resolves to its stdout lines. */
function rank(r: number, world: number, port: number, body: string): Promise<string[]> {
  const src = `const torch = await import(${JSON.stringify(TORCH)}); const rank = ${r};
    try { torch.dist.initProcessGroup({ masterAddr: '127.0.0.1', masterPort: ${port}, rank, worldSize: ${world}, timeoutMs: 60000, backend: 'nccl', cudaIndex: rank }); ${body} }
    catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((res) => child.on('exit', () => res(out.trim().split('\n'))));
}

test('NCCL: allreduce (async), broadcast, allgather and barrier on CUDA tensors, one process per GPU; CPU tensors beside them', { skip: NCCL }, async () => {
  const world = Math.min(gpus, 2);
  const port = await freePort();
  const body = `
    const dev = 'cuda:' + rank;
    const a = torch.tensor([rank + 1, 10 * (rank + 1), -0.5]).to(dev);
    const b = torch.full([2, 2], rank === 0 ? 3.25 : 0).to(dev);
    const c = torch.tensor([rank + 0.5, 2]);
    const w = torch.dist.allReduceAsync([a]);
    w.wait();
    torch.dist.broadcast([b], 0);
    torch.dist.allReduce([c]);
    const g = torch.dist.allGather(torch.tensor([rank * 7]).to(dev));
    torch.dist.barrier();
    console.log(JSON.stringify([a.device, Array.from(a.toTypedArray()), Array.from(b.toTypedArray()), c.device, Array.from(c.toTypedArray()),
      g.map((t) => t.item()), g[0].device, torch.dist.getBackend()]));
    torch.dist.destroyProcessGroup();`;
  const outs = await Promise.all(Array.from({ length: world }, (_, r) => rank(r, world, port, body)));
  const n = world; const sum = (f: (r: number) => number) => Array.from({ length: n }, (_, r) => f(r)).reduce((x, y) => x + y, 0);
  for (const [r, out] of outs.entries()) {
    assert.deepEqual(JSON.parse(out[0]!), [`cuda:${r}`, [sum((q) => q + 1), sum((q) => 10 * (q + 1)), -0.5 * n], [3.25, 3.25, 3.25, 3.25],
      'cpu', [sum((q) => q + 0.5), 2 * n], Array.from({ length: n }, (_, q) => q * 7), `cuda:${r}`, 'nccl'], out.join('\n'));
  }
});

// A data-parallel run of one rank goes through everything DDP adds (rank 0's broadcast, gradients in all-reduce
// buckets, the per-step agreement, the sharded loaders) and must land where the plain run lands: bitwise on the CPU
// (Gloo). On CUDA two plain runs already differ (bilinear backward accumulates with atomics, and Adam's moments
// amplify that over the steps), so there the data-parallel run must lie within 10× the GPU's own run-to-run spread.
const CASES = [
  { backend: 'gloo', device: 'cpu', skip: torch.dist.distBackends().includes('gloo') ? false : 'the addon has no Gloo' },
  { backend: 'nccl', device: 'cuda', skip: NCCL },
] as const;

/** The worst ‖a − b‖/‖a‖ over the tensors of two checkpoints, and where. */
function worstRel(a: Map<string, HostTensor>, b: Map<string, HostTensor>): { rel: number; key: string } {
  let worst = { rel: 0, key: '-' };
  for (const [k, ta] of a) {
    const tb = b.get(k);
    assert.ok(tb, `checkpoint lacks ${k}`);
    let diff = 0; let norm = 0;
    for (let i = 0; i < ta.data.length; i++) { const x = Number(ta.data[i]); diff += (x - Number(tb.data[i])) ** 2; norm += x * x; }
    const rel = norm > 0 ? Math.sqrt(diff / norm) : Math.sqrt(diff);
    if (rel > worst.rel) worst = { rel, key: k };
  }
  return worst;
}

for (const c of CASES) {
  test(`${c.backend}: a data-parallel CLAN run of one rank (${c.device}) equals the plain run`, { skip: c.skip }, async (t) => {
    const root = mkdtempSync(join(tmpdir(), `clan-${c.backend}-`));
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const config = resolveConfig({ preset: 'cpu', flags: { method: 'clan', backbone: 'micro', iters: 4, batchSize: 2, threads: 1, checkpointEvery: 4,
      logEvery: 1000, device: c.device, deterministic: true, distBackend: c.backend, targetVal: { data: 'digitscapes:val', limit: 2 },
      hyper: { maxIter: 12, warmup: 1, clan: { preheat: 1 }, adversarial: { ndf: 8 } } } });
    const quiet = { log: () => {} };
    const last = (d: string) => readCheckpoint(listCheckpoints(join(root, d, 'checkpoints')).at(-1)!).tensors;
    await train({ config, outDir: join(root, 'plain'), ...quiet });
    const dist = { rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort() };
    await train({ config, outDir: join(root, 'ddp'), dist, ...quiet });
    const ddp = worstRel(last('plain'), last('ddp'));
    let bound = 0;
    if (c.device !== 'cpu') {
      await train({ config, outDir: join(root, 'plain2'), ...quiet });
      const noise = worstRel(last('plain'), last('plain2'));
      t.diagnostic(`two plain runs on the GPU: worst ${noise.rel.toExponential(2)} (${noise.key})`);
      bound = 10 * noise.rel + 1e-6;
    }
    t.diagnostic(`plain vs data-parallel: worst ‖Δ‖/‖plain‖ ${ddp.rel.toExponential(2)} (${ddp.key}), bound ${bound.toExponential(2)}`);
    assert.ok(ddp.rel <= bound, `${c.backend}: one rank moved ${ddp.key} by ${ddp.rel} (bound ${bound})`);
  });
}

test('--nproc-per-node on CUDA asks one GPU per process (NCCL refuses two ranks on one GPU) and --device cuda, not cuda:N', () => {
  const clan = join(packageRoot(), 'bin', 'clan.js');
  const r = (dev: string, n: number) => spawnSync(process.execPath, [clan, 'train', '--preset', 'cpu', '--iters', '1', '--device', dev, '--nproc-per-node', String(n),
    '--out', join(tmpdir(), `clan-nproc-${process.pid}`)], { encoding: 'utf8' });
  const many = r('cuda', gpus + 1);
  assert.equal(many.status, gpus > 0 ? 2 : 1, many.stderr);
  assert.equal(many.stderr.trim().split('\n').length, 1, many.stderr);
  if (gpus > 0) {
    assert.match(many.stderr, new RegExp(`--nproc-per-node ${gpus + 1} with --device cuda needs one GPU per process, and ${gpus} GPU\\(s\\) are visible`));
    const pinned = r('cuda:0', 1);
    assert.equal(pinned.status, 2);
    assert.match(pinned.stderr, /--nproc-per-node takes --device cuda \(each process uses cuda:LOCAL_RANK\), got 'cuda:0'/);
  } else {
    assert.match(many.stderr, /device 'cuda': /, 'without a GPU the device itself is refused first, naming the build');
  }
});
