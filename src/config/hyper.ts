// `hyper:` keys against the chosen method: each section belongs to one method (methods/config.ts, registered in
// methods/registry.ts), so a key the method does not read is an error naming the key's owner, and the flat `hyper:`
// of configs, run folders and checkpoints written before the sections keeps loading, mapped onto them.
import { ConfigIssuesError } from '../util/errors.js';
import { HYPER_SECTIONS, LEGACY_HYPER_KEYS, type HyperSection } from '../methods/config.js';
import { METHODS, readersOf } from '../methods/registry.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isSection = (k: string): k is HyperSection => k in HYPER_SECTIONS;

/** Where an old flat key lives for `method`: damping is MinEnt's own switch there, the adversarial section's elsewhere. */
function legacySection(key: string, method: string): HyperSection | undefined {
  if (key === 'damping' && method === 'minent') return 'minent';
  return LEGACY_HYPER_KEYS[key];
}

export interface Upgraded { hyper: Obj; moved: string[]; dropped: string[] }

/**
 * The old flat keys of one `hyper:` layer moved into their sections. With `dropUnread` (a whole config written
 * before the sections: it listed every key) keys of sections `method` does not read are dropped — they never acted
 * on it; otherwise they are kept and the reads check names them. Keys already in sections pass through.
 */
export function upgradeLegacyHyper(hyper: Obj, method: string, dropUnread: boolean): Upgraded {
  const reads = new Set(METHODS.get(method).reads);
  const out: Obj = {}; const moved: string[] = []; const dropped: string[] = [];
  for (const [k, v] of Object.entries(hyper)) {
    const section = isSection(k) ? undefined : legacySection(k, method);
    if (!section) { out[k] = isObj(v) && isObj(out[k]) ? { ...(out[k] as Obj), ...v } : v; continue; }
    if (dropUnread && !reads.has(section)) { dropped.push(`hyper.${k}`); continue; }
    if (k === 'damping' && section === 'minent' && v === null) { dropped.push('hyper.damping'); continue; } // null = off there
    out[section] = { ...(isObj(out[section]) ? out[section] as Obj : {}), [k]: v };
    moved.push(`hyper.${k} → hyper.${section}.${k}`);
  }
  return { hyper: out, moved, dropped };
}

/** One line for the upgrade of a config's flat keys, or null when there was nothing to upgrade. */
export function legacyNote(where: string, u: Upgraded): string | null {
  if (!u.moved.length && !u.dropped.length) return null;
  const shown = (xs: string[]) => xs.slice(0, 3).join(', ') + (xs.length > 3 ? `, … (${xs.length})` : '');
  return `note: ${where}: old flat hyper keys mapped onto the method sections (${u.moved.length ? shown(u.moved) : 'none'})` +
    (u.dropped.length ? `; dropped, the method does not read them: ${shown(u.dropped)}` : '');
}

/** A config as the run keeps it (config.yaml, checkpoint headers): the `hyper:` sections its method does not read removed. */
export function forMethod<C extends { method: string; hyper: object }>(c: C): C {
  const reads = new Set<string>(METHODS.get(c.method).reads);
  const hyper = Object.fromEntries(Object.entries(c.hyper).filter(([k]) => !isSection(k) || reads.has(k)));
  return { ...c, hyper } as C;
}

/** The `--set` expressions `method` reads: a key of another method's section is left out (demo: one --set, many methods). */
export function setsFor(method: string, sets: string[]): string[] {
  const reads: string[] = METHODS.get(method).reads;
  return sets.filter((s) => {
    const key = s.split('=')[0]!.trim().split('.');
    if (key[0] !== 'hyper' || key.length < 2) return true;
    const section = isSection(key[1]!) ? key[1]! : key.length === 2 ? legacySection(key[1]!, method) : undefined;
    return section === undefined || reads.includes(section);
  });
}

/** Every section in `hyper` must be one the method reads: else one line naming the key, the method and the owner. */
export function assertMethodReads(hyper: Obj, method: string, where: string): void {
  const reads = new Set(METHODS.get(method).reads);
  for (const [k, v] of Object.entries(hyper)) {
    if (!isSection(k) || reads.has(k)) continue;
    const key = isObj(v) && Object.keys(v).length ? `hyper.${k}.${Object.keys(v)[0]!}` : `hyper.${k}`;
    const own = reads.size ? `; '${method}' reads the common hyper keys and ${[...reads].map((s) => `hyper.${s}`).join(', ')}` : `; '${method}' reads only the common hyper keys`;
    throw new ConfigIssuesError(`${where}: ${key} is ${readersOf(k)[0]}'s (read by ${readersOf(k).join(', ')}), not read by method '${method}'${own}`, [key.split('.')]);
  }
}
