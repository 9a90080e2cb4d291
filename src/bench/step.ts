// `clan bench step`: one full CLAN iteration (source H×W + target image, batch 1, 19 classes, i past the preheat
// so the weighted losses run, G and D updated) against tools/reference/clan_step_bench.py, on the CPU or a GPU.
import * as torch from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { Clan } from '../methods/clan.js';
import { DEFAULT_METHOD_CONFIG, withHyper } from '../methods/config.js';
import { benchSetup, gpuPeakMb, median, peakRssMb, round, runRounds, TwinRounds } from './util.js';
import { clanIterationFlops } from './flops.js';
import { measurePeak } from './peak.js';
import { profileCalls } from './profile.js';

export interface StepBenchOptions {
  backbone: string; height: number; width: number; targetHeight: number; targetWidth: number;
  iters: number; warmup: number; threads: number; compare: boolean; rounds: number;
  device: torch.Device; amp: 'off' | 'bf16' | 'fp16';
  peak: boolean;     // also measure `clan bench peak` (CPU only) for peak_share
  pointwiseOnednn: boolean; // CPU 1×1 convolutions through oneDNN (torch.setPointwiseOnednn; same math)
  twinPointwise: boolean;   // the PyTorch twin does the same (a PyTorch user can too)
  dOwnSize: boolean;        // hyper.adversarial.dFullSize false: D's losses at its own size (changes the math; ours only)
  profile: number;          // this many more iterations under libtorch's op profiler (0: none)
  trace?: string;           // keep the profiler's Chrome trace here
}
const ITERATION = 6000; // past the official warm-up and preheat (5000): every CLAN term runs
const PEAK_REPS = 3;

export function benchStep(o: StepBenchOptions, emit: (line: object) => void): void {
  const { dev, cuda, restore } = benchSetup(o);
  const G = createSegmentor(o.backbone, 19).to(dev);
  const clan = new Clan(G, withHyper(DEFAULT_METHOD_CONFIG, { amp: o.amp, adversarial: { dFullSize: !o.dOwnSize } }));
  const xs = torch.keep(torch.randn([1, 3, o.height, o.width], { device: dev }));
  const ys = torch.keep(torch.randint(0, 19, [1, o.height, o.width], { device: dev }));
  const xt = torch.keep(torch.randn([1, 3, o.targetHeight, o.targetWidth], { device: dev }));
  const size: [number, number] = [o.targetHeight, o.targetWidth];
  const step = () => { clan.trainStep(ITERATION, { image: xs, label: ys }, { image: xt, size }); torch.synchronize(dev); };
  const twin = o.compare ? new TwinRounds('clan_step_bench.py', [o.backbone, o.height, o.width, o.threads, o.warmup, o.iters, dev,
    '--target', `${o.targetHeight}x${o.targetWidth}`, '--amp', o.amp, '--cudnn-benchmark', cuda ? 1 : 0, '--pointwise-onednn', o.twinPointwise ? 1 : 0], o.threads) : null;
  const { ours, torchPeakMb, torchDevice } = runRounds(o, dev, step, twin);
  const ms = median(ours);
  const gflop = clanIterationFlops(G, clan.D, [o.height, o.width], [o.targetHeight, o.targetWidth]).total / 1e9;
  const line: Record<string, unknown> = { bench: 'step', backbone: o.backbone, size: `${o.width}x${o.height}`,
    target: `${o.targetWidth}x${o.targetHeight}`, device: dev, amp: o.amp, threads: o.threads, pointwise_onednn: o.pointwiseOnednn,
    d_own_size: o.dOwnSize, median_ms: round(ms), gflop: round(gflop, 3), gflops: round(gflop / (ms / 1000), 1) };
  if (twin) Object.assign(line, { twin_pointwise_onednn: o.twinPointwise }, twin.fields(ms));
  line.peak_rss_mb = peakRssMb();
  if (cuda) {
    line.peak_gpu_mb = gpuPeakMb(dev);
    if (torchPeakMb !== null) {
      Object.assign(line, { torch_peak_gpu_mb: torchPeakMb, peak_gpu_ratio: round(gpuPeakMb(dev) / torchPeakMb, 3) });
    }
    line.gpu = torchDevice ?? torch.cudaDeviceInfo(dev).name;
  }
  if (o.peak) { // the better of the two kernels at the same threads (bench/peak.ts)
    const p = measurePeak({ threads: o.threads, reps: PEAK_REPS });
    const best = Math.max(p.convGflops, p.sgemmGflops);
    Object.assign(line, { peak_gflops: round(best, 1), peak_share: round(gflop / (ms / 1000) / best, 3) });
  }
  if (o.profile > 0) {
    const p = profileCalls(o.profile, step, o.trace ? { keep: o.trace } : {});
    Object.assign(line, p, { conv_gflops: round(gflop / (p.conv_ms / 1000), 1) });
  }
  if (twin) line.torch = twin.version;
  restore();
  emit(line);
  clan.dispose(); G.dispose(); xs.dispose(); ys.dispose(); xt.dispose();
}
