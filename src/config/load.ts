// Resolving a training config: presets / files (`extends:` chains) → deep merge → `--set` overrides → schema
// → derived defaults (maxIter = iters, warm-up and preheat = iters/20 unless set).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import YAML from 'yaml';
import { ConfigError, ConfigIssuesError, UsageError } from '../util/errors.js';
import { didYouMean } from '../util/registry.js';
import { PRESETS } from './presets.js';
import { configKeys } from './reference.js';
import { checkYamlDepth } from './yaml-depth.js';
import { validate, type TrainConfig } from './schema.js';
import { LEGACY_HYPER_KEYS, resolveMethodConfig, type MethodConfig } from '../methods/config.js';
import { METHODS } from '../methods/registry.js';
import { assertMethodReads, forMethod, legacyNote, upgradeLegacyHyper } from './hyper.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function deepMerge(base: Obj, over: Obj): Obj {
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObj(v) && isObj(out[k]) ? deepMerge(out[k] as Obj, v) : v;
  return out;
}

function loadFile(path: string): Obj {
  if (!existsSync(path)) throw new ConfigError(`config file ${path} does not exist`);
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    checkYamlDepth(text, `config file ${path}`); // before YAML.parse, which recurses per level
    raw = YAML.parse(text);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`config file ${path} is not valid YAML/JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isObj(raw)) throw new ConfigError(`config file ${path} must hold a mapping of keys, got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  return raw;
}

/**
 * Expand one layer: a preset name or a file path, following `extends:` chains (cycles are errors). With
 * `userOnly`, presets contribute nothing: what the user's own files set (the method-reads check looks at that).
 */
export function expand(ref: string, baseDir: string, seen: Set<string> = new Set(), userOnly = false): Obj {
  if (seen.has(ref)) throw new ConfigError(`config 'extends' cycle through '${ref}'`);
  seen.add(ref);
  let layer: Obj;
  let dir = baseDir;
  if (PRESETS[ref]) {
    const { description: _d, ...p } = PRESETS[ref]!;
    layer = userOnly ? { extends: p.extends } : p as Obj;
  } else if (/[/\\.]/.test(ref)) {
    const path = resolve(baseDir, ref);
    layer = loadFile(path);
    dir = dirname(path);
  } else {
    throw new ConfigError(`unknown preset '${ref}'${didYouMean(ref, Object.keys(PRESETS))}; expected one of: ${Object.keys(PRESETS).join(', ')} or a config file path`);
  }
  const { extends: parent, ...rest } = layer;
  if (parent === undefined) return rest;
  if (typeof parent !== 'string') throw new ConfigError(`'extends' must be a preset name or a file path, got ${typeof parent}`);
  return deepMerge(expand(parent, dir, seen, userOnly), rest);
}

/** `a.b.c=value` → nested object; the value is parsed as a YAML scalar (numbers, booleans, lists). */
export function parseSet(expr: string): Obj {
  const eq = expr.indexOf('=');
  if (eq <= 0) throw new ConfigError(`--set expects key=value, got '${expr}'`);
  const keys = expr.slice(0, eq).split('.');
  checkSetKey(expr.slice(0, eq), expr);
  let value: unknown;
  checkYamlDepth(expr.slice(eq + 1), `--set ${expr.slice(0, eq)}`);
  try { value = YAML.parse(expr.slice(eq + 1)); } catch { value = expr.slice(eq + 1); }
  return keys.reduceRight<unknown>((acc, k) => ({ [k]: acc }), value) as Obj;
}

/**
 * A `--set` key must name a config key or a section of them; a typo gets the nearest key (the schema would only
 * say "unknown key", and only after every layer was merged).
 */
function checkSetKey(key: string, expr: string): void {
  const known = configKeys().map((k) => k.key);
  if (known.some((k) => k === key || k.startsWith(`${key}.`))) return;
  if (/^hyper\.\w+$/.test(key) && LEGACY_HYPER_KEYS[key.slice(6)]) return;  // an old flat key: mapped with a note

  // a hyper key without its section (or a typo of one): match the leaf among hyper's keys, suggest the full key
  const leaf = key.split('.').pop()!;
  const hyperKeys = known.filter((k) => k.startsWith('hyper.'));
  const byLeaf = key.startsWith('hyper.') ? /'(.*)'/.exec(didYouMean(leaf, hyperKeys.map((k) => k.split('.').pop()!)))?.[1] : undefined;
  const hint = didYouMean(key, known) || (byLeaf ? ` (did you mean '${hyperKeys.find((k) => k.endsWith(`.${byLeaf}`))!}'?)` : '');
  throw new ConfigError(`--set ${expr}: unknown key '${key}'${hint}; 'clan train --help' lists every key`);
}

export interface ResolveInput {
  config?: string;      // a file path or preset name (`--config`)
  preset?: string;      // `--preset`: the bottom layer
  flags?: Obj;          // common-case flags already shaped like the config (e.g. {source: {data}})
  sets?: string[];      // `--set key=value`
  base?: Obj;           // a whole config resolved for another run (clan selftrain: the checkpoint's): under the flags
  commandLine?: boolean; // preset, flags and sets came from the command line: their mistakes are UsageErrors (exit 2)
  log?: (line: string) => void;  // notes (old flat hyper keys mapped); default stderr
}

