// Test helper: a realistic synthetic ReportData (GTA5 → Cityscapes shaped: 19 classes, three methods, a few
// hundred logged steps, street-like sample scenes). Deterministic (seeded), plain data only.
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE } from '../data/labels.js';
import { SEP } from './charts.js';
import { colorize, encodePng, heatmap, overlay, upscale, type Rgb } from './png.js';
import type { MethodResult, MetricRow, ReportData, Sample } from './types.js';

/** mulberry32: a tiny seeded uniform generator in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Per-class IoU (percent) of docs/method.md §6.1, GTA5 → Cityscapes, ResNet-101.
const SOURCE_ONLY = [75.8, 16.8, 77.2, 12.5, 21.0, 25.5, 30.1, 20.1, 81.3, 24.6, 70.3, 53.8, 26.4, 49.9, 17.2, 25.9, 6.5, 25.3, 36.0];
const ADAPTSEGNET = [86.5, 36.0, 79.9, 23.4, 23.3, 23.9, 35.2, 14.8, 83.4, 33.3, 75.6, 58.5, 27.6, 73.7, 32.5, 35.4, 3.9, 30.1, 28.1];
const CLAN = [87.0, 27.1, 79.6, 27.3, 23.3, 28.3, 35.5, 24.2, 83.6, 27.4, 74.2, 58.6, 28.0, 76.2, 33.1, 36.7, 6.7, 31.9, 31.4];
const ABSENT = 16; // 'train': pretend the small evaluation subset has none, so its IoU is null

export interface SyntheticOptions {
  iters?: number;     // training iterations (default 3000)
  logEvery?: number;  // metric rows every this many iterations (default 10 → 300 rows)
  evalEvery?: number; // checkpoint evaluation period (default 250)
  samples?: number;   // number of sample rows (default 4)
  size?: [number, number]; // sample scene W×H before 2× upscaling (default 128×64)
}

export function syntheticReport(opts: SyntheticOptions = {}): ReportData {
  const { iters = 3000, logEvery = 10, evalEvery = 250, samples = 4, size = [128, 64] } = opts;
  const r = rng(1234);
  const noise = () => r() * 2 - 1;
  const warm = Math.round(iters / 20);
  const lrAt = (i: number) => (i < warm ? (2.5e-4 * i) / warm : 2.5e-4 * (1 - i / iters) ** 0.9);
  const method = (key: string, label: string, iou: number[], adversarial: boolean): MethodResult => {
    const metrics: MetricRow[] = [];
    for (let i = 0; i < iters; i += logEvery) {
      const t = i / iters;
      const row: MetricRow = { step: i, lr: lrAt(i),
        seg: 0.12 + 0.55 * Math.exp(-5 * t) + 0.06 * Math.abs(noise()) + (r() < 0.03 ? 0.25 * r() : 0) };
      if (adversarial) {
        row.adv = 0.75 + 0.25 * t + 0.12 * noise();
        if (key === 'clan') row.weight = 1.02 - 0.3 * t + 0.01 * noise();
        row.d_s = 0.69 - 0.08 * t + 0.05 * noise();
        row.d_t = 0.69 - 0.05 * t + 0.05 * noise();
        row.m = (key === 'clan' ? 0.02 : 0.005) * (1 - 0.5 * t) * (1 + 0.2 * noise());
      }
      metrics.push(row);
    }
    const perClassIou = iou.map((v, k) => (k === ABSENT ? null : Math.min(1, Math.max(0, v / 100 + 0.01 * noise()))));
    const present = perClassIou.filter((v): v is number => v !== null);
    const final = present.reduce((a, b) => a + b, 0) / present.length; // mIoU over the classes present
    const evals = []; // three seeds, as `clan demo --seeds 3`
    for (let seed = 0; seed < 3; seed++) {
      for (let i = evalEvery; i <= iters; i += evalEvery) {
        evals.push({ step: i, miou: final * (1 - 0.35 * Math.exp((-4 * i) / iters)) + 0.006 * noise(), seed });
      }
    }
    return { key, label, metrics, evals, perClassIou, miouMean: final, miouStd: 0.004 + 0.004 * r(), seeds: 3, iters,
      seconds: iters * (adversarial ? 0.41 : 0.23) * (1 + 0.05 * r()) };
  };
  const methods = [
    method('source_only', 'Source only', SOURCE_ONLY, false),
    method('adversarial', 'Adversarial (AdaptSegNet)', ADAPTSEGNET, true),
    method('clan', 'CLAN', CLAN, true),
  ];
  return {
    title: 'CLAN · GTA5 → Cityscapes (synthetic test data)',
    classNames: [...CITYSCAPES_CLASSES],
    methods,
    confusion: { method: 'clan', matrix: confusion(CLAN, r) },
    samples: Array.from({ length: samples }, (_, k) => sampleScene(k, size[0], size[1], rng(100 + k))),
    palette: CITYSCAPES_PALETTE.map((c) => [c[0], c[1], c[2]] as Rgb),
    disagreementRange: [0, 0.5],
    notes: ['Synthetic data for the report tests; the per-class IoUs follow docs/method.md §6.1.', 'mIoU is the mean over the 18 classes present in this evaluation subset.'],
  };
}

// Typical confusions (ground truth → predicted) on Cityscapes.
const CONFUSED: [number, number][] = [[1, 0], [3, 2], [4, 2], [5, 2], [6, 5], [7, 5], [9, 8], [12, 11], [14, 13], [15, 13], [16, 15],
  [17, 18], [18, 17], [0, 1], [2, 8], [10, 2]];

function confusion(iou: number[], r: () => number): number[][] {
  const K = iou.length;
  return iou.map((v, g) => {
    const row = new Array<number>(K).fill(0);
    if (g === ABSENT) return row; // no pixels of this class
    const n = 1e6 * (0.2 + r());
    const hit = Math.min(0.97, v / 100 + 0.15);
    row[g] = Math.round(n * hit);
    const targets = CONFUSED.filter(([a]) => a === g).map(([, b]) => b);
    let rest = n * (1 - hit);
    for (const b of targets) { const c = rest * (0.5 + 0.2 * r()); row[b]! += Math.round(c); rest -= c; }
    for (let p = 0; p < K; p++) if (p !== g) row[p]! += Math.round((rest / (K - 1)) * 2 * r());
    return row;
  });
}

const C = { road: 0, sidewalk: 1, building: 2, wall: 3, pole: 5, sign: 7, vegetation: 8, terrain: 9, sky: 10, person: 11, car: 13,
  truck: 14, bicycle: 18 };

/** A prediction made from the label map: source-only-like confusions of large blobs (p = 1), fewer for smaller p. */
function corrupt(lab: Uint8Array, w: number, h: number, p: number, r: () => number): Uint8Array {
  const out = lab.slice();
  const swaps: [number, number][] = [[C.road, C.sidewalk], [C.wall, C.building], [C.car, C.truck], [C.sky, C.building],
    [C.person, C.pole]];
  for (let b = 0; b < Math.round(14 * p); b++) {
    const bx = Math.floor(r() * w), by = Math.floor(r() * h), s = 3 + Math.floor(r() * 10);
    for (let y = by; y < Math.min(h, by + s); y++) for (let x = bx; x < Math.min(w, bx + 2 * s); x++) {
      const i = y * w + x, sw = swaps.find(([a]) => a === lab[i]);
      if (sw) out[i] = sw[1];
    }
  }
  for (let i = 0; i < out.length; i++) if (r() < 0.02 * p) out[i] = Math.floor(r() * 19);
  return out;
}

