// Every flag a command accepts is named in its --help, and every flag its --help names is accepted: the flags come
// from the option spec the command hands to `parse` (args.ts records it), the text from running `clan CMD --help`.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { acceptedFlags } from './args.js';
import { main } from './main.js';

/** Flags a command accepts on purpose without documenting them, each with the reason. */
const INTERNAL: Record<string, readonly string[]> = {
  demo: ['job', 'job-out', 'job-init'],   // one run of the demo's own job pool (demo-jobs.ts): started by the parent, never a user
};
/** Flags a --help text names that belong to another program. */
const FOREIGN: Record<string, readonly string[]> = {
  convert: ['restore-from'],              // CLAN_evaluate.py's flag, in the snippet that loads the exported file in PyTorch
};

/** What `clan ARGS` prints on stdout, run in this process. */
async function stdout(t: TestContext, args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = t.mock.method(console, 'log', (...a: unknown[]) => { lines.push(a.join(' ')); });
  try { assert.equal(await main(args), 0, `clan ${args.join(' ')}`); } finally { log.mock.restore(); }
  return lines.join('\n');
}

const named = (text: string): Set<string> => new Set([...text.matchAll(/(?<![\w-])--([a-z0-9][a-z0-9-]*)/g)].map((m) => m[1]!));

/** The help text of each command, or of each subcommand where the text has one 'usage: clan CMD SUB' section per SUB. */
async function helpSections(t: TestContext): Promise<{ cmd: string; args: string[]; text: string }[]> {
  const names = [...(await stdout(t, ['--help'])).matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]!);
  assert.ok(names.length >= 7, `commands listed by clan --help: ${names.join(', ')}`);
  const out: { cmd: string; args: string[]; text: string }[] = [];
  for (const name of names) {
    const text = await stdout(t, [name, '--help']);
    const subs = [...text.matchAll(new RegExp(`^usage: clan ${name} ([a-z]\\w*)`, 'gm'))];
    if (subs.length === 0) { out.push({ cmd: name, args: [name, '--help'], text }); continue; }
    subs.forEach((m, i) => out.push({ cmd: `${name} ${m[1]!}`, args: [name, m[1]!, '--help'], text: text.slice(m.index, subs[i + 1]?.index) }));
  }
  return out;
}

test('each command\'s --help names exactly the flags it accepts (internal ones excepted, listed above)', async (t) => {
  const sections = await helpSections(t);
  assert.ok(sections.some((s) => s.cmd === 'bench step'), 'bench is checked per benchmark');
  const problems: string[] = [];
  for (const s of sections) {
    acceptedFlags.delete(s.cmd);
    await stdout(t, s.args);
    const accepted = acceptedFlags.get(s.cmd);
    assert.ok(accepted, `clan ${s.args.join(' ')} parsed its flags with parse('${s.cmd}', …)`);
    const internal = INTERNAL[s.cmd] ?? [];
    const documented = named(s.text);
    const undocumented = accepted.filter((f) => !documented.has(f) && !internal.includes(f));
    const unknown = [...documented].filter((f) => !accepted.includes(f) && f !== 'help' && !(FOREIGN[s.cmd] ?? []).includes(f));
    if (undocumented.length) problems.push(`${s.cmd}: --help omits ${undocumented.map((f) => `--${f}`).join(', ')}`);
    if (unknown.length) problems.push(`${s.cmd}: --help names ${unknown.map((f) => `--${f}`).join(', ')}, which it does not accept`);
  }
  assert.deepEqual(problems, []);
});
