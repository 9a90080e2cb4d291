// Mutators for the fuzz harness: each takes the input bytes and a PRNG and returns new bytes plus a short
// description. `mutate` stacks 1–3 of them, all drawn from one case seed, so a case is reproducible from
// (seed input, case seed) alone: the parent re-creates a crashing input without the child's help.
import { Rng } from '../data/rng.js';

export interface Mutated { bytes: Uint8Array; mutation: string }
export type Mutator = (b: Uint8Array, r: Rng) => Mutated;

const pos = (b: Uint8Array, r: Rng): number => (b.length === 0 ? 0 : r.int(b.length));
const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
/** A range length skewed towards short: 1..8 most of the time, up to a quarter of the input otherwise. */
const span = (b: Uint8Array, r: Rng): number => 1 + (r.int(4) > 0 ? r.int(8) : r.int(Math.max(1, b.length >> 2)));

/** Values that break length fields: zero, one, off-by-one around the real value, sign bits, all ones. */
function interesting(old: bigint, bits: 32 | 64, r: Rng): bigint {
  const max = (1n << BigInt(bits)) - 1n;
  const c = [0n, 1n, old + 1n, old - 1n, old * 2n, old + 4096n, 1n << BigInt(bits - 1), max, 0x7fffffffn, 0x80000000n, 0xffffffffn,
    BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MAX_SAFE_INTEGER) + 2n, BigInt(r.nextUint32())];
  return c[r.int(c.length)]! & max;
}

const MUTATORS: Record<string, Mutator> = {
  flip(b, r) { const o = b.slice(), i = pos(b, r), bit = r.int(8); o[i] ^= 1 << bit; return { bytes: o, mutation: `flip bit ${bit} of byte ${i}` }; },
  set(b, r) {
    const o = b.slice(), i = pos(b, r), v = [0x00, 0xff, r.int(256), 0x7f, 0x80][r.int(5)]!;
    o[i] = v;
    return { bytes: o, mutation: `set byte ${i} to 0x${v.toString(16)}` };
  },
  insert(b, r) {
    const i = pos(b, r), n = span(b, r), fill = Uint8Array.from({ length: n }, () => r.int(256));
    return { bytes: cat(b.subarray(0, i), fill, b.subarray(i)), mutation: `insert ${n} random bytes at ${i}` };
  },
  delete(b, r) {
    const i = pos(b, r), n = Math.min(span(b, r), b.length - i);
    return { bytes: cat(b.subarray(0, i), b.subarray(i + n)), mutation: `delete ${n} bytes at ${i}` };
  },
  duplicate(b, r) {
    const i = pos(b, r), n = Math.min(span(b, r), b.length - i);
    return { bytes: cat(b.subarray(0, i + n), b.subarray(i, i + n), b.subarray(i + n)), mutation: `duplicate ${n} bytes at ${i}` };
  },
  truncate(b, r) { const n = pos(b, r); return { bytes: b.slice(0, n), mutation: `truncate to ${n} bytes` }; },
  splice(b, r) {
    const from = pos(b, r), to = pos(b, r), n = Math.min(span(b, r), b.length - from, b.length - to);
    const o = b.slice();
    o.set(b.subarray(from, from + n), to);
    return { bytes: o, mutation: `copy ${n} bytes from ${from} over ${to}` };
  },
  u32(b, r) { return setInt(b, r, 32); },
  u64(b, r) { return setInt(b, r, 64); },
  number(b, r) { return replaceNumber(b, r); },
};

/** Overwrites a little-endian u32/u64 at a random offset (length and offset fields are the usual target). */
function setInt(b: Uint8Array, r: Rng, bits: 32 | 64): Mutated {
  const w = bits / 8;
  if (b.length < w) return MUTATORS.flip!(b, r);
  const i = r.int(b.length - w + 1), o = b.slice(), dv = new DataView(o.buffer);
  const old = bits === 32 ? BigInt(dv.getUint32(i, true)) : dv.getBigUint64(i, true);
  const v = interesting(old, bits, r);
  if (bits === 32) dv.setUint32(i, Number(v), true); else dv.setBigUint64(i, v, true);
  return { bytes: o, mutation: `u${bits} at ${i}: ${old} -> ${v}` };
}

const NUMBERS = ['-1', '0', '-0', '4294967296', '9007199254740993', '1e309', '-1e309', '99999999999999999999999', '1.5', '-2147483649', '1e-400', 'NaN', '.inf', '.nan', '0x7fffffff'];

/** Text formats (YAML, JSON headers): replaces one run of ASCII digits with a huge, negative or odd number. */
function replaceNumber(b: Uint8Array, r: Rng): Mutated {
  const runs: [number, number][] = [];
  for (let i = 0; i < b.length; i++) {
    if (b[i]! < 0x30 || b[i]! > 0x39) continue;
    let j = i;
    while (j < b.length && b[j]! >= 0x30 && b[j]! <= 0x39) j++;
    runs.push([i, j]);
    i = j;
  }
  if (runs.length === 0) return MUTATORS.flip!(b, r);
  const [i, j] = runs[r.int(runs.length)]!, v = NUMBERS[r.int(NUMBERS.length)]!;
  return { bytes: cat(b.subarray(0, i), new TextEncoder().encode(v), b.subarray(j)), mutation: `number at ${i} (${j - i} digits) -> ${v}` };
}

export const MUTATOR_NAMES = Object.keys(MUTATORS);

/** A generic byte flip: what a structural mutator does when its input no longer has the structure it edits. */
export const flipMutator: Mutator = (b, r) => MUTATORS.flip!(b, r);

/**
 * 1–3 stacked mutations of `seed`, all drawn from `caseSeed`, from the generic mutators plus a target's structural
 * ones (`extra`, src/fuzz/structural.ts): a target without extras draws exactly as before they existed.
 */
export function mutate(seed: Uint8Array, caseSeed: number, extra: Readonly<Record<string, Mutator>> = {}): Mutated {
  const r = new Rng(caseSeed);
  const all: Record<string, Mutator> = { ...MUTATORS, ...extra }, names = Object.keys(all);
  let bytes = seed;
  const done: string[] = [];
  for (let k = 1 + (r.int(4) === 0 ? 1 + r.int(2) : 0); k > 0; k--) {
    const m = all[names[r.int(names.length)]!]!(bytes, r);
    bytes = m.bytes;
    done.push(m.mutation);
  }
  return { bytes, mutation: done.join('; ') };
}
