// predictImage with an inference spec: the label is the spec's (inferLabels), the disagreement map the eval-size pass's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { decodeRgb, readBytes } from '../data/image.js';
import { sharedFixtures } from '../data/data.testing.js';
import { defaultPalette, type InferenceModel } from './model.js';
import { predictImage } from './predict.js';
import { inferLabels, type InferenceSpec } from './inference.js';
import { INFER_IMAGE, microModel } from './infer.testing.js';

test('predictImage(…, spec): labels of the spec at the image size, M unchanged, nothing left allocated', (t) => {
  const dir = sharedFixtures(t); if (!dir) return;
  const img = decodeRgb(readBytes(join(dir, INFER_IMAGE)), INFER_IMAGE);
  const G = microModel();
  const m: InferenceModel = { G, path: 'micro19', backbone: 'micro', numClasses: 19, classNames: [], palette: defaultPalette(19),
    normalize: 'caffe', evalSize: [128, 64], step: null, config: null };
  try {
    const live = torch.memoryStats().live;
    const plain = predictImage(m, img);
    const spec: InferenceSpec = { mode: 'slide', crop: [64, 48], stride: [48, 32], scales: [0.75, 1.25], flip: true };
    const aug = predictImage(m, img, 'x', spec);
    assert.equal(torch.memoryStats().live, live);
    const want = torch.tidy(() => inferLabels(G, img, spec, { evalSize: [128, 64], normalize: 'caffe', out: [128, 256] }).to('uint8').toTypedArray<'uint8'>());
    assert.deepEqual(aug.label, want);
    assert.deepEqual(aug.disagreement, plain.disagreement);
    assert.deepEqual([aug.width, aug.height], [256, 128]);
    let differ = 0;
    for (let i = 0; i < want.length; i++) if (aug.label[i] !== plain.label[i]) differ++;
    assert.ok(differ > 100, `the spec changes the labels (${differ} pixels)`);
    assert.throws(() => predictImage(m, img, 'x', { mode: 'slide' }), /--mode slide needs --crop WxH/);
  } finally { G.dispose(); }
});
