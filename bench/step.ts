// `clan bench step`: one full CLAN iteration (source + target image of H×W, batch 1, 19 classes, i past the
// preheat so the weighted losses run, G and D updated) against tools/reference/clan_step_bench.py.
import * as torch from '../src/torch/index.js';
import { createGenerator } from '../src/models/registry.js';
import { Clan } from '../src/methods/clan.js';
import { DEFAULT_METHOD_CONFIG } from '../src/methods/uda.js';
import { median, peakRssMb, round, runTorchTwin, timeSteps } from './util.js';
import { torchVersion, INSTALL_TORCH } from '../src/cli/python.js';
import { ClanError } from '../src/util/errors.js';

export interface StepBenchOptions {
  backbone: string; height: number; width: number; iters: number; warmup: number; threads: number;
  compare: boolean; rounds: number; device: torch.Device;
}
const ITERATION = 6000; // past the official warm-up and preheat (5000): every CLAN term runs

export function benchStep(o: StepBenchOptions, emit: (line: object) => void): void {
  if (o.compare && torchVersion() === null) throw new ClanError(INSTALL_TORCH);
  torch.setNumThreads(o.threads);
  torch.manualSeed(0);
  const G = createGenerator(o.backbone, 19);
  const clan = new Clan(G, DEFAULT_METHOD_CONFIG);
  const dev = o.device;
  if (dev !== 'cpu') throw new ClanError('bench step: only --device cpu is wired in this build');
  const xs = torch.keep(torch.randn([1, 3, o.height, o.width]));
  const ys = torch.keep(torch.randint(0, 19, [1, o.height, o.width]));
  const xt = torch.keep(torch.randn([1, 3, o.height, o.width]));
  const size: [number, number] = [o.height, o.width];
  const step = () => { clan.trainStep(ITERATION, { image: xs, label: ys }, { image: xt, size }); };
  const ours: number[] = []; const theirs: number[] = []; const ratios: number[] = [];
  let version = '';
  const rounds = o.compare ? Math.max(3, o.rounds) : 1;
  for (let r = 0; r < rounds; r++) {
    const mine = timeSteps(o.warmup, o.iters, step);
    ours.push(...mine);
    if (o.compare) {
      const t = runTorchTwin('clan_step_bench.py', [o.backbone, o.height, o.width, o.threads, o.warmup, o.iters], o.threads);
      theirs.push(...t.ms); version = t.torch;
      ratios.push(median(mine) / median(t.ms));
    }
  }
  const line: Record<string, unknown> = { bench: 'step', backbone: o.backbone, size: `${o.height}x${o.width}`, threads: o.threads, median_ms: round(median(ours)) };
  if (o.compare) {
    const tm = median(theirs);
    Object.assign(line, { torch_median_ms: round(tm), ratio: round(median(ours) / tm, 3), ratio_spread: [round(Math.min(...ratios), 3), round(Math.max(...ratios), 3)] });
  }
  line.peak_rss_mb = peakRssMb();
  if (o.compare) line.torch = version;
  emit(line);
  clan.dispose(); G.dispose(); xs.dispose(); ys.dispose(); xt.dispose();
}
