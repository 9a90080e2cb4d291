// Command-line parsing on node's util.parseArgs, with usage errors that name the flag.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../util/errors.js';
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

/** An integer flag ≥ `min` (`def` when absent); anything else is a usage error saying what is expected. */
export function intFlag(cmd: string, name: string, v: string | boolean | undefined, def: number, min = 1): number {
  if (v === undefined || typeof v === 'boolean') return def;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isInteger(n) || n < min) {
    const what = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer ≥ ${min}`;
    throw new UsageError(`${cmd}: --${name} expects ${what}, got '${v}'`);
  }
  return n;
}

/** A `--size WxH` flag (both positive integers), or undefined when absent. */
export function sizeFlag(cmd: string, name: string, v: string | undefined): [number, number] | undefined {
  if (v === undefined) return undefined;
  const m = /^([1-9]\d{0,4})x([1-9]\d{0,4})$/.exec(v);
  if (!m) throw new UsageError(`${cmd}: --${name} expects WxH (e.g. 1024x512), got '${v}'`);
  return [Number(m[1]), Number(m[2])];
}
