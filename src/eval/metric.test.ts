import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataError } from '../util/errors.js';
import { CITYSCAPES_CLASSES, EVAL_SUBSETS } from '../data/labels.js';
import { IoUMetric, formatIoU, pct } from './metric.js';

const u8 = (...v: number[]) => new Uint8Array(v);
const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

test('hand-made 3-class case: hist rows = gt, cols = pred, 255 ignored', () => {
  const m = new IoUMetric(3);
  m.process(u8(0, 1, 1, 1, 0, 2), u8(0, 0, 1, 1, 2, 255));
  assert.deepEqual([...m.hist], [1, 1, 0, 0, 2, 0, 1, 0, 0]);
  const r = m.compute();
  close(r.iou[0]!, 1 / 3); close(r.iou[1]!, 2 / 3); close(r.iou[2]!, 0); // class 2: in gt, never predicted
  close(r.miou, 1 / 3);
  close(r.aacc, 3 / 5); assert.equal(r.accuracy, r.aacc); // aAcc; `accuracy` is its deprecated alias
  assert.equal(r.pixels, 5);
  // Acc_c = diag / rowsum (the gt pixels of c found): 1/2, 2/2, 0/1; mAcc their mean
  close(r.acc[0]!, 1 / 2); close(r.acc[1]!, 1); close(r.acc[2]!, 0);
  close(r.macc, 1 / 2);
});

test('absent class → NaN, skipped by the nan-mean; subsets average only their classes', () => {
  const m = new IoUMetric(4);
  m.process(Int32Array.from([0, 1, 1, 1, 0]), u8(0, 0, 1, 1, 2));
  const r = m.compute();
  assert.ok(Number.isNaN(r.iou[3]!));
  close(r.miou, 1 / 3);
  close(m.compute([0, 1]).miou, 0.5);
  close(m.compute([1, 3]).miou, 2 / 3);
  assert.ok(Number.isNaN(m.compute([3]).miou));
  assert.deepEqual([...r.acc], [1 / 2, 1, 0, NaN]);   // class 3 never in gt: NaN, left out of mAcc
  close(r.macc, 1 / 2);
  close(m.compute([1, 3]).macc, 1);
  assert.ok(Number.isNaN(m.compute([3]).macc));
  assert.throws(() => m.compute([4]), /class 4 outside/);
});

test('predicted-only class gets IoU 0 (not NaN); confusion is dataset-level, not a mean of images', () => {
  const m = new IoUMetric(2);
  m.process(u8(1, 1, 1, 1), u8(0, 0, 0, 0)); // image A: all wrong
  m.process(u8(0), u8(0));                   // image B: one right pixel
  const r = m.compute();
  close(r.iou[0]!, 1 / 5); close(r.iou[1]!, 0);
  close(r.miou, 0.1); // per-image mean would be ((0 + 0)/2 + 1)/2 = 0.5
  // Acc is recall over gt pixels: class 1 is never in gt, so its Acc is NaN although its IoU is 0 (as mmseg)
  close(r.acc[0]!, 1 / 5); assert.ok(Number.isNaN(r.acc[1]!));
  close(r.macc, 1 / 5); close(r.aacc, 1 / 5);
});

test('merge adds counts; reset clears; errors name what is wrong', () => {
  const a = new IoUMetric(2), b = new IoUMetric(2);
  a.process(u8(0, 1), u8(0, 1)); b.process(u8(1), u8(0));
  a.merge(b);
  assert.deepEqual([...a.hist], [1, 1, 0, 1]);
  a.reset(); assert.ok(a.hist.every((v) => v === 0));
  assert.throws(() => a.process(u8(0), u8(0, 0)), (e: unknown) => e instanceof DataError && /1 pixels but ground truth has 2/.test(e.message));
  assert.throws(() => a.process(u8(2), u8(1)), /predicted class 2 at pixel 0 is outside \[0, 2\)/);
  assert.doesNotThrow(() => a.process(u8(2), u8(255))); // ignored pixels are not checked, as in fast_hist
});

test('19-class protocol with the SYNTHIA 16/13 subsets', () => {
  const m = new IoUMetric(19);
  const gt = Uint8Array.from({ length: 19 }, (_, i) => i), pred = gt.slice();
  pred[9] = 0; // terrain (not in 16) predicted as road: road IoU 1/2, terrain 0
  pred[3] = 0; // wall (in 16, not in 13) predicted as road: road IoU 1/3, wall 0
  m.process(pred, gt);
  assert.equal(EVAL_SUBSETS.synthia16.length, 16); assert.equal(EVAL_SUBSETS.synthia13.length, 13);
  close(m.compute().miou, (1 / 3 + 16) / 19);
  close(m.compute(EVAL_SUBSETS.synthia16).miou, (1 / 3 + 14) / 16); // wall 0 counted, terrain excluded
  close(m.compute(EVAL_SUBSETS.synthia13).miou, (1 / 3 + 12) / 13);
});

test('formatIoU prints IoU and Acc in percent with two decimals, one row per subset class, then mIoU, mAcc and aAcc each labelled', () => {
  const m = new IoUMetric(19);
  m.process(u8(0, 0, 1), u8(0, 1, 1)); // road: 1 of 1 found, IoU 1/2; sidewalk: 1 of 2 found, IoU 1/2
  const text = formatIoU(m.compute(EVAL_SUBSETS.synthia13), CITYSCAPES_CLASSES, 'cityscapes:val, 1 image, protocol 13');
  const lines = text.split('\n');
  assert.equal(lines.length, 1 + 2 + 13 + 4);
  assert.equal(lines[0], 'cityscapes:val, 1 image, protocol 13');
  assert.match(lines[1]!, /^class\s+IoU\s+Acc$/);
  assert.match(lines[3]!, /^road\s+50\.00\s+100\.00$/);
  assert.match(lines[4]!, /^sidewalk\s+50\.00\s+50\.00$/);
  assert.match(lines[5]!, /^building\s+nan\s+nan$/);
  assert.ok(!/terrain|wall/.test(text));
  // mIoU in the IoU column, mAcc and aAcc in the Acc column, each named and saying what it averages
  assert.deepEqual(lines.slice(17), [
    'mIoU            50.00          over 13 classes',
    'mAcc                    75.00  over 13 classes',
    'aAcc                    66.67',
  ]);
  assert.equal(lines[1], 'class' + ' '.repeat(8) + '     IoU     Acc', "the name column is as wide as 'traffic light'");
  assert.equal(formatIoU(m.compute(), CITYSCAPES_CLASSES).split('\n')[0], lines[1], 'no caption: the table starts with its header');
  assert.equal(pct(0.436849), '43.68');
});