interface Layer { obj: Obj; user: Obj; whole: boolean }  // user: what is not from a preset; whole: a config file

/**
 * Presets and files (`extends:` chains) → flags → `--set`, deep-merged, then validated. The old flat `hyper:` keys are
 * mapped onto the method sections (a note says so), and a section the method does not read is an error when the
 * user set it (presets may carry values for several methods).
 */
function resolveLayers(inp: ResolveInput, where: string): TrainConfig {
  const cwd = process.cwd();
  const layers: Layer[] = [];
  if (inp.preset) layers.push({ obj: expand(inp.preset, cwd), user: {}, whole: false });
  if (inp.config) layers.push({ obj: expand(inp.config, cwd), user: expand(inp.config, cwd, new Set(), true), whole: true });
  if (inp.base) layers.push({ obj: inp.base, user: {}, whole: true });
  if (inp.flags) layers.push({ obj: inp.flags, user: inp.flags, whole: false });
  for (const s of inp.sets ?? []) { const o = parseSet(s); layers.push({ obj: o, user: o, whole: false }); }
  const raw = layers.reduce<Obj>((m, l) => deepMerge(m, l.obj), {});
  const method = typeof raw.method === 'string' ? raw.method : 'clan';
  if (METHODS.has(method)) {
    const log = inp.log ?? ((l: string) => process.stderr.write(l + '\n'));
    for (const l of layers) {
      for (const part of ['obj', 'user'] as const) {
        const h = l[part].hyper;
        if (!isObj(h)) continue;
        const u = upgradeLegacyHyper(h, method, l.whole);
        l[part] = { ...l[part], hyper: u.hyper };
        const note = part === 'obj' ? legacyNote(l.whole ? (inp.config ?? where) : where, u) : null;
        if (note) log(note);
      }
      if (isObj(l.user.hyper)) assertMethodReads(l.user.hyper, method, where);
    }
  }
  const merged = layers.reduce<Obj>((m, l) => deepMerge(m, l.obj), {});
  delete merged.extends;
  dropPresetSizes(merged, layers);
  const c = validate(merged, where);
  return inp.base ? forMethod(c) : c;  // the other run's sections that this method does not read: gone
}

const DATA_SECTIONS = ['source', 'target', 'targetVal'] as const;

/**
 * A preset's size is for the preset's dataset: where the user names a dataset (S.data) and no size for it (S.size),
 * the inherited size goes and the dataset's own applies (a folder's: its images', data/paired.ts; the run says which,
 * train/run-data.ts), so a 96×64 folder is not squashed into the cpu preset's 64×64. For the built-in datasets the
 * presets' sizes are their own anyway (1280×720 GTA5, 1280×760 SYNTHIA, 1024×512 Cityscapes, 64×64 digitscapes).
 */
function dropPresetSizes(merged: Obj, layers: readonly Layer[]): void {
  const userSets = (s: string, k: string) => layers.some((l) => isObj(l.user[s]) && (l.user[s] as Obj)[k] !== undefined);
  for (const s of DATA_SECTIONS) {
    const sec = merged[s];
    if (isObj(sec) && userSets(s, 'data') && !userSets(s, 'size')) merged[s] = Object.fromEntries(Object.entries(sec).filter(([k]) => k !== 'size'));
  }
}

export function resolveConfig(inp: ResolveInput, where = 'config'): TrainConfig {
  if (!inp.commandLine) return resolveLayers(inp, where);
  try { return resolveLayers(inp, where); } catch (e) {
    if (e instanceof ConfigError && fromCommandLine(e, inp)) throw new UsageError(e.message);
    throw e;
  }
}

/** Whether a config error is the command line's: an unknown --preset, a bad --set, or keys that only flags or sets gave. */
function fromCommandLine(e: ConfigError, inp: ResolveInput): boolean {
  if (/^unknown preset '/.test(e.message) && inp.preset && !PRESETS[inp.preset]) return true;
  if (/^--set /.test(e.message)) return true;
  if (!(e instanceof ConfigIssuesError) || e.paths.length === 0) return false;
  const cli = [inp.flags ?? {}, ...(inp.sets ?? []).map((s) => parseSet(s))];
  const has = (o: unknown, p: readonly string[]): boolean => p.length === 0 || (isObj(o) && p[0]! in o && has(o[p[0]!], p.slice(1)));
  return e.paths.every((p) => cli.some((o) => has(o, p)));
}

/** The method hyper-parameters with the derived defaults filled in (maxIter = iters; warm-up, preheat = iters/20). */
export function methodConfig(c: TrainConfig): MethodConfig {
  return resolveMethodConfig(c.hyper, c.iters, c.amp, { normalize: c.normalize, initWeights: c.init !== null && c.init !== undefined });
}
