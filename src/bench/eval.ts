// `clan bench eval`: evaluation throughput as `clan eval` runs it — G in eval mode on one H×W image, both heads
// upsampled to the label size (default 2H×2W, the official 1024×512 → 2048×1024), argmax, the prediction copied
// to the host — against tools/reference/clan_eval_bench.py, on the CPU or a GPU.
import * as torch from '../torch/index.js';
import { createGenerator } from '../models/registry.js';
import { predictLogits } from '../models/segmentor.js';
import { benchSetup, gpuPeakMb, median, peakRssMb, round, runTorchTwin, timeSteps } from './util.js';

export interface EvalBenchOptions {
  backbone: string; height: number; width: number; labelHeight: number; labelWidth: number;
  iters: number; warmup: number; threads: number; compare: boolean; rounds: number; device: torch.Device;
}

export function benchEval(o: EvalBenchOptions, emit: (line: object) => void): void {
  const { dev, cuda } = benchSetup(o);
  const G = createGenerator(o.backbone, 19).to(dev).eval();
  const x = torch.keep(torch.randn([1, 3, o.height, o.width], { device: dev }));
  const label: [number, number] = [o.labelHeight, o.labelWidth];
  const one = () => { torch.tidy(() => predictLogits(G, x, label).argmax(1).to('uint8').toTypedArray()); };
  const ours: number[] = []; const theirs: number[] = [];
  let version = ''; let torchPeak: number | null = null;
  const rounds = o.compare ? Math.max(3, o.rounds) : 1;
  for (let i = 0; i < o.warmup; i++) one();
  if (cuda) torch.resetPeakMemoryStats(dev); // steady state: cuDNN's autotuner tries big workspaces in the warm-up
  for (let r = 0; r < rounds; r++) {
    ours.push(...timeSteps(0, o.iters, one));
    if (o.compare) {
      const t = runTorchTwin('clan_eval_bench.py', [o.backbone, o.height, o.width, o.threads, o.warmup, o.iters, dev,
        '--label', `${o.labelHeight}x${o.labelWidth}`, '--cudnn-benchmark', cuda ? 1 : 0], o.threads);
      theirs.push(...t.ms); version = t.torch;
      torchPeak = typeof t.extra.peak_mem_mb === 'number' ? Math.max(torchPeak ?? 0, t.extra.peak_mem_mb) : null;
    }
  }
  const ms = median(ours);
  const line: Record<string, unknown> = { bench: 'eval', backbone: o.backbone, size: `${o.height}x${o.width}`,
    label: `${o.labelHeight}x${o.labelWidth}`, device: dev, threads: o.threads, median_ms: round(ms), images_per_s: round(1000 / ms) };
  if (o.compare) {
    const tm = median(theirs);
    Object.assign(line, { torch_median_ms: round(tm), torch_images_per_s: round(1000 / tm), ratio: round(ms / tm, 3) });
  }
  line.peak_rss_mb = peakRssMb();
  if (cuda) {
    line.peak_gpu_mb = gpuPeakMb(dev);
    if (torchPeak !== null) line.torch_peak_gpu_mb = torchPeak;
  }
  if (o.compare) line.torch = version;
  emit(line);
  G.dispose(); x.dispose();
}
