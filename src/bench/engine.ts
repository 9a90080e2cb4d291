// `clan bench engine`: the 7-layer probe net (bench/probe-net.ts) against its PyTorch twin
// (tools/reference/probe_net.py), same sizes and threads, alternating ours/theirs rounds.
import * as torch from '../torch/index.js';
import { ProbeNet, probeStep, PROBE_CLASSES } from './probe-net.js';
import { median, peakRssMb, round, runTorchTwin, timeSteps } from './util.js';
import { torchVersion, INSTALL_TORCH } from '../util/python.js';
import { ClanError } from '../util/errors.js';

export interface EngineBenchOptions {
  sizes: [number, number][];  // [H, W], default 128×256 and 512×1024
  threads: number;            // intra-op threads for both sides (1 by default)
  warmup: number;             // untimed steps per round (3)
  steps: number;              // timed steps per round (20)
  rounds: number;             // ours/theirs alternations (≥ 3)
  compare: boolean;           // false with --no-compare
}

export function benchEngine(o: EngineBenchOptions, emit: (line: object) => void): void {
  if (o.compare && torchVersion() === null) throw new ClanError(INSTALL_TORCH + ' (or pass --no-compare)');
  torch.setNumThreads(o.threads);
  for (const [H, W] of o.sizes) {
    torch.manualSeed(0);
    const net = new ProbeNet();
    const opt = new torch.SGD([{ params: net.parameters(), lr: 0.01, momentum: 0.9 }]);
    const x = torch.keep(torch.randn([1, 3, H, W]));
    const y = torch.keep(torch.randint(0, PROBE_CLASSES, [1, H, W]));
    const ours: number[] = []; const theirs: number[] = []; const ratios: number[] = [];
    let version = '';
    for (let r = 0; r < o.rounds; r++) {
      const mine = timeSteps(o.warmup, o.steps, () => { probeStep(net, opt, x, y); });
      ours.push(...mine);
      if (o.compare) {
        const t = runTorchTwin('probe_net.py', [H, W, o.threads, o.warmup, o.steps], o.threads);
        theirs.push(...t.ms);
        version = t.torch;
        ratios.push(median(mine) / median(t.ms));
      }
    }
    const line: Record<string, unknown> = { bench: 'engine', size: `1x3x${H}x${W}`, threads: o.threads, median_ms: round(median(ours)) };
    if (o.compare) {
      const tm = median(theirs);
      Object.assign(line, { torch_median_ms: round(tm), ratio: round(median(ours) / tm, 3),
        ratio_spread: [round(Math.min(...ratios), 3), round(Math.max(...ratios), 3)] });
    }
    line.peak_rss_mb = peakRssMb();
    if (o.compare) line.torch = version;
    emit(line);
    opt.dispose(); net.dispose(); x.dispose(); y.dispose();
  }
}
