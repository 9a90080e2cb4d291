import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import { configHelp, configKeys, configMarkdown } from './reference.js';
import { DEFAULT_METHOD_CONFIG } from '../methods/config.js';

test('every config key has a description, and the table carries the schema defaults', () => {
  const keys = configKeys();
  assert.ok(keys.length >= 50, `${keys.length} keys`);
  for (const k of keys) assert.ok(k.description.length > 10, `'${k.key}' has no description`);
  const byKey = new Map(keys.map((k) => [k.key, k]));
  // The official values (docs/method.md §3), read back from the generated table.
  for (const [k, v] of [['hyper.lrG', 2.5e-4], ['hyper.clan.lambdaLocal', 40], ['hyper.clan.epsilon', 0.4], ['hyper.adversarial.lambdaAdv', 0.001], ['iters', 100000]] as const) {
    assert.equal(byKey.get(k)?.default, JSON.stringify(v), k);
  }
  for (const k of ['gamma', 'momentum'] as const) assert.equal(byKey.get(`hyper.${k}`)?.default, JSON.stringify(DEFAULT_METHOD_CONFIG[k]), k);
  for (const k of ['lrD', 'beta2D', 'ndf'] as const) {
    assert.equal(byKey.get(`hyper.adversarial.${k}`)?.default, JSON.stringify(DEFAULT_METHOD_CONFIG.adversarial[k]), k);
  }
  for (const [k, v] of [['hyper.mic.ratio', 0.7], ['hyper.mic.lambda', 1], ['hyper.mic.blockSize', null]] as const) assert.equal(byKey.get(k)?.default, JSON.stringify(v), k);
  assert.equal(byKey.get('source.data')?.default, '(required)');
  assert.equal(byKey.get('method')?.type,
    'source-only | adversarial | clan | minent | advent | dacs | cotrain | clan-cotrain | hrda | daformer | mic | mic-hrda | mic-daformer');
  assert.equal(byKey.get('targetVal.protocol')?.type, 'all | 19 | 16 | 13');
});

test('docs/config.md is the generated table (run `npm run docs` after changing the schema)', () => {
  assert.equal(readFileSync(join(packageRoot(), 'docs', 'config.md'), 'utf8'), configMarkdown());
});

test('the --help key list has one line per key with its default, grouped by method section with who reads it', () => {
  const lines = configHelp().split('\n');
  assert.equal(lines.filter((l) => l.startsWith('  ')).length, configKeys().length);
  assert.match(lines.find((l) => l.trim().startsWith('hyper.clan.lambdaLocal'))!, /^ {2}hyper\.clan\.lambdaLocal +\[40\] λ_local in ε \+ λ_local·M/);
  assert.ok(lines.includes(" hyper.clan: clan's section, read by clan, clan-cotrain:"), 'the section heading names its readers');
  const at = (k: string) => lines.findIndex((l) => l.trim().startsWith(k + ' '));
  assert.ok(at('hyper.lrG') < at('hyper.adversarial.lrD') && at('hyper.adversarial.lrD') < at('hyper.clan.preheat'), 'common keys first, then the sections');
});
