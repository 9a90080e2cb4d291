import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../util/errors.js';
import { parseSet, resolveConfig } from './load.js';

const fails = (sets: string[], re: RegExp) => assert.throws(() => resolveConfig({ preset: 'cpu', sets }),
  (e: unknown) => e instanceof ConfigError && re.test(e.message) && !e.message.includes('\n'));

test('--set takes dotted keys and YAML scalars; sections and leaves both count as keys', () => {
  assert.deepEqual(parseSet('hyper.lambdaLocal=10'), { hyper: { lambdaLocal: 10 } });
  assert.deepEqual(parseSet('targetVal.limit=4'), { targetVal: { limit: 4 } });
  const c = resolveConfig({ preset: 'cpu', sets: ['hyper.lambdaLocal=12.5', 'source={data: "digitscapes:source", flip: false}'] });
  assert.equal(c.hyper.lambdaLocal, 12.5);
  assert.equal(c.source.flip, false);
});

test('a misspelt --set key names the key and the nearest real one', () => {
  fails(['hyper.lamdaLocal=10'], /^--set hyper\.lamdaLocal=10: unknown key 'hyper\.lamdaLocal' \(did you mean 'hyper\.lambdaLocal'\?\); 'clan train --help' lists every key$/);
  fails(['iter=5'], /unknown key 'iter' \(did you mean 'iters'\?\)/);
  fails(['targetval.protocol=16'], /unknown key 'targetval\.protocol' \(did you mean 'targetVal\.protocol'\?\)/);
  fails(['iters.x=1'], /unknown key 'iters\.x'/);          // below a leaf
  fails(['zzzzzzzz=1'], /unknown key 'zzzzzzzz'; 'clan/);  // nothing near: no suggestion
  fails(['=1'], /--set expects key=value, got '=1'/);
});
