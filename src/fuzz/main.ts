// `npm run fuzz -- --seconds N [--target NAME[,NAME…]] [--seed S] [--cases N] [--out DIR] [--file PATH]`
// Mutates valid inputs of every target (targets.ts) and checks that each is loaded with exactly the original content
// (or, for formats without an integrity check, well-formed) or refused with one line: never a crash, a hang or RSS
// over the bound. Prints progress on stderr and one JSON summary line per target on stdout; exit 1 on any finding
// (written to --out, default fuzz-findings/), 2 on a usage error. --file runs one input file through --target.
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { runFiles, runFuzz } from './fuzz.js';
import { POOL_DEFAULTS } from './pool.js';
import { TARGETS, targetByName, type Target } from './targets.js';

const USAGE = `usage: npm run fuzz -- --seconds N [--target NAME[,NAME…]] [--seed S] [--cases N] [--out DIR]
                      [--timeout S] [--rss-mb MB] [--file PATH --target NAME]
  --seconds   total time, split evenly over the targets (default 60)
  --cases     cases per target (deterministic for a given --seed); with --seconds, whichever ends first
  --seed      run seed (default: random, printed); a finding's .json holds its case seed
  --out       folder for findings: <target>-<kind>-<caseSeed>.bin + .json (default fuzz-findings)
  --timeout   seconds per case before it counts as a hang (default ${POOL_DEFAULTS.timeoutMs / 1000})
  --rss-mb    peak RSS bound of the child process in MiB (default ${POOL_DEFAULTS.rssBoundMb})
targets: ${TARGETS.map((t) => t.name).join(', ')}`;

class Usage extends Error {}

function posInt(name: string, v: string | undefined, def: number | undefined): number | undefined {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Usage(`--${name} expects a non-negative integer, got '${v}'`);
  return n;
}

function pickTargets(v: string | undefined): Target[] {
  if (v === undefined) return TARGETS;
  return v.split(',').map((n) => targetByName(n) ?? (() => { throw new Usage(`unknown target '${n}'; expected one of: ${TARGETS.map((t) => t.name).join(', ')}`); })());
}

async function main(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: argv, strict: true, options: {
    seconds: { type: 'string' }, target: { type: 'string' }, seed: { type: 'string' }, cases: { type: 'string' }, out: { type: 'string' },
    timeout: { type: 'string' }, 'rss-mb': { type: 'string' }, file: { type: 'string' }, help: { type: 'boolean', short: 'h' },
  } });
  if (v.help) { console.log(USAGE); return 0; }
  const targets = pickTargets(v.target);
  const pool = { timeoutMs: posInt('timeout', v.timeout, POOL_DEFAULTS.timeoutMs / 1000)! * 1000, rssBoundMb: posInt('rss-mb', v['rss-mb'], POOL_DEFAULTS.rssBoundMb)! };
  if (v.file !== undefined) {
    if (v.target === undefined || targets.length !== 1) throw new Usage('--file needs exactly one --target');
    const [r] = await runFiles([{ target: targets[0]!.name, path: v.file }], pool);
    console.log(JSON.stringify({ target: targets[0]!.name, file: v.file, ...r }));
    return r!.outcome === 'finding' ? 1 : 0;
  }
  const cases = posInt('cases', v.cases, undefined);
  const seconds = posInt('seconds', v.seconds, cases === undefined ? 60 : undefined);
  const seed = posInt('seed', v.seed, randomInt(2 ** 31))!;
  const out = v.out ?? 'fuzz-findings';
  console.error(`fuzz: seed ${seed}, ${targets.length} target(s)${seconds !== undefined ? `, ${seconds} s` : ''}${cases !== undefined ? `, ${cases} cases each` : ''}`);
  const { summaries, findings } = await runFuzz({ targets, seed, seconds, cases, out, ...pool, onProgress: (l) => console.error(l) });
  for (const s of summaries) console.log(JSON.stringify(s));
  if (findings.length > 0) console.error(`fuzz: ${findings.length} finding(s); inputs and reports in ${out}/ (reproduce: --seed ${seed}, or --file PATH --target NAME)`);
  return findings.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  const usage = e instanceof Usage || (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS');
  console.error(`fuzz: ${(e as Error).message.split('\n')[0]}${usage ? `\n${USAGE}` : ''}`);
  process.exitCode = usage ? 2 : 3;
});
