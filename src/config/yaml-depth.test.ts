// YAML nesting measured before parsing (YAML.parse overflowed the call stack near 800 levels: "Maximum call stack
// size exceeded" was the whole message): depths of hand-checked texts, and the one-line refusals of a config file
// and a --set value nested past CLAN_MAX_NESTING_DEPTH.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../util/errors.js';
import { parseSet, resolveConfig } from './load.js';
import { yamlDepth } from './yaml-depth.js';

test('yamlDepth counts nested collections: block and flow, keys and values, compact sequences, every document', () => {
  const cases: [string, number][] = [
    ['5', 0], ['a: 1', 1], ['a: {b: [1, [2]]}', 4], ['- - - x', 3], ['a:\n  b:\n    - c: 1\n', 4],
    ['? [a, {b: c}]\n: 1', 3], ['x\n---\na: [[1]]', 3], ['# only a comment', 0], ['a: "[[[[ not nested ]]]]"', 1],
  ];
  for (const [text, depth] of cases) assert.equal(yamlDepth(text).depth, depth, JSON.stringify(text));
  assert.equal(yamlDepth(`${'['.repeat(100_000)}${']'.repeat(100_000)}`).depth, 100_000, 'measured without recursion');
});

test('a config file or --set value nested past CLAN_MAX_NESTING_DEPTH is one ConfigError naming it, the depth and the line', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-yaml-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'deep.yaml');
  writeFileSync(file, `extends: cpu\niters: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`);
  assert.throws(() => resolveConfig({ config: file }), (e: Error) => e instanceof ConfigError &&
    e.message === `config file ${file}: nests 100001 levels deep (level 101 at line 2), more than the limit of 100 (CLAN_MAX_NESTING_DEPTH); a config nests a few`);
  // Block nesting: the top mapping plus 100 nested under `hyper:` is 101 levels; plus 99 is 100 (then the schema says what is wrong).
  const block = (n: number): string => `extends: cpu\nhyper:\n${Array.from({ length: n }, (_, i) => `${' '.repeat(2 * i + 2)}k${i}:`).join('\n')} 1\n`;
  writeFileSync(file, block(100));
  assert.throws(() => resolveConfig({ config: file }), (e: Error) => e instanceof ConfigError &&
    e.message === `config file ${file}: nests 101 levels deep (level 101 at line 102), more than the limit of 100 (CLAN_MAX_NESTING_DEPTH); a config nests a few`);
  writeFileSync(file, block(99));
  assert.throws(() => resolveConfig({ config: file }), (e: Error) => e instanceof ConfigError && !/nests|Maximum call stack/.test(e.message));
  assert.throws(() => parseSet(`hyper.lrG=${'['.repeat(5000)}${']'.repeat(5000)}`), (e: Error) => e instanceof ConfigError &&
    e.message === '--set hyper.lrG: nests 5000 levels deep (level 101 at line 1), more than the limit of 100 (CLAN_MAX_NESTING_DEPTH); a config nests a few');
});
