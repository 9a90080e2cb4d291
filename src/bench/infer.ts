// `clan bench infer`: inference throughput of the deployed model — our libtorch forward against onnxruntime-node
// running the same weights exported by `clan export` — at each size, with 1 thread and with every core. Both do the
// same work: G, up(x1 + x2) to the input size (bilinear, align_corners), argmax, labels copied to the host.
import { availableParallelism } from 'node:os';
import * as torch from '../torch/index.js';
import { predictLogits } from '../models/segmentor.js';
import { exportOnnx } from '../deploy/export.js';
import { plausibleModel } from '../infer/plausible.js';
import { rawChw } from '../deploy/host-ops.js';
import { preprocess } from '../data/transforms.js';
import type { RgbImage } from '../data/image.js';
import { importOrt } from '../deploy/ort.js';
import { median, peakRssMb, round } from './util.js';

export type InferEngine = 'torch' | 'onnx';
export interface InferBenchOptions {
  backbone: string; sizes: [number, number][]; threads: number[]; iters: number; warmup: number; engines: InferEngine[];
}

async function timeAsync(warmup: number, iters: number, fn: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out;
}

export const defaultThreads = (): number[] => [...new Set([1, availableParallelism()])];

export async function benchInfer(o: InferBenchOptions, emit: (line: object) => void): Promise<void> {
  const ort = o.engines.includes('onnx') ? await importOrt() : null;
  for (const [h, w] of o.sizes) {
    // Plausible (O(1)-logit) random weights: timing does not depend on the values, agreement is printed as a check.
    const m = plausibleModel(o.backbone, 19, 0, [w, h]);
    const bytes = ort ? exportOnnx(m, { size: [w, h], output: 'labels' }) : null;
    const image: RgbImage = { width: w, height: h, data: new Uint8Array(3 * h * w).map((_, i) => (i * 7919) % 256) };
    const x = rawChw(image.data, w, h); // the graph's input: RGB 0..255, normalised inside the graph
    // ours: the same pixels normalised as `clan predict` does (data/transforms.ts)
    const p = preprocess({ index: 0, name: 'bench', image }, { size: [w, h], normalize: m.normalize }, { scale: 1, flip: false });
    const xt = torch.keep(torch.fromTypedArray(p.image, [1, 3, h, w]));
    for (const threads of o.threads) {
      const line: Record<string, unknown> = { bench: 'infer', backbone: o.backbone, size: `${w}x${h}`, threads };
      let ours: Uint8Array | null = null, theirs: Uint8Array | null = null;
      if (o.engines.includes('torch')) {
        torch.setNumThreads(threads);
        const ms = median(await timeAsync(o.warmup, o.iters, async () => {
          ours = torch.tidy(() => torch.noGrad(() => predictLogits(m.G, xt, [h, w]).argmax(1).to('uint8').toTypedArray<'uint8'>()));
        }));
        Object.assign(line, { torch_ms: round(ms), torch_images_per_s: round(1000 / ms, 3) });
      }
      if (ort && bytes) {
        const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
        const feeds = { image: new ort.Tensor('float32', x, [1, 3, h, w]) };
        const ms = median(await timeAsync(o.warmup, o.iters, async () => { theirs = (await s.run(feeds)).labels!.data as Uint8Array; }));
        await s.release();
        Object.assign(line, { onnx_ms: round(ms), onnx_images_per_s: round(1000 / ms, 3) });
        if (typeof line.torch_ms === 'number') line.ratio = round(ms / line.torch_ms, 3); // onnx time / libtorch time
      }
      if (ours && theirs) {
        const a: Uint8Array = ours, b: Uint8Array = theirs;
        line.label_agreement = round(a.reduce((n, v, i) => n + (v === b[i] ? 1 : 0), 0) / a.length, 6);
      }
      line.peak_rss_mb = peakRssMb();
      emit(line);
    }
    xt.dispose(); m.G.dispose();
  }
}
