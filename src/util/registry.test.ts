import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry, editDistance } from './registry.js';
import { UsageError } from './errors.js';

test('editDistance on hand-computed pairs', () => {
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('gta5', 'gta5'), 0);
});

test('Registry suggests the closest name', () => {
  const r = new Registry<number>('dataset');
  r.register('cityscapes', 1);
  r.register('gta5', 2);
  assert.equal(r.get('gta5'), 2);
  assert.throws(() => r.get('cityscape'), (e: unknown) =>
    e instanceof UsageError && /unknown dataset 'cityscape' \(did you mean 'cityscapes'\?\)/.test(e.message));
  assert.throws(() => r.get('zzzzzzzz'), (e: unknown) => e instanceof UsageError && !/did you mean/.test(e.message));
});
