// Resolving a training config: presets / files (`extends:` chains) → deep merge → `--set` overrides → schema
// → derived defaults (maxIter = iters, warm-up and preheat = iters/20 unless set).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import YAML from 'yaml';
import { ConfigError } from '../util/errors.js';
import { didYouMean } from '../util/registry.js';
import { PRESETS } from './presets.js';
import { configKeys } from './reference.js';
import { checkYamlDepth } from './yaml-depth.js';
import { validate, type TrainConfig } from './schema.js';
import { resolveMethodConfig, type MethodConfig } from '../methods/config.js';

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

/** Expand one layer: a preset name or a file path, following `extends:` chains (cycles are errors). */
export function expand(ref: string, baseDir: string, seen: Set<string> = new Set()): Obj {
  if (seen.has(ref)) throw new ConfigError(`config 'extends' cycle through '${ref}'`);
  seen.add(ref);
  let layer: Obj;
  let dir = baseDir;
  if (PRESETS[ref]) {
    const { description: _d, ...p } = PRESETS[ref]!;
    layer = p as Obj;
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
  return deepMerge(expand(parent, dir, seen), rest);
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
  throw new ConfigError(`--set ${expr}: unknown key '${key}'${didYouMean(key, known)}; 'clan train --help' lists every key`);
}

export interface ResolveInput {
  config?: string;      // a file path or preset name (`--config`)
  preset?: string;      // `--preset`: the bottom layer
  flags?: Obj;          // common-case flags already shaped like the config (e.g. {source: {data}})
  sets?: string[];      // `--set key=value`
}

export function resolveConfig(inp: ResolveInput, where = 'config'): TrainConfig {
  let merged: Obj = {};
  if (inp.preset) merged = expand(inp.preset, process.cwd());
  if (inp.config) merged = deepMerge(merged, expand(inp.config, process.cwd()));
  if (inp.flags) merged = deepMerge(merged, inp.flags);
  for (const s of inp.sets ?? []) merged = deepMerge(merged, parseSet(s));
  delete merged.extends;
  return validate(merged, where);
}

/** The method hyper-parameters with the derived defaults filled in (maxIter = iters; warm-up, preheat = iters/20). */
export function methodConfig(c: TrainConfig): MethodConfig { return resolveMethodConfig(c.hyper, c.iters, c.amp); }
