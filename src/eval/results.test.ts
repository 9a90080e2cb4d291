// The JSON and CSV forms of an evaluation, by hand on a 3-class confusion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IoUMetric } from './metric.js';
import type { EvalResult } from './evaluate.js';
import { confusionCsv, confusionRows, evaluationJson, metricsCsv, perClassMetrics } from './results.js';

/** gt 0 0 1 1 2 255, pred 0 1 1 1 0 2: hist rows [1 1 0] [0 2 0] [1 0 0]; class 3 never seen. */
function result(protocolClasses?: number[]): EvalResult {
  const m = new IoUMetric(4);
  m.process(Uint8Array.from([0, 1, 1, 1, 0, 2]), Uint8Array.from([0, 0, 1, 1, 2, 255]));
  return { ...m.compute(protocolClasses), images: 2, protocol: 19, confusion: m.hist.slice() };
}
const NAMES = ['road', 'side, walk', 'say "hi"', '=cmd'];

test('evaluationJson: the names of clan eval --json, fractions, null for NaN, the confusion as rows (gt) of columns (prediction)', () => {
  const j = evaluationJson(result(), NAMES);
  // IoU: 1/3, 2/3, 0, NaN; Acc (diag / gt pixels): 1/2, 1, 0, NaN; aAcc 3/5; means over the non-NaN classes
  assert.deepEqual(j, {
    miou: (1 / 3 + 2 / 3 + 0) / 3, macc: (1 / 2 + 1 + 0) / 3, aacc: 3 / 5,
    per_class: [{ class: 'road', iou: 1 / 3, acc: 1 / 2 }, { class: 'side, walk', iou: 2 / 3, acc: 1 }, { class: 'say "hi"', iou: 0, acc: 0 },
      { class: '=cmd', iou: null, acc: null }],
    protocol: 19, classes: NAMES, images: 2, pixels: 5,
    confusion: [[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]],
  });
  assert.deepEqual(JSON.parse(JSON.stringify(j)), j, 'plain JSON: no NaN, no typed arrays');
  const sub = evaluationJson(result([1, 3]), NAMES);
  assert.deepEqual([sub.classes, sub.miou, sub.macc], [['side, walk', '=cmd'], 2 / 3, 1], 'miou/macc over the protocol classes only');
  assert.equal(sub.aacc, 3 / 5, 'aacc counts every labelled pixel whatever the protocol');
  assert.deepEqual(perClassMetrics(result(), NAMES), j.per_class);
  assert.throws(() => evaluationJson(result(), NAMES.slice(1)), /3 class names for an evaluation of 4 classes/);
  assert.throws(() => confusionRows({ confusion: new Float64Array(5) }, 2), /5 counts are not 2×2/);
});

test('confusionCsv and metricsCsv: one header, a row per class, names quoted as RFC 4180, formula starts defused', () => {
  assert.equal(confusionCsv(result(), NAMES), [
    'gt\\pred,road,"side, walk","say ""hi""",\'=cmd',
    'road,1,1,0,0',
    '"side, walk",0,2,0,0',
    '"say ""hi""",1,0,0,0',
    '\'=cmd,0,0,0,0',
  ].join('\n') + '\n');
  assert.equal(metricsCsv(result(), NAMES), [
    'class,iou,acc',
    `road,${1 / 3},0.5`, `"side, walk",${2 / 3},1`, '"say ""hi""",0,0', '\'=cmd,,',
    'mIoU,0.3333333333333333,', `mAcc,,0.5`, 'aAcc,,0.6',
  ].join('\n') + '\n');
});
