// The fuzz child process (started by pool.ts with a small heap): reads case specs over IPC, re-creates each input
// from (target seed, case seed) or reads it from a file, classifies it (check.ts) and replies with the verdict and
// the process's peak RSS so far. argv[2] is a temp folder the parent owns (and removes, even after a crash).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classify } from './check.js';
import { mutate } from './mutate.js';
import { loadInput, targetByName, type Target } from './targets.js';
import type { CaseReply, CaseSpec } from './pool.js';

const dir = process.argv[2]!;
const seeds = new Map<string, { bytes: Uint8Array; digest: string }>();

/** The target's seed bytes and the digest of their content; a seed that does not load is a harness bug. */
function seedOf(t: Target): { bytes: Uint8Array; digest: string } {
  let s = seeds.get(t.name);
  if (s === undefined) {
    const bytes = t.seed();
    s = { bytes, digest: loadInput(t, bytes, join(dir, `seed-${t.file}`)).digest };
    seeds.set(t.name, s);
  }
  return s;
}

function runCase(spec: CaseSpec): CaseReply {
  const t = targetByName(spec.target);
  if (t === undefined) return { id: spec.id, fatal: `unknown fuzz target '${spec.target}'` };
  let seed;
  try { seed = seedOf(t); } catch (e) { return { id: spec.id, fatal: `the seed input of '${t.name}' does not load: ${(e as Error).message}` }; }
  const { bytes, mutation } = spec.path !== undefined ? { bytes: new Uint8Array(readFileSync(spec.path)), mutation: `file ${spec.path}` } : mutate(seed.bytes, spec.seed!, t.mutators);
  const verdict = classify(t, bytes, join(dir, t.file), seed.digest);
  return { id: spec.id, ...verdict, mutation, maxRssKb: process.resourceUsage().maxRSS };
}

process.on('message', (spec: CaseSpec) => { process.send!(runCase(spec)); });
process.on('disconnect', () => process.exit(0));
