// `clan bench eval`: evaluation throughput as `clan eval` runs it — G in eval mode on one H×W image, both heads
// upsampled to the label size (default 2H×2W, the official 1024×512 → 2048×1024), argmax, the prediction copied
// to the host — against tools/reference/clan_eval_bench.py, on the CPU or a GPU. With an inference spec (slide
// windows, multi-scale + flip) one image is an RGB image at the label size run through infer/inference.ts as
// `clan eval --mode …` runs it (host resizes included); the PyTorch twin measures the whole mode only.
import * as torch from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { predictLogits } from '../models/segmentor.js';
import { checkInferenceSpec, inferencePasses, inferLabels, isPlainWhole, slideWindows, type InferenceSpec } from '../infer/inference.js';
import { UsageError } from '../util/errors.js';
import { profileCalls } from './profile.js';
import { benchSetup, gpuPeakMb, median, peakRssMb, round, runRounds, TwinRounds } from './util.js';

export interface EvalBenchOptions {
  backbone: string; height: number; width: number; labelHeight: number; labelWidth: number;
  iters: number; warmup: number; threads: number; compare: boolean; rounds: number; device: torch.Device;
  pointwiseOnednn: boolean; twinPointwise: boolean; // as bench step
  profile: number; trace?: string;                  // as bench step
  inference?: InferenceSpec;                        // default: one whole pass (what the twin measures)
}

/** What one image of a spec costs: its passes and, for slide, the windows over all passes; and the run itself. */
function specRun(G: ReturnType<typeof createSegmentor>, o: EvalBenchOptions,
  spec: InferenceSpec): { one: () => void; fields: Record<string, unknown> } {
  let s = 12345;
  // noise
  const data = Uint8Array.from({ length: 3 * o.labelWidth * o.labelHeight }, () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24);
  const img = { width: o.labelWidth, height: o.labelHeight, data };
  const target = { evalSize: [o.width, o.height] as const, normalize: 'caffe' as const, out: [o.labelHeight, o.labelWidth] as const };
  const passes = inferencePasses(spec, img.width, img.height, target.evalSize);
  const windows = spec.mode === 'slide' ? passes.reduce((n, p) => n + slideWindows(p.width, p.height, spec.crop!, spec.stride!).length, 0) : passes.length;
  return {
    one: () => { torch.tidy(() => inferLabels(G, img, spec, target).to('uint8').toTypedArray()); },
    fields: { mode: spec.mode, ...(spec.crop ? { crop: spec.crop.join('x'), stride: spec.stride!.join('x') } : {}),
      ...(spec.scales ? { scales: spec.scales } : {}), flip: spec.flip === true, passes: passes.length, forwards: windows },
  };
}

export function benchEval(o: EvalBenchOptions, emit: (line: object) => void): void {
  if (!isPlainWhole(o.inference)) {
    checkInferenceSpec(o.inference!);
    if (o.compare) throw new UsageError('bench eval: --compare measures the whole mode only (the PyTorch twin has no slide windows or multi-scale)');
  }
  const { dev, cuda, restore } = benchSetup(o);
  const G = createSegmentor(o.backbone, 19).to(dev).eval();
  const x = torch.keep(torch.randn([1, 3, o.height, o.width], { device: dev }));
  const label: [number, number] = [o.labelHeight, o.labelWidth];
  const spec = isPlainWhole(o.inference) ? null : specRun(G, o, o.inference!);
  const one = spec?.one ?? (() => { torch.tidy(() => predictLogits(G, x, label).argmax(1).to('uint8').toTypedArray()); });
  const twin = o.compare ? new TwinRounds('clan_eval_bench.py', [o.backbone, o.height, o.width, o.threads, o.warmup, o.iters, dev,
    '--label', `${o.labelHeight}x${o.labelWidth}`, '--cudnn-benchmark', cuda ? 1 : 0, '--pointwise-onednn', o.twinPointwise ? 1 : 0], o.threads) : null;
  const { ours, torchPeakMb } = runRounds(o, dev, one, twin);
  const ms = median(ours);
  const line: Record<string, unknown> = { bench: 'eval', backbone: o.backbone, size: `${o.width}x${o.height}`,
    label: `${o.labelWidth}x${o.labelHeight}`, device: dev, threads: o.threads, pointwise_onednn: o.pointwiseOnednn, ...spec?.fields,
    median_ms: round(ms), images_per_s: round(1000 / ms) };
  if (twin) {
    Object.assign(line, { twin_pointwise_onednn: o.twinPointwise }, twin.fields(ms),
      { torch_images_per_s: round(1000 / median(twin.shipped)) });
  }
  line.peak_rss_mb = peakRssMb();
  if (cuda) {
    line.peak_gpu_mb = gpuPeakMb(dev);
    if (torchPeakMb !== null) line.torch_peak_gpu_mb = torchPeakMb;
  }
  if (o.profile > 0) Object.assign(line, profileCalls(o.profile, one, o.trace ? { keep: o.trace } : {}));
  if (twin) line.torch = twin.version;
  restore();
  emit(line);
  G.dispose(); x.dispose();
}
