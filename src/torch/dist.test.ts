// c10d through the addon, 2 processes over loopback: collective values, async work, and the failures users meet
// (a port in use, a peer that died, a peer that never came) as one DistError line within the timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { distBackends } from './dist.js';
import { createServer } from 'node:net';
import { freePort } from '../util/net.js';

const skip = distBackends().includes('gloo') ? false : 'the addon was built without gloo (libgloo-dev)';
const TORCH = new URL('./index.js', import.meta.url).href;

/** Runs `body` (JS with `torch`, `rank` in scope) as rank `rank` of 2; resolves to its stdout lines and exit code. */
function rank(r: number, port: number, body: string, world = 2, timeoutMs = 5000): Promise<{ out: string[]; code: number | null }> {
  const src = `const torch = await import(${JSON.stringify(TORCH)}); const rank = ${r};
    try { torch.dist.initProcessGroup({ masterAddr: '127.0.0.1', masterPort: ${port}, rank, worldSize: ${world}, timeoutMs: ${timeoutMs} }); ${body} }
    catch (e) { console.log(e.constructor.name + ': ' + e.message); }`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((res) => child.on('exit', (code) => res({ out: out.trim().split('\n'), code })));
}

test('allreduce (sum, async), broadcast, allgather and barrier give the same values on both ranks', { skip }, async () => {
  const port = await freePort();
  const body = `
    const a = torch.tensor([rank + 1, 10 * (rank + 1), -0.5]);
    const b = torch.full([2, 2], rank === 0 ? 3.25 : 0);
    const w = torch.dist.allReduceAsync([a]);
    w.wait(); w.wait();
    torch.dist.broadcast([b], 0);
    const g = torch.dist.allGather(torch.tensor([rank * 7]));
    torch.dist.barrier();
    console.log(JSON.stringify([Array.from(a.toTypedArray()), Array.from(b.toTypedArray()), g.map((t) => t.item()), torch.dist.getRank(), torch.dist.getWorldSize()]));
    torch.dist.destroyProcessGroup();`;
  const rs = await Promise.all([rank(0, port, body), rank(1, port, body)]);
  for (const [r, x] of rs.entries()) assert.deepEqual(JSON.parse(x.out[0]!), [[3, 30, -1], [3.25, 3.25, 3.25, 3.25], [0, 7], r, 2]);
});

test('a peer that dies: the survivor\'s next collective fails with one line, at once', { skip }, async () => {
  const port = await freePort();
  const body = `torch.dist.barrier(); if (rank === 1) process.exit(3);
    const t0 = Date.now(); try { torch.dist.allReduce([torch.ones([4])]); console.log('no error'); }
    catch (e) { console.log(e.constructor.name + ': ' + e.message.split('\\n').length + ' line: ' + e.message); console.log(Date.now() - t0 < 4000 ? 'fast' : 'slow'); }`;
  const [a] = await Promise.all([rank(0, port, body, 2, 30_000), rank(1, port, body, 2, 30_000)]);
  assert.match(a.out[0]!, /^DistError: 1 line: distributed allreduce failed on rank 0: /);
  assert.equal(a.out[1], 'fast');
});

test('a peer that never comes, and a port already in use: one line each within the timeout', { skip }, async () => {
  const port = await freePort();
  const lonely = await rank(0, port, `console.log('joined')`, 2, 1500);
  assert.match(lonely.out[0]!, /^DistError: distributed: rank 0 waited 1\.5 s at 127\.0\.0\.1:\d+ and not all 2 ranks arrived; start every worker with the same MASTER_ADDR:MASTER_PORT/);
  const srv = createServer().listen(port, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  try {
    const busy = await rank(0, port, `console.log('joined')`, 2, 1500);
    assert.match(busy.out[0]!, /^DistError: distributed: 127\.0\.0\.1:\d+ is already in use on rank 0's machine; choose another MASTER_PORT/);
  } finally { srv.close(); }
});
