import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../util/errors.js';
import { parse } from './args.js';
import { INFERENCE_OPTIONS, inferenceFlag } from './inference.js';

const spec = (argv: string[]) => inferenceFlag('eval', parse('eval', argv, INFERENCE_OPTIONS));

test('inference flags: parsed into a spec (none given: undefined), or refused in one line naming the flag', () => {
  assert.equal(spec([]), undefined);
  assert.deepEqual(spec(['--mode', 'whole']), { mode: 'whole' });
  assert.deepEqual(spec(['--mode', 'slide', '--crop', '512x512', '--stride', '341x341', '--scales', '0.5,0.75,1,1.25,1.5,1.75', '--flip']),
    { mode: 'slide', crop: [512, 512], stride: [341, 341], scales: [0.5, 0.75, 1, 1.25, 1.5, 1.75], flip: true });
  const bad: [string[], RegExp][] = [
    [['--mode', 'tile'], /^eval: --mode expects whole or slide, got 'tile'$/],
    [['--mode', 'slide'], /^eval: --mode slide needs --crop WxH .*got none$/],
    [['--mode', 'slide', '--crop', '64x64'], /^eval: --mode slide needs --stride WxH .*got none$/],
    [['--mode', 'slide', '--crop', '64', '--stride', '32x32'], /^eval: --crop expects WxH with sides of 1…16384 \(e\.g\. 1024x512\), got '64'$/],
    [['--crop', '64x64'], /^eval: --crop and --stride are for --mode slide/],
    [['--scales', '0.5,,1'], /^eval: --scales expects ratios separated by commas .*got '0\.5,,1'$/],
    [['--scales', '0,1'], /^eval: --scales expects ratios in \(0, 8\] of the eval size.*got 0$/],
    [['--scales', '9'], /got 9$/],
  ];
  for (const [argv, re] of bad) assert.throws(() => spec(argv), (e: Error) => e instanceof UsageError && re.test(e.message), argv.join(' '));
});
