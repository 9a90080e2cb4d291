// `clan` entry: dispatch to a subcommand; every error becomes one line on stderr and a documented exit code
// (0 ok, 1 error, 2 usage, 130 interrupted). CLAN_DEBUG=1 prints stacks for developers.
import { UsageError } from '../util/errors.js';
import { Interrupted } from '../train/interrupted.js';
import { didYouMean } from '../util/registry.js';
import { packageVersion } from '../util/paths.js';
import type { Command, CommandContext } from './args.js';
import { doctorCommand } from './doctor.js';
import { benchCommand } from './bench.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { convertCommand } from './convert.js';
import { predictCommand } from './predict.js';
import { demoCommand } from './demo.js';
import { reportCommand } from './report.js';
import { selftrainCommand } from './selftrain.js';
import { serveCommand } from './serve.js';
import { exportCommand } from './export.js';

const COMMANDS: Command[] = [demoCommand, trainCommand, selftrainCommand, evalCommand, predictCommand, exportCommand, serveCommand,
  reportCommand, convertCommand, benchCommand, doctorCommand];

function usage(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return ['usage: clan <command> [options]   (clan <command> --help for details)', '', 'commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`), '',
    'exit codes: 0 ok, 1 error, 2 usage, 130 interrupted'].join('\n');
}

export function register(cmd: Command): void { COMMANDS.push(cmd); }

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}

/** Runs one command; `ctx` carries test hooks (src/cli/cli.testing.ts), the `clan` launcher passes none. */
export async function main(argv: string[], ctx: CommandContext = {}): Promise<number> {
  const [name, ...rest] = argv;
  try {
    if (name === undefined) throw new UsageError(`no command given; expected one of: ${COMMANDS.map((c) => c.name).join(', ')} (clan --help for details)`);
    if (name === '--help' || name === '-h' || name === 'help') { console.log(usage()); return 0; }
    if (name === '--version') { console.log(`clan ${packageVersion()}`); return 0; }
    const cmd = COMMANDS.find((c) => c.name === name);
    if (!cmd) throw new UsageError(`unknown command '${name}'${didYouMean(name, COMMANDS.map((c) => c.name))}; expected one of: ${COMMANDS.map((c) => c.name).join(', ')}`);
    return await cmd.run(rest, ctx);
  } catch (e) {
    if (process.env.CLAN_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.stderr.write(`clan: ${oneLine(e)}\n`);
    return e instanceof UsageError ? 2 : e instanceof Interrupted ? 130 : 1;
  }
}
