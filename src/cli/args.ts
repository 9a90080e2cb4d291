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

/** Parse flags strictly; unknown flags and missing values are usage errors naming the flag. */
export function parse(cmd: string, argv: string[], options: Options, allowPositionals = false): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals, strict: true });
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, '');
    throw new UsageError(`${cmd}: ${msg} (see 'clan ${cmd} --help')`);
  }
}

/** A string flag's value (undefined when absent). */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function intFlag(cmd: string, name: string, v: string | boolean | undefined, def: number, min = 1): number {
  if (v === undefined || typeof v === 'boolean') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${cmd}: --${name} expects an integer ≥ ${min}, got '${v}'`);
  return n;
}
