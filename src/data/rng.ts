// Deterministic PRNG for data order and augmentation. Every random draw in src/data comes from here (never
// Math.random), so a run is reproducible from its seed, and a sample's augmentation depends only on
// (seed, epoch, index): not on worker count, prefetch depth or timing.
//
// Generator: xoshiro128** (Blackman & Vigna), 128-bit state, seeded through splitmix32 so that nearby seeds
// give unrelated streams. Pure 32-bit integer arithmetic (Math.imul), identical on every platform.

/** murmur3/splitmix-style 32-bit finaliser: a bijection that spreads every input bit over the output. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Splits an integer (up to 2^53) into two 32-bit words; negative values are allowed (epoch −1 tags). */
function words(n: number): [number, number] {
  if (!Number.isSafeInteger(n)) throw new RangeError(`rng: seed parts must be safe integers, got ${n}`);
  const lo = n >>> 0;
  const hi = Math.floor(n / 4294967296) >>> 0;
  return [lo, hi];
}

/** Hashes a sequence of integers to one 32-bit seed (order-sensitive). */
export function deriveSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    const [lo, hi] = words(p);
    h = mix32((h ^ lo) + 0x7f4a7c15);
    h = mix32((h ^ hi) + 0x165667b1);
  }
  return h;
}

export class Rng {
  private s0: number; private s1: number; private s2: number; private s3: number;

  constructor(seed: number) {
    // splitmix32 fills the state; it never yields four zero words for any seed.
    let z = deriveSeed(seed);
    const next = (): number => { z = (z + 0x9e3779b9) >>> 0; return mix32(z); };
    this.s0 = next(); this.s1 = next(); this.s2 = next(); this.s3 = next();
  }

  /** A generator with an explicit 128-bit state (tests against the published algorithm). */
  static fromState(s0: number, s1: number, s2: number, s3: number): Rng {
    const r = new Rng(0);
    r.s0 = s0 >>> 0; r.s1 = s1 >>> 0; r.s2 = s2 >>> 0; r.s3 = s3 >>> 0;
    return r;
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0; this.s3 ^= this.s1; this.s1 ^= this.s2; this.s0 ^= this.s3;
    this.s2 ^= t; this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits (like Python's random.random()). */
  next(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias (rejection sampling). */
  int(n: number): number {
    if (!(Number.isInteger(n) && n > 0 && n <= 4294967296)) throw new RangeError(`rng.int: n must be in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const r = this.nextUint32();
      if (r < limit) return r % n;
    }
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle<T>(a: { length: number; [i: number]: T }): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!; a[i] = a[j]!; a[j] = t;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Stream-domain tags so that a sample stream never coincides with an epoch-permutation stream. */
const TAG_SAMPLE = 1;
const TAG_PERM = 2;
const TAG_RCS = 3;

/** The RNG of one sample: depends only on (seed, epoch, dataset index). */
export function sampleRng(seed: number, epoch: number, index: number): Rng {
  return new Rng(deriveSeed(TAG_SAMPLE, seed, epoch, index));
}

/** The order of one epoch: a permutation of [0, n) drawn from (seed, epoch) only. */
export function epochPermutation(seed: number, epoch: number, n: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  new Rng(deriveSeed(TAG_PERM, seed, epoch)).shuffle(p);
  return p;
}

/** The rare-class draw of global stream position g (rcs.ts): from (seed, g) only, so a resumed run draws the same. */
export function rcsRng(seed: number, position: number): Rng {
  return new Rng(deriveSeed(TAG_RCS, seed, position));
}
