// Command-line parsing on node's util.parseArgs, with usage errors that name the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../util/errors.js';
import { didYouMean } from '../util/registry.js';
import type { TrainHooks } from '../train/trainer.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/** What the entry passes every command besides its arguments: test hooks for training runs (never set by `clan`). */
export interface CommandContext {
  trainHooks?: TrainHooks;
  entry?: string[];   // how to start this CLI again (data-parallel workers): the script and its own flags; default bin/clan.js
}

export interface Command {
  name: string;
  summary: string;
  usage: string;        // full --help text
  run(argv: string[], ctx?: CommandContext): Promise<number> | number;
}

export interface Parsed { values: Record<string, string | boolean | undefined>; positionals: string[] }

/**
 * The flags each command accepted the last time it parsed, by command name ('bench step', …): lets the --help
 * test hold every USAGE text against what its command really accepts without a second list of flags.
 */
export const acceptedFlags = new Map<string, readonly string[]>();

/** A value that starts with '-' but is a number (`--iters -5`), which parseArgs would read as an option. */
const NEGATIVE = /^-(\d|\.\d|Infinity$)/;

/** `--flag -5` → `--flag=-5` for string flags, so the command's own check names what it expects. */
function joinNegatives(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!; const next = argv[i + 1];
    if (a === '--') { out.push(...argv.slice(i)); break; }
    if (a.startsWith('--') && !a.includes('=') && options[a.slice(2)]?.type === 'string' && next !== undefined && NEGATIVE.test(next)) {
      out.push(`${a}=${next}`); i++;
    } else out.push(a);
  }
  return out;
}

/** Parse flags strictly; unknown flags and missing values are usage errors naming the flag. */
export function parse(cmd: string, argv: string[], options: Options, allowPositionals = false): Parsed {
  acceptedFlags.set(cmd, Object.keys(options));
  const args = joinNegatives(argv, options);
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '');
    const amb = /^Option '--([^' ]+)' argument is ambiguous/.exec(msg);
    if (amb) {
      const next = args[args.indexOf(`--${amb[1]}`) + 1] ?? '';
      throw new UsageError(`${cmd}: --${amb[1]} expects a value, got '${next}' (a value that starts with '-' is written --${amb[1]}=${next})`);
    }
    throw new UsageError(`${cmd}: ${msg} (see 'clan ${cmd} --help')`);
  }
}

/** A string flag's value (undefined when absent). */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

/**
 * An integer flag in [min, max] (`def` when absent), written in decimal digits: '1e300' and '9007199254740993' (beyond
 * what a double holds exactly) are refused, as are '2.5' and ''. `why` says where the upper limit comes from.
 */
export function intFlag(cmd: string, name: string, v: string | boolean | undefined, def: number, min = 1, max = Number.MAX_SAFE_INTEGER, why = ''): number {
  if (v === undefined || typeof v === 'boolean') return def;
  const t = v.trim();
  const n = /^[+-]?\d+$/.test(t) ? Number(t) : NaN;
  const what = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer ≥ ${min}`;
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`${cmd}: --${name} expects ${what}, got '${v}'`);
  if (n > max) throw new UsageError(`${cmd}: --${name} expects at most ${max}${why ? ` (${why})` : ''}, got '${v}'`);
  return n;
}

/** A number flag (decimal or exponent notation, finite) in [min, max], `def` when absent. */
export function numFlag(cmd: string, name: string, v: string | undefined, def: number, min: number, max: number): number {
  if (v === undefined) return def;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${cmd}: --${name} expects a number in [${min}, ${max}], got '${v}'`);
  return n;
}

/** One of `allowed` (`def` when absent); anything else names the choices. */
export function enumFlag<T extends string>(cmd: string, name: string, v: string | undefined, allowed: readonly T[], def: T): T {
  if (v === undefined) return def;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new UsageError(`${cmd}: --${name} expects ${allowed.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got '${v}'${didYouMean(v, allowed)}`);
  }
  return v as T;
}

/** The engine flags of the commands that run a network (applied by device.ts engineFlags, which loads the engine). */
export const ENGINE_OPTIONS: Options = { threads: { type: 'string' }, 'pointwise-onednn': { type: 'boolean' }, device: { type: 'string' } };

/** A boolean flag: true only when given. */
export const boolFlag = (p: Parsed, name: string): boolean => p.values[name] === true;

/** The largest side a size flag takes: 4× a 2048×1024 Cityscapes image each way, far past any network input here. */
export const MAX_SIDE = 16384;

/**
 * A `--size WxH` flag (both positive integers, W first as the config's [W, H] and every size in clan), or undefined
 * when absent. This is the one parser of sizes on the command line.
 */
export function sizeFlag(cmd: string, name: string, v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^([1-9]\d{0,4})x([1-9]\d{0,4})$/.exec(v.trim());
  if (!m || Number(m[1]) > MAX_SIDE || Number(m[2]) > MAX_SIDE) {
    throw new UsageError(`${cmd}: --${name} expects WxH with sides of 1…${MAX_SIDE} (e.g. 1024x512), got '${v}'`);
  }
  return [Number(m[1]), Number(m[2])];
}

/** A comma list of W×H sizes (`--sizes 1024x512,2048x1024`), or undefined when absent. */
export function sizesFlag(cmd: string, name: string, v: string | undefined): [number, number][] | undefined {
  if (v === undefined) return undefined;
  return v.split(',').map((x) => sizeFlag(cmd, name, x)!);
}
