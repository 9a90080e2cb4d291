// One process of `clan bench ddp` (started by bench/ddp.ts with the torchrun environment and a JSON argument):
// CLAN iterations on random batches, data-parallel when WORLD_SIZE > 1; prints one JSON line with its step times
// and the time spent in the gradient all-reduce.
import * as torch from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { Clan } from '../methods/clan.js';
import { DEFAULT_METHOD_CONFIG } from '../methods/config.js';
import { broadcastModules, distEnvFrom, gradientAverager } from '../methods/ddp.js';
import { median } from './util.js';

const o = JSON.parse(process.argv[2]!) as { backbone: string; height: number; width: number; warmup: number; steps: number; threads: number;
  overlap: boolean };
const dist = distEnvFrom(process.env);
if (dist) torch.dist.initProcessGroup({ ...dist, timeoutMs: 600_000 });
torch.setNumThreads(o.threads);
torch.manualSeed(0);
const G = createSegmentor(o.backbone, 19);
const clan = new Clan(G, DEFAULT_METHOD_CONFIG);
const reduceMs: number[] = []; const waitMs: number[] = [];
if (dist) {
  broadcastModules([G, clan.D]);
  const avg = gradientAverager(dist.worldSize, { overlap: o.overlap });
  clan.optG.gradToNone = false; clan.optD.gradToNone = false;
  // A barrier at the step's first gradient call separates waiting for the slower rank (waitMs) from the time the
  // step is blocked in the all-reduce (reduceMs: starting it, and waiting for what has not arrived by the optimizer step).
  let first = true; let blocked = 0;
  const timed = (fn: () => void) => { const t = process.hrtime.bigint(); fn(); blocked += Number(process.hrtime.bigint() - t) / 1e6; };
  const barrier = () => {
    if (!first) return; first = false;
    const t = process.hrtime.bigint(); torch.dist.barrier(); waitMs.push(Number(process.hrtime.bigint() - t) / 1e6);
  };
  clan.gradSync = {
    ready: (ps) => { if (o.overlap) barrier(); timed(() => avg.ready(ps)); },
    finish: (ps) => { barrier(); timed(() => avg.finish(ps)); reduceMs.push(blocked); first = true; blocked = 0; },
  };
}
torch.manualSeed(1 + (dist?.rank ?? 0)); // each rank its own data
const xs = torch.keep(torch.randn([1, 3, o.height, o.width]));
const ys = torch.keep(torch.randint(0, 19, [1, o.height, o.width]));
const xt = torch.keep(torch.randn([1, 3, o.height, o.width]));
const ms: number[] = [];
for (let i = 0; i < o.warmup + o.steps; i++) {
  const t = process.hrtime.bigint();
  clan.trainStep(6000, { image: xs, label: ys }, { image: xt, size: [o.height, o.width] });
  if (i >= o.warmup) ms.push(Number(process.hrtime.bigint() - t) / 1e6);
}
const tail = (xs: number[]) => (xs.length > o.warmup ? median(xs.slice(o.warmup)) : 0);
console.log(JSON.stringify({ rank: dist?.rank ?? 0, step_ms: median(ms), allreduce_ms: tail(reduceMs), wait_ms: tail(waitMs) }));
clan.dispose(); G.dispose();
if (dist) torch.dist.destroyProcessGroup();
