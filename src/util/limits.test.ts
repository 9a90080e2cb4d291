import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.js';
import { LIMITS, limit, limitText, type LimitName } from './limits.js';
import { assertOneLine } from '../io/io.testing.js';

test('defaults, environment overrides and refusals of bad values', () => {
  assert.equal(limit('imagePixels', {}), 178_956_970);
  assert.equal(limit('safetensorsHeaderBytes', {}), 100_000_000);
  assert.equal(limit('imagePixels', { CLAN_MAX_IMAGE_PIXELS: '400000000' }), 400_000_000);
  assert.equal(limit('zipInflateBytes', { CLAN_MAX_ZIP_INFLATE_BYTES: ' 1_000 ' }), 1000);
  assert.equal(limit('zipInflateBytes', { CLAN_MAX_ZIP_INFLATE_BYTES: '' }), 512 * 2 ** 20);
  assert.equal(limitText('pickleObjects', { CLAN_MAX_PICKLE_OBJECTS: '7' }), 'the limit of 7 (CLAN_MAX_PICKLE_OBJECTS)');
  for (const bad of ['0', '-5', '1.5', 'lots', '1e300']) {
    assertOneLine(() => limit('pickleObjects', { CLAN_MAX_PICKLE_OBJECTS: bad }), ConfigError,
      new RegExp(`^CLAN_MAX_PICKLE_OBJECTS=${bad.replace('.', '\\.')}: expected a positive integer \\(default 5000000\\)$`));
  }
});

test('every limit has a CLAN_MAX_ name (or CLAN_MEMORY_BUDGET_MB), a positive safe default, documented in the header', () => {
  const src = readFileSync(fileURLToPath(new URL('../../../src/util/limits.ts', import.meta.url)), 'utf8');
  const header = src.slice(0, src.indexOf('import '));
  for (const [name, { env, default: d }] of Object.entries(LIMITS)) {
    // the memory budget bounds a whole command (infer/cost.ts), not one file: its name says budget
    assert.match(env, name === 'memoryBudgetMB' ? /^CLAN_MEMORY_BUDGET_MB$/ : /^CLAN_MAX_[A-Z_]+$/, name);
    assert.ok(Number.isSafeInteger(d) && d > 0, name);
    assert.ok(header.includes(`//   ${env} `), `${env} is not described in the header of limits.ts`);
    assert.equal(limit(name as LimitName, {}), d);
  }
  assert.equal(new Set(Object.values(LIMITS).map((l) => l.env)).size, Object.keys(LIMITS).length);
});