/** A street-like scene: labels, a photo-ish image, two predictions and an M map, as PNG bytes (2× nearest). */
function sampleScene(k: number, w: number, h: number, r: () => number): Sample {
  const lab = new Uint8Array(w * h);
  const horizon = Math.round(h * (0.42 + 0.08 * r()));
  const skyline = Array.from({ length: w }, (_, x) => Math.round(horizon - h * (0.12 + 0.22 * Math.abs(Math.sin(x / (6 + 4 * r()) + k)))));
  const treeFrom = Math.floor(w * (0.6 + 0.2 * r()));
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const roadHalf = ((y - horizon) / (h - horizon)) * w * 0.55;
    let c: number;
    if (y < horizon) c = y < skyline[x]! ? C.sky : x > treeFrom && y > skyline[x]! - 6 ? C.vegetation : C.building;
    else if (Math.abs(x - w / 2) < roadHalf) c = C.road;
    else if (Math.abs(x - w / 2) < roadHalf + 6 + (y - horizon) * 0.3) c = C.sidewalk;
    else c = y > h - 8 && x < 12 ? C.terrain : C.wall;
    lab[y * w + x] = c;
  }
  const rect = (fx0: number, fy0: number, fx1: number, fy1: number, c: number) => {
    const [x0, y0, x1, y1] = [fx0, fy0, fx1, fy1].map(Math.round) as [number, number, number, number];
    for (let y = Math.max(0, y0); y < Math.min(h, y1); y++) for (let x = Math.max(0, x0); x < Math.min(w, x1); x++) lab[y * w + x] = c;
  };
  for (let j = 0; j < 2 + (k % 2); j++) { // cars (and a truck) on the road
    const cx = Math.round(w * (0.3 + 0.4 * r())), cy = Math.round(horizon + (h - horizon) * (0.25 + 0.5 * r())),
      s = 4 + (cy - horizon) * 0.35;
    rect(cx - s, cy - s * 0.7, cx + s, cy + s * 0.3, j === 2 ? C.truck : C.car);
  }
  const px = Math.round(w * (0.08 + 0.1 * r()));
  rect(px, horizon - 18, px + 2, horizon + 8, C.pole);
  rect(px - 2, horizon - 20, px + 4, horizon - 15, C.sign);
  const hx = Math.round(w * (0.78 + 0.1 * r()));
  rect(hx, horizon - 2, hx + 3, horizon + 12, C.person);
  if (k % 2 === 0) rect(hx - 7, horizon + 6, hx - 1, horizon + 12, C.bicycle);
  // Ground truth: class boundaries unlabelled (255), as in Cityscapes' coarse edges.
  const gt = lab.slice();
  for (let y = 1; y < h; y++) for (let x = 1; x < w; x++) if (lab[y * w + x] !== lab[y * w + x - 1] && r() < 0.5) gt[y * w + x] = 255;
  // Predictions: source-only confuses large blobs (road → sidewalk, wall → building, car → truck); CLAN fewer.
  const [so, ad, cl] = [1, 0.5, 0.35].map((p) => corrupt(lab, w, h, p, r)) as [Uint8Array, Uint8Array, Uint8Array];
  // M: high where the two predictions (a stand-in for C1 and C2) disagree and near edges, small elsewhere.
  const m = new Float32Array(w * h);
  for (let i = 0; i < m.length; i++) m[i] = 0.02 * r() + (so[i] !== cl[i] ? 0.25 + 0.2 * r() : 0) + (gt[i] === 255 ? 0.15 : 0);
  const pal = CITYSCAPES_PALETTE;
  const flat = colorize(lab, w, h, pal);
  const shade = new Uint8Array(flat.length);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) {
    const i = (y * w + x) * 3 + c;
    shade[i] = Math.max(0, Math.min(255, Math.round(flat[i]! * (0.75 + 0.3 * (y / h)) + 18 * (r() - 0.5))));
  }
  const image = overlay(shade, new Uint8Array(flat.length).fill(128), 0.25);
  const up = (rgb: Uint8Array) => encodePng(upscale(rgb, w, h, 3, 2), 2 * w, 2 * h);
  return {
    name: `frankfurt_${String(k).padStart(6, '0')}`,
    image: up(image),
    gt: up(colorize(gt, w, h, pal)),
    predictions: [up(colorize(so, w, h, pal)), up(colorize(ad, w, h, pal)), up(colorize(cl, w, h, pal))],
    disagreement: up(heatmap(m, w, h, { max: 0.5 })),
  };
}

/** Data marks (role graphics-symbol) of one series in an SVG string: their aria-label starts with `series · `. */
export function seriesMarks(svg: string, series: string): number {
  const prefix = (series + SEP).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  return [...svg.matchAll(/<(?:path|rect|line|circle|text)\b[^>]*\brole="graphics-symbol"[^>]*>/g)]
    .filter((m) => (/\baria-label="([^"]*)"/.exec(m[0])?.[1] ?? '').startsWith(prefix)).length;
}
