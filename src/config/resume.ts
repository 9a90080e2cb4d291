// `clan train --resume RUN --iters N`: a longer or shorter run keeps its own learning-rate schedule. maxIter, warm-up
// and CLAN's preheat derive from iters unless set, so they are pinned to the values the run started with — unless the
// user sets them (`--set hyper.maxIter=N` stretches the schedule to N).
import { deepMerge, methodConfig, parseSet, resolveConfig } from './load.js';
import { METHODS } from '../methods/registry.js';

type Obj = Record<string, unknown>;

/** The resume's flags with the run's schedule pinned (a note says what), or the flags as they are when iters is unchanged. */
export function keepSchedule(cfgPath: string, flags: Obj, sets: string[], log: (line: string) => void): Obj {
  if (flags.iters === undefined) return flags;
  const before = resolveConfig({ config: cfgPath, log }, cfgPath);
  if (before.iters === flags.iters) return flags;
  const h = methodConfig(before);
  const setKeys = new Set(sets.map((s) => s.split('=')[0]!.trim()));
  const unset = (k: string) => !setKeys.has(k) && !setKeys.has(`hyper.${k.split('.').pop()!}`); // old flat names count too
  const pinned: [string, number][] = [['hyper.maxIter', h.maxIter], ['hyper.warmup', h.warmup]];
  if (METHODS.get(before.method).reads.includes('clan')) pinned.push(['hyper.clan.preheat', h.clan.preheat]);
  const keep = pinned.filter(([k]) => unset(k));
  if (keep.length === 0) return flags;
  log(`note: --iters ${String(flags.iters)} keeps the run's schedule (${keep.map(([k, v]) => `${k}=${v}`).join(', ')});` +
    ` --set hyper.maxIter=N to stretch it${Number(flags.iters) > h.maxIter ? `; steps after ${h.maxIter} train with lr 0 unless you do` : ''}`);
  let out = flags;
  for (const [k, v] of keep) out = deepMerge(out, parseSet(`${k}=${v}`));
  return out;
}
