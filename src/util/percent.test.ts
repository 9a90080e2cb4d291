import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pctMeanStd } from './percent.js';

test('pctMeanStd: two decimals in %, the std only for several seeds', () => {
  assert.equal(pctMeanStd([0.265812, 0.020149], 3), '26.58 ± 2.01');
  assert.equal(pctMeanStd([0.265812, 0.020149], 1), '26.58');
  assert.equal(pctMeanStd([0.00005, 0], 2), '0.01 ± 0.00');
});
