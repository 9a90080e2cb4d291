// `clan bench loader`: the data loader beside a real training step, at the Cityscapes size 1024×512.
//
// 1. Writes a temporary `folder` dataset (images/ + labels/, same stems) of N DISTINCT 1024×512 PNGs: random
//    crops, flips and colour shifts of the shared Cityscapes fixture when it exists, else of synthesised smooth
//    noise; labels are 8-bit gray class ids 0..18 with some 255 (ignore). Removed at the end.
// 2. Times sample decoding (PNG image + label) and preprocessing in this thread, nothing else running.
// 3. (b) CLAN steps fed by two Loaders (source with labels, target without; 1024×512, random scale + flip,
//    `workers` threads each, default prefetch), each step first awaiting source.next() then target.next():
//    wait = time in one such await (two per step). The event-loop turn the trainer yields just before them is
//    timed apart (turn_p99_ms): V8 GC work deferred by the long synchronous step lands there, loader or not.
//    On Linux the main thread's run-queue time (/proc schedstat) inside each wait is subtracted for
//    wait_p99_excl_preempt_ms: what the loader itself costs, apart from other threads/processes holding the CPUs.
// 4. (a) The loaders closed (workers idle), the same steps again on pre-made tensors of the same size sequence,
//    so (b) − (a) is the loader's cost to training (decode CPU contention, host → tensor copies, waits).
// Iteration 6000 is past the preheat (5000): every CLAN term runs, as in bench/step.ts.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'fast-png';
import * as torch from '../torch/index.js';
import { createSegmentor } from '../models/registry.js';
import { Clan } from '../methods/clan.js';
import { DEFAULT_METHOD_CONFIG } from '../methods/config.js';
import { openDataset } from '../data/registry.js';
import type { Dataset } from '../data/dataset.js';
import { Loader, type Batch } from '../data/loader.js';
import { preprocess, type TransformOptions } from '../data/transforms.js';
import { decodeRgb, readBytes, type RgbImage } from '../data/image.js';
import { Rng } from '../data/rng.js';
import { sharedFixturesPath } from '../util/paths.js';
import { DataError } from '../util/errors.js';
import { median, peakRssMb, round } from './util.js';

export interface LoaderBenchOptions {
  images: number;    // distinct files written (40)
  workers: number;   // loader worker threads per loader (2)
  prefetch: number;  // batches prepared ahead per loader (2, the Loader default)
  steps: number;     // timed steps per phase (10)
  backbone: string;  // generator (tiny)
  threads: number;   // libtorch intra-op threads (1)
}

const W = 1024, H = 512;     // Cityscapes nominal size (docs/method.md §5.3), [W, H]
const CLASSES = 19;
const ITERATION = 6000;      // past the preheat (5000), as bench/step.ts
const DECODE_SAMPLES = 6;    // images timed for decode_ms_per_image
const WAIT_GOAL_MS = 5;      // the goal for the p99 wait

type Step = (sb: Batch, tb: Batch) => void;
type StepTensors = (src: torch.Tensor, label: torch.Tensor, tgt: torch.Tensor) => void;

