// Schedules (docs/method.md §3): linear warm-up for i < warmup, then poly(0.9) decay; damping 1 − i/maxIter.
export interface Schedule {
  maxIter: number;  // total iterations (the poly and damping horizon)
  warmup: number;   // linear warm-up iterations (official 5000 of 100000)
  power: number;    // poly exponent (0.9)
}

/** lr at 0-based iteration i: base·i/warmup during warm-up (so i = 0 gives 0, as the official code), else poly. */
export function lrAt(base: number, i: number, s: Schedule): number {
  if (i < s.warmup) return base * (i / s.warmup);
  return base * Math.max(0, 1 - i / s.maxIter) ** s.power;
}

/**
 * The linear damping of the adversarial and weight terms (§2, "use damping instead of early stopping"); 0 past
 * maxIter (a run extended beyond its schedule), where the official formula would turn the terms' sign.
 */
export function dampingAt(i: number, maxIter: number): number { return Math.max(0, 1 - i / maxIter); }

/**
 * mmcv's `poly` lr policy with `warmup='linear'`, by_epoch=False (DAFormer's poly10warm, docs/method.md §12): the poly
 * value (base − minLr)·(1 − i/maxIter)^power + minLr, during warm-up (i < warmup) scaled by
 * 1 − (1 − i/warmup)·(1 − warmupRatio), so it starts at warmupRatio·poly(0) instead of 0.
 */
export function mmcvPolyWarmAt(base: number, i: number, s: Schedule & { warmupRatio: number; minLr?: number }): number {
  const minLr = s.minLr ?? 0;
  const poly = (base - minLr) * Math.max(0, 1 - i / s.maxIter) ** s.power + minLr;
  if (i >= s.warmup) return poly;
  return poly * (1 - (1 - i / s.warmup) * (1 - s.warmupRatio));
}
