// The fuzz loop: for each target, cases with seeds derived from (run seed, target name, index) go through one child
// process (pool.ts) until the target's share of the time or its case count is used up. Counts per outcome make the
// summary; each finding keeps its case seed, so `mutate(target.seed(), caseSeed, target.mutators)` re-creates the
// input exactly.
// The first MAX_SAVED findings per target and kind are printed and written to `out` as NAME.bin + NAME.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deriveSeed } from '../data/rng.js';
import type { FindingKind } from './check.js';
import { mutate } from './mutate.js';
import { Pool, POOL_DEFAULTS, type CaseResult, type PoolOptions } from './pool.js';
import type { Target } from './targets.js';

export interface Summary {
  target: string; cases: number; loaded_equal: number; loaded_other: number; refused: number; findings: number;
  finding_kinds?: Partial<Record<FindingKind, number>>;
}
export interface Finding { target: string; runSeed: number; index: number; caseSeed: number; kind: FindingKind; detail: string;
  mutation: string; file?: string }

export interface FuzzOptions extends Partial<PoolOptions> {
  targets: Target[];
  seed: number;
  seconds?: number;           // total, split evenly over the targets
  cases?: number;             // per target (a deterministic run); with `seconds`, whichever ends first
  out?: string;               // folder for findings; none written without it
  onProgress?: (line: string) => void;
}

const MAX_SAVED = 10;

/** A 31-bit hash of a target name, so case seeds do not depend on the order of the target table. */
const nameHash = (s: string): number => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7) & 0x7fffffff;
export const caseSeed = (runSeed: number, target: string, index: number): number => deriveSeed(runSeed, nameHash(target), index);

/** Runs every target in turn; returns one summary per target and every finding. */
export async function runFuzz(o: FuzzOptions): Promise<{ summaries: Summary[]; findings: Finding[] }> {
  if (o.seconds === undefined && o.cases === undefined) throw new Error('runFuzz: give seconds or cases');
  const pool = new Pool({ ...POOL_DEFAULTS, ...o });
  const summaries: Summary[] = [], findings: Finding[] = [];
  try {
    for (const t of o.targets) summaries.push(await fuzzTarget(t, o, pool, findings));
  } finally {
    pool.close();
  }
  return { summaries, findings };
}

async function fuzzTarget(t: Target, o: FuzzOptions, pool: Pool, findings: Finding[]): Promise<Summary> {
  const s: Summary = { target: t.name, cases: 0, loaded_equal: 0, loaded_other: 0, refused: 0, findings: 0 };
  const start = Date.now(), end = o.seconds === undefined ? Infinity : start + (o.seconds * 1000) / o.targets.length;
  let lastReport = start;
  for (let i = 0; i < (o.cases ?? Infinity) && Date.now() < end; i++) {
    const seed = caseSeed(o.seed, t.name, i);
    const r = await pool.run({ id: i, target: t.name, seed });
    s.cases++;
    if (r.outcome === 'equal') s.loaded_equal++;
    else if (r.outcome === 'other') s.loaded_other++;
    else if (r.outcome === 'refused') s.refused++;
    else {
      s.findings++;
      const f = finding(t, o.seed, i, seed, r);
      const n = (s.finding_kinds ??= {})[f.kind] = (s.finding_kinds[f.kind] ?? 0) + 1;
      if (o.out !== undefined && n <= MAX_SAVED) saveFinding(t, f, o.out);
      findings.push(f);
      if (n <= MAX_SAVED) o.onProgress?.(`fuzz: ${t.name} FINDING (${f.kind}) case ${i} seed ${seed}: ${f.mutation} -> ${f.detail}`);
    }
    if (Date.now() - lastReport > 5000) {
      lastReport = Date.now();
      o.onProgress?.(`fuzz: ${t.name} ${s.cases} cases, ${s.refused} refused, ${s.findings} findings`);
    }
  }
  return s;
}

function finding(t: Target, runSeed: number, index: number, seed: number, r: CaseResult): Finding {
  // A crash or hang leaves no reply: the mutation is re-derived here, from the same seed.
  const mutation = r.mutation ?? mutate(t.seed(), seed, t.mutators).mutation;
  return { target: t.name, runSeed, index, caseSeed: seed, kind: r.kind!, detail: r.detail, mutation };
}

/** Writes OUT/<target>-<kind>-<caseSeed>.bin (the input) and .json (how it was made, what happened). */
function saveFinding(t: Target, f: Finding, out: string): void {
  mkdirSync(out, { recursive: true });
  const base = join(out, `${t.name}-${f.kind}-${f.caseSeed.toString(16).padStart(8, '0')}`);
  f.file = `${base}.bin`;
  writeFileSync(f.file, mutate(t.seed(), f.caseSeed, t.mutators).bytes);
  writeFileSync(`${base}.json`, `${JSON.stringify(f, null, 2)}\n`);
}

/** The outcome of each file through its target (the regression fixtures: test/fixtures/fuzz/<target>-<desc>.bin). */
export async function runFiles(files: { target: string; path: string }[], o: Partial<PoolOptions> = {}): Promise<CaseResult[]> {
  const pool = new Pool({ ...POOL_DEFAULTS, ...o });
  try {
    const out: CaseResult[] = [];
    for (const [i, f] of files.entries()) out.push(await pool.run({ id: i, target: f.target, path: f.path }));
    return out;
  } finally {
    pool.close();
  }
}

/** The target a fixture belongs to: the longest target name that prefixes `<target>-<desc>.bin`. */
export function targetOfFixture(name: string, targets: Target[]): Target | undefined {
  return targets.filter((t) => name.startsWith(`${t.name}-`)).sort((a, b) => b.name.length - a.name.length)[0];
}