export async function benchLoader(o: LoaderBenchOptions, emit: (line: object) => void,
  log: (l: string) => void = (l) => process.stderr.write(`bench loader: ${l}\n`)): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'clan-bench-loader-'));
  let clan: Clan | undefined;
  let G: ReturnType<typeof createSegmentor> | undefined;
  try {
    const t0 = Date.now();
    const from = writeFolder(dir, o.images);
    log(`wrote ${o.images} distinct ${W}x${H} PNGs (${from}) to ${dir} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const srcDs = openDataset(`folder:${dir}`, { labels: 'required', numClasses: CLASSES });
    const tgtDs = openDataset(`folder:${dir}`, { labels: 'none', numClasses: CLASSES });
    const transform: TransformOptions = { size: [W, H], randomScale: true, flip: true };
    const { dec, prep } = timeDecode(srcDs, transform);

    torch.setNumThreads(o.threads);
    torch.manualSeed(0);
    G = createSegmentor(o.backbone, CLASSES);
    clan = new Clan(G, DEFAULT_METHOD_CONFIG);
    const c = clan;
    const target: [number, number] = [H, W];  // nominal [h, w] the target logits are upsampled to
    const stepTensors: StepTensors = (xs, label, xt) => c.trainStep(ITERATION, { image: xs, label }, { image: xt, size: target });
    const stepOn: Step = (sb, tb) => {
      torch.tidy(() => {
        const xs = torch.fromTypedArray(sb.images, [sb.size, 3, sb.height, sb.width]);  // [1, 3, h, w] f32
        const l8 = torch.fromTypedArray(sb.labels!, [sb.size, sb.labelHeight, sb.labelWidth], 'uint8');
        const xt = torch.fromTypedArray(tb.images, [tb.size, 3, tb.height, tb.width]);
        stepTensors(xs, l8.to('int64'), xt);
      });
    };
    const b = await withLoaders(o, srcDs, tgtDs, transform, median(dec) + median(prep), stepOn, log);
    const plain = premade(b.sizes, stepTensors, log);
    const p99 = quantile(b.waits, 0.99);
    log(`p99 wait ${p99.toFixed(2)} ms: goal < ${WAIT_GOAL_MS} ms ${p99 < WAIT_GOAL_MS ? 'met' : 'NOT met'}`);
    emit({
      bench: 'loader', size: `${W}x${H}`, images: o.images, workers: o.workers, prefetch: o.prefetch, threads: o.threads,
      backbone: o.backbone, steps: o.steps, step_ms: round(median(plain)), step_with_loader_ms: round(median(b.withLoader)),
      wait_p50_ms: round(median(b.waits), 3), wait_p99_ms: round(p99, 3), wait_max_ms: round(Math.max(...b.waits), 3),
      wait_p99_excl_preempt_ms: round(quantile(b.onCpu, 0.99), 3), turn_p99_ms: round(quantile(b.turns, 0.99), 3),
      decode_ms_per_image: round(median(dec)), preprocess_ms_per_image: round(median(prep)), images_from: from,
      peak_rss_mb: peakRssMb(),
    });
  } finally {
    clan?.dispose(); G?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Decode (file → RGB + label) and preprocess (bicubic resize, CHW, mean) per image, here, uncontended. */
function timeDecode(ds: Dataset, transform: TransformOptions): { dec: number[]; prep: number[] } {
  const dec: number[] = [], prep: number[] = [];
  for (let i = 0; i < Math.min(DECODE_SAMPLES, ds.length); i++) {
    const a = performance.now();
    const s = ds.load(i);
    const b = performance.now();
    preprocess(s, transform, { scale: 1, flip: false });
    dec.push(b - a); prep.push(performance.now() - b);
  }
  return { dec, prep };
}

interface LoaderPhase {
  withLoader: number[];                         // ms per step, waits included
  waits: number[]; onCpu: number[];             // ms per await (two per step); without the run-queue time
  turns: number[];                              // ms of the event-loop turn before each step's awaits
  sizes: [number, number, number, number][];    // per step: source h, w, target h, w
}

/** (b): steps fed by two Loaders, each step's awaits timed (with the main thread's run-queue time inside each). */
async function withLoaders(o: LoaderBenchOptions, srcDs: Dataset, tgtDs: Dataset, transform: TransformOptions, perSampleMs: number,
  stepOn: Step, log: (l: string) => void): Promise<LoaderPhase> {
  const src = new Loader({ dataset: srcDs, transform, seed: 0, workers: o.workers, prefetch: o.prefetch });
  const tgt = new Loader({ dataset: tgtDs, transform, seed: 1, workers: o.workers, prefetch: o.prefetch });
  try {
    // per step: [start, end] of the turn, the source wait and the target wait, and the run-queue ms inside each
    const windows: [number, number][][] = [], queued: number[][] = [], withLoader: number[] = [];
    const fetch = async (record: boolean): Promise<[Batch, Batch]> => {
      const q0 = runQueueMs(), a = performance.now();
      await new Promise<void>((r) => setImmediate(r)); // as the trainer: signals and worker messages land here
      const q1 = runQueueMs(), b = performance.now();
      const sb = await src.next();
      const q2 = runQueueMs(), c = performance.now();
      const tb = await tgt.next();
      const q3 = runQueueMs();
      if (record) { windows.push([[a, b], [b, c], [c, performance.now()]]); queued.push([q1 - q0, q2 - q1, q3 - q2]); }
      if (!sb || !tb) throw new DataError('bench loader: a loader ended early');
      return [sb, tb];
    };
    log(`warm-up: 1 step (${o.backbone}, ${o.threads} thread${o.threads > 1 ? 's' : ''}), then fill the prefetch`);
    stepOn(...await fetch(false));
    // Let the workers finish the prefetch (2 loaders × prefetch samples) before timing; generous margin.
    // With workers 0 samples are decoded inside next(): nothing to fill, the wait is the decode.
    if (o.workers > 0) {
      await new Promise((r) => setTimeout(r, Math.ceil((2 * o.prefetch * perSampleMs) / Math.min(o.workers, 2)) * 2 + 100));
    }
    const sizes: LoaderPhase['sizes'] = [];
    for (let s = 0; s < o.steps; s++) {
      const a = performance.now();
      const [sb, tb] = await fetch(true);
      stepOn(sb, tb);
      withLoader.push(performance.now() - a);
      sizes.push([sb.height, sb.width, tb.height, tb.width]);
      log(`with loader ${s + 1}/${o.steps}: ${withLoader[s]!.toFixed(0)} ms; turn, source, target waits ` +
        `${windows[s]!.map(([x, y]) => (y - x).toFixed(2)).join(', ')} ms (runnable, not running: ${queued[s]!.map((x) => x.toFixed(2)).join(', ')} ms)`);
    }
    return { withLoader, sizes, waits: windows.flatMap((w) => w.slice(1).map(([x, y]) => y - x)),
      onCpu: windows.flatMap((w, s) => w.slice(1).map(([x, y], k) => y - x - queued[s]![k + 1]!)),
      turns: windows.map((w) => w[0]![1] - w[0]![0]) };
  } finally { await src.close(); await tgt.close(); }
}

/** (a): the loaders closed, the same steps on pre-made tensors of the same size sequence; ms per step. */
function premade(sizes: LoaderPhase['sizes'], step: StepTensors, log: (l: string) => void): number[] {
  const images = new Map<string, torch.Tensor>();
  const label = torch.keep(torch.randint(0, CLASSES, [1, H, W]));  // [1, 512, 1024] int64, nominal size
  try {
    const image = (h: number, w: number): torch.Tensor => {
      const k = `${h}x${w}`;
      let t = images.get(k);
      if (!t) { t = torch.keep(torch.randn([1, 3, h, w])); images.set(k, t); }
      return t;
    };
    for (const [sh, sw, th, tw] of sizes) { image(sh, sw); image(th, tw); }
    const plain: number[] = [];
    for (let s = 0; s < sizes.length; s++) {
      const [sh, sw, th, tw] = sizes[s]!;
      const a = performance.now();
      step(image(sh, sw), label, image(th, tw));
      plain.push(performance.now() - a);
      log(`pre-made tensors ${s + 1}/${sizes.length}: ${plain[s]!.toFixed(0)} ms`);
    }
    return plain;
  } finally { label.dispose(); for (const t of images.values()) t.dispose(); }
}

/** Time this (main) thread has spent runnable but waiting for a CPU, from Linux schedstat; 0 elsewhere. */
function runQueueMs(): number {
  try { return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6; } catch { return 0; }
}

/** Nearest-rank quantile: the smallest value with at least q of the samples at or below it (p99 of 20 = max). */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)]!;
}

/** Writes DIR/images/img_NNN.png (RGB) and DIR/labels/img_NNN.png (gray class ids); returns where pixels came from. */
export function writeFolder(dir: string, n: number, fx = sharedFixturesPath()): string {
  mkdirSync(join(dir, 'images')); mkdirSync(join(dir, 'labels'));
  const native = join(fx, 'cityscapes-color', 'native_2048x1024.png');
  const small = join(fx, 'cityscapes-color', 'image.png');
  const file = existsSync(native) ? native : existsSync(small) ? small : null;
  let base: RgbImage | null = null;
  try { if (file) base = decodeRgb(readBytes(file), file); } catch { /* unreadable fixture: fall back to noise */ }
  const from = base && file ? `crops of ${file.split('/').slice(-2).join('/')}` : 'synthesised noise';
  base ??= noise(new Rng(7));
  const rng = new Rng(42);
  for (let i = 0; i < n; i++) {
    const stem = `img_${String(i).padStart(3, '0')}`;
    const rgb = variant(base, rng);
    writeFileSync(join(dir, 'images', `${stem}.png`), encode({ width: W, height: H, data: rgb, depth: 8, channels: 3 }));
    writeFileSync(join(dir, 'labels', `${stem}.png`), encode({ width: W, height: H, data: labelMap(rng), depth: 8, channels: 1 }));
  }
  return from;
}

/** A W×H random crop (window 75–100 % of the base, bilinear), random mirror, per-channel gain and offset. */
function variant(base: RgbImage, rng: Rng): Uint8Array {
  const z = 0.75 + 0.25 * rng.next();
  const cw = Math.min(base.width, base.height * 2) * z, ch = cw / 2;  // keep the 2:1 aspect
  const x0 = rng.next() * (base.width - cw), y0 = rng.next() * (base.height - ch);
  const flip = rng.next() < 0.5;
  const gain = [0, 1, 2].map(() => 0.85 + 0.3 * rng.next());
  const off = [0, 1, 2].map(() => Math.round(48 * rng.next() - 24));
  const out = new Uint8Array(W * H * 3);
  const sx = cw / W, sy = ch / H, bw = base.width, d = base.data;
  for (let y = 0; y < H; y++) {
    const fy = Math.max(0, Math.min(y0 + (y + 0.5) * sy - 0.5, base.height - 1.001)), iy = Math.floor(fy), wy = fy - iy;
    for (let x = 0; x < W; x++) {
      const fx = Math.max(0, Math.min(x0 + ((flip ? W - 1 - x : x) + 0.5) * sx - 0.5, bw - 1.001)), ix = Math.floor(fx), wx = fx - ix;
      const p = 3 * (iy * bw + ix), q = p + 3 * bw;
      for (let k = 0; k < 3; k++) {
        const v = (d[p + k]! * (1 - wx) + d[p + 3 + k]! * wx) * (1 - wy) + (d[q + k]! * (1 - wx) + d[q + 3 + k]! * wx) * wy;
        out[3 * (y * W + x) + k] = Math.max(0, Math.min(255, Math.round(v * gain[k]! + off[k]!)));
      }
    }
  }
  return out;
}

/** 2048×1024 smooth value noise with fine grain, for when the fixture is absent. */
function noise(rng: Rng): RgbImage {
  const bw = 2 * W, bh = 2 * H, cell = 64, gw = bw / cell + 2, gh = bh / cell + 2;
  const grid = Array.from({ length: gw * gh * 3 }, () => 255 * rng.next());
  const data = new Uint8Array(bw * bh * 3);
  for (let y = 0; y < bh; y++) {
    const gy = Math.floor(y / cell), wy = (y % cell) / cell;
    for (let x = 0; x < bw; x++) {
      const gx = Math.floor(x / cell), wx = (x % cell) / cell;
      for (let k = 0; k < 3; k++) {
        const g = (u: number, v: number): number => grid[3 * (v * gw + u) + k]!;
        const v = (g(gx, gy) * (1 - wx) + g(gx + 1, gy) * wx) * (1 - wy) + (g(gx, gy + 1) * (1 - wx) + g(gx + 1, gy + 1) * wx) * wy;
        data[3 * (y * bw + x) + k] = Math.min(255, Math.max(0, Math.round(v + 8 * rng.next() - 4)));
      }
    }
  }
  return { width: bw, height: bh, data };
}

/** A street-like layout of trainIds: sky / building / road bands, random boxes of any class, 255 at the hood. */
function labelMap(rng: Rng): Uint8Array {
  const out = new Uint8Array(W * H);
  const horizon = Math.floor(H * (0.35 + 0.2 * rng.next()));
  const sky = Math.floor(horizon * (0.3 + 0.4 * rng.next()));
  for (let y = 0; y < H; y++) out.fill(y < sky ? 10 : y < horizon ? 2 : 0, y * W, (y + 1) * W);  // sky, building, road
  const box = (cls: number, x0: number, y0: number, w: number, h: number): void => {
    for (let y = Math.max(0, y0); y < Math.min(H, y0 + h); y++) out.fill(cls, y * W + Math.max(0, x0), y * W + Math.min(W, x0 + w));
  };
  for (let b = 0, nb = 20 + rng.int(20); b < nb; b++) {
    box(rng.next() < 0.1 ? 255 : rng.int(CLASSES), rng.int(W), rng.int(H), 8 + rng.int(200), 8 + rng.int(120));
  }
  const hood = 20 + rng.int(50);
  box(255, 0, H - hood, W, hood);  // ego vehicle: ignored, as in Cityscapes
  return out;
}
