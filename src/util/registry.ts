// String registries with "did you mean" errors (timm / tfjs-layers style): models, datasets, methods, presets.
import { UsageError } from './errors.js';

/** Levenshtein distance, for suggestions only (names are short). */
export function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

export function didYouMean(name: string, known: readonly string[]): string {
  let best = '';
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name.toLowerCase(), k.toLowerCase());
    if (d < bestD) { bestD = d; best = k; }
  }
  return best && bestD <= Math.max(2, Math.floor(best.length / 3)) ? ` (did you mean '${best}'?)` : '';
}

export class Registry<T> {
  private readonly items = new Map<string, T>();
  constructor(readonly kind: string) {}

  register(name: string, item: T): void {
    if (this.items.has(name)) throw new Error(`${this.kind} '${name}' is registered twice`);
    this.items.set(name, item);
  }
  has(name: string): boolean { return this.items.has(name); }
  names(): string[] { return [...this.items.keys()]; }
  get(name: string): T {
    const item = this.items.get(name);
    if (item === undefined) {
      throw new UsageError(`unknown ${this.kind} '${name}'${didYouMean(name, this.names())}; expected one of: ${this.names().join(', ')}`);
    }
    return item;
  }
}
