// `clan bench step`: one full CLAN iteration (source H×W + target image, batch 1, 19 classes, i past the preheat
// so the weighted losses run, G and D updated) against tools/reference/clan_step_bench.py, on the CPU or a GPU.
import * as torch from '../torch/index.js';
import { createGenerator } from '../models/registry.js';
import { Clan } from '../methods/clan.js';
import { DEFAULT_METHOD_CONFIG } from '../methods/config.js';
import { benchSetup, gpuPeakMb, median, peakRssMb, round, runTorchTwin, timeSteps } from './util.js';

export interface StepBenchOptions {
  backbone: string; height: number; width: number; targetHeight: number; targetWidth: number;
  iters: number; warmup: number; threads: number; compare: boolean; rounds: number;
  device: torch.Device; amp: 'off' | 'bf16' | 'fp16';
}
const ITERATION = 6000; // past the official warm-up and preheat (5000): every CLAN term runs

export function benchStep(o: StepBenchOptions, emit: (line: object) => void): void {
  const { dev, cuda } = benchSetup(o);
  const G = createGenerator(o.backbone, 19).to(dev);
  const clan = new Clan(G, { ...DEFAULT_METHOD_CONFIG, amp: o.amp });
  const xs = torch.keep(torch.randn([1, 3, o.height, o.width], { device: dev }));
  const ys = torch.keep(torch.randint(0, 19, [1, o.height, o.width], { device: dev }));
  const xt = torch.keep(torch.randn([1, 3, o.targetHeight, o.targetWidth], { device: dev }));
  const size: [number, number] = [o.targetHeight, o.targetWidth];
  const step = () => { clan.trainStep(ITERATION, { image: xs, label: ys }, { image: xt, size }); torch.synchronize(dev); };
  const ours: number[] = []; const theirs: number[] = []; const ratios: number[] = [];
  let version = ''; let torchPeak: number | null = null; let deviceName: string | null = null;
  const rounds = o.compare ? Math.max(3, o.rounds) : 1;
  for (let i = 0; i < o.warmup; i++) step();
  if (cuda) torch.resetPeakMemoryStats(dev); // steady state: cuDNN's autotuner tries big workspaces in the warm-up
  for (let r = 0; r < rounds; r++) {
    const mine = timeSteps(0, o.iters, step);
    ours.push(...mine);
    if (o.compare) {
      const t = runTorchTwin('clan_step_bench.py', [o.backbone, o.height, o.width, o.threads, o.warmup, o.iters, dev,
        '--target', `${o.targetHeight}x${o.targetWidth}`, '--amp', o.amp, '--cudnn-benchmark', cuda ? 1 : 0], o.threads);
      theirs.push(...t.ms); version = t.torch;
      torchPeak = typeof t.extra.peak_mem_mb === 'number' ? Math.max(torchPeak ?? 0, t.extra.peak_mem_mb) : null;
      deviceName = typeof t.extra.device_name === 'string' ? t.extra.device_name : null;
      ratios.push(median(mine) / median(t.ms));
    }
  }
  const line: Record<string, unknown> = { bench: 'step', backbone: o.backbone, size: `${o.height}x${o.width}`,
    target: `${o.targetHeight}x${o.targetWidth}`, device: dev, amp: o.amp, threads: o.threads, median_ms: round(median(ours)) };
  if (o.compare) {
    const tm = median(theirs);
    Object.assign(line, { torch_median_ms: round(tm), ratio: round(median(ours) / tm, 3), ratio_spread: [round(Math.min(...ratios), 3), round(Math.max(...ratios), 3)] });
  }
  line.peak_rss_mb = peakRssMb();
  if (cuda) {
    line.peak_gpu_mb = gpuPeakMb(dev);
    if (torchPeak !== null) Object.assign(line, { torch_peak_gpu_mb: torchPeak, peak_gpu_ratio: round(gpuPeakMb(dev) / torchPeak, 3) });
    line.gpu = deviceName ?? torch.cudaDeviceInfo(dev).name;
  }
  if (o.compare) line.torch = version;
  emit(line);
  clan.dispose(); G.dispose(); xs.dispose(); ys.dispose(); xt.dispose();
}
