import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../util/errors.js';
import { intFlag, parse } from './args.js';

const usage = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof UsageError && re.test(e.message));
const opts = { iters: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } } as const;

test('a negative number after a string flag is its value, so the command can say what it expects', () => {
  assert.deepEqual({ ...parse('x', ['--iters', '-5', '--json'], opts).values }, { iters: '-5', json: true });
  assert.equal(parse('x', ['--iters', '-.5'], opts).values.iters, '-.5');
  assert.equal(parse('x', ['--out', '-1x2'], opts).values.out, '-1x2');
  assert.deepEqual(parse('x', ['--', '--iters', '-5'], opts, true).positionals, ['--iters', '-5']); // after '--' nothing is a flag
  usage(() => intFlag('train', 'iters', parse('train', ['--iters', '-5'], opts).values.iters, 1), /^train: --iters expects a positive integer, got '-5'$/);
  usage(() => parse('x', ['--json', '-5'], opts), /Unexpected argument '-5'|Unknown option '-5'/); // a boolean takes no value
  usage(() => parse('x', ['--out', '-o'], opts), /^x: --out expects a value, got '-o' \(a value that starts with '-' is written --out=-o\)$/);
  usage(() => parse('x', ['--out'], opts), /^x: Option '--out <value>' argument missing/);
});

test('intFlag names the flag and the range it expects', () => {
  assert.equal(intFlag('c', 'n', '7', 1), 7);
  assert.equal(intFlag('c', 'n', undefined, 3), 3);
  assert.equal(intFlag('c', 'n', '0', 3, 0), 0);
  usage(() => intFlag('c', 'n', '0', 1), /^c: --n expects a positive integer, got '0'$/);
  usage(() => intFlag('c', 'n', '-1', 1, 0), /^c: --n expects a non-negative integer, got '-1'$/);
  usage(() => intFlag('c', 'n', '1', 1, 2), /^c: --n expects an integer ≥ 2, got '1'$/);
  usage(() => intFlag('c', 'n', '', 1), /got ''$/);
  usage(() => intFlag('c', 'n', '2.5', 1), /got '2\.5'$/);
});
