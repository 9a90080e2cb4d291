// The README's claims that can drift, checked against the code: every `clan …` line in its code blocks (and in
// inline code) names a command, subcommand, preset and flags that exist; every command is in the Commands block;
// the Presets section names every preset; relative links resolve; the References keep the papers, code and data.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { acceptedFlags } from './args.js';
import { main } from './main.js';
import { PRESETS } from '../config/presets.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const README = readFileSync(`${ROOT}README.md`, 'utf8');

/** The README's fenced code blocks, continuation lines (`\`) joined. */
function codeBlocks(md: string): string[] {
  return [...md.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].map((m) => m[1]!.replace(/\\\n\s*/g, ' '));
}

/** Each `clan …` invocation: code-block lines split on `&&`, `;` and `|&`-free pipes, and inline `clan …` spans. */
function invocations(md: string): string[] {
  const fromBlocks = codeBlocks(md).flatMap((b) => b.split('\n')).map((l) => l.replace(/\s#\s.*$/, ''))
    .flatMap((l) => l.split(/\s&&\s|;\s/)).map((s) => s.trim().replace(/^[A-Z_]+=\S+\s+/, ''));
  const inline = [...md.matchAll(/`(clan [^`]+)`/g)].map((m) => m[1]!);
  return [...fromBlocks, ...inline].filter((s) => /^clan [a-z]/.test(s));
}

/** What `clan ARGS` prints on stdout, run in this process. */
async function stdout(t: TestContext, args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = t.mock.method(console, 'log', (...a: unknown[]) => { lines.push(a.join(' ')); });
  try { assert.equal(await main(args), 0, `clan ${args.join(' ')}`); } finally { log.mock.restore(); }
  return lines.join('\n');
}

/** The commands `clan --help` lists, and the flags each (or each subcommand, 'bench step') accepts. */
async function flagsOf(t: TestContext): Promise<{
  commands: string[]; subs: Map<string, string[]>; flags: Map<string, readonly string[]>;
}> {
  const commands = [...(await stdout(t, ['--help'])).matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]!);
  const subs = new Map<string, string[]>(); const flags = new Map<string, readonly string[]>();
  for (const c of commands) {
    const text = await stdout(t, [c, '--help']);
    const s = [...text.matchAll(new RegExp(`^usage: clan ${c} ([a-z]\\w*)`, 'gm'))].map((m) => m[1]!);
    if (s.length) subs.set(c, s);
    for (const key of s.length ? s.map((x) => `${c} ${x}`) : [c]) {
      if (s.length) await stdout(t, [c, key.split(' ')[1]!, '--help']);
      flags.set(key, acceptedFlags.get(key) ?? []);
    }
  }
  return { commands, subs, flags };
}

test('README: every clan line names a real command, subcommand, preset and accepted flags; every command is listed', async (t) => {
  const { commands, subs, flags } = await flagsOf(t);
  const lines = invocations(README);
  assert.ok(lines.length >= 30, `clan lines found: ${lines.length}`);
  const problems: string[] = [];
  for (const line of lines) {
    const tokens = line.split(/\s+/);
    const cmd = tokens[1]!;
    if (!commands.includes(cmd)) { problems.push(`'${line}': no command '${cmd}'`); continue; }
    // 'bench engine|step' lists alternatives: each must exist, and a flag must be accepted by one of them
    const keys = subs.has(cmd) ? (/^[a-z|]+$/.test(tokens[2] ?? '') ? tokens[2]!.split('|') : []).map((s) => `${cmd} ${s}`) : [cmd];
    if (keys.length === 0 && tokens.length > 2 && !tokens.includes('--help')) problems.push(`'${line}': ${cmd} needs one of ${subs.get(cmd)!.join('|')}`);
    for (const k of keys) if (!flags.has(k)) problems.push(`'${line}': no subcommand '${k}'`);
    for (const [, f] of line.matchAll(/(?<![\w-])--([a-z0-9][a-z0-9-]*)/g)) {
      if (f !== 'help' && !keys.some((k) => flags.get(k)?.includes(f!))) problems.push(`'${line}': ${keys.join('/')} does not accept --${f}`);
    }
    for (const [, p] of line.matchAll(/--preset[ =]([\w-]+)/g)) if (!(p! in PRESETS)) problems.push(`'${line}': no preset '${p}'`);
  }
  const commandsBlock = codeBlocks(README.slice(README.indexOf('## Commands')))[0]!;
  for (const c of commands) if (!new RegExp(`(^|&& )clan ${c}\\b`, 'm').test(commandsBlock)) problems.push(`the Commands block has no 'clan ${c}' line`);
  assert.deepEqual(problems, []);
});

test('README: the Presets section names every preset', () => {
  const start = README.indexOf('## Presets');
  assert.ok(start > 0, 'a "## Presets" section');
  const section = README.slice(start, README.indexOf('\n## ', start + 1));
  const missing = Object.keys(PRESETS).filter((p) => !section.includes(`\`${p}\``));
  assert.deepEqual(missing, [], 'presets the README does not describe');
});

test('README: relative links resolve; References keep each method\'s paper and code, the datasets and the init weights', () => {
  const broken = [...README.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
    .filter((l) => !/^(https?:|mailto:|#)/.test(l)).filter((l) => !existsSync(`${ROOT}${l.split('#')[0]}`));
  assert.deepEqual(broken, [], 'links to files that do not exist');
  const start = README.indexOf('## References');
  assert.ok(start > 0, 'a "## References" section');
  const refs = README.slice(start);
  const required = ['arxiv.org/abs/1809.09478', 'github.com/RoyalVane/CLAN', 'arxiv.org/abs/1802.10349', 'github.com/wasidennis/AdaptSegNet',
    'arxiv.org/abs/1811.12833', 'github.com/valeoai/ADVENT', 'arxiv.org/abs/2007.08702', 'github.com/vikolss/DACS',
    'arxiv.org/abs/2111.14887', 'github.com/lhoyer/DAFormer', 'arxiv.org/abs/2204.13132', 'github.com/lhoyer/HRDA',
    'arxiv.org/abs/2212.01322', 'github.com/lhoyer/MIC', 'arxiv.org/abs/2105.15203', 'github.com/open-mmlab/mmsegmentation',
    'download.visinf.tu-darmstadt.de/data/from_games', 'synthia-dataset.net', 'www.cityscapes-dataset.com',
    'DeepLab_resnet_pretrained_init-f81d91e8.pth'];
  assert.deepEqual(required.filter((r) => !refs.includes(r)), [], 'references missing');
});
