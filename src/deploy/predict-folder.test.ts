// clan predict's low-memory path: labels and M's colour indices taken band by band (infer/predict.ts predictBands +
// heatBand) and the four PNGs streamed a block of rows at a time (writeOutputs) give exactly the pictures of the whole
// path — predictImage's maps through colorize, overlay and heatmap — banded or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import * as torch from '../torch/index.js';
import { defaultPalette, type InferenceModel } from '../infer/model.js';
import { predictBands, predictImage } from '../infer/predict.js';
import { microModel } from '../infer/infer.testing.js';
import { colorize, heatmap, overlay } from '../report/png.js';
import type { RgbImage } from '../data/image.js';
import { DISAGREEMENT_KEY, DISAGREEMENT_MAX, heatBand, writeOutputs, type PredictedMaps } from './predict-folder.js';

function image(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (Math.sin(i * 0.013) * 100 + ((i * 31) % 97) + 60) & 255;
  return { data, width, height };
}

test('predict\'s streamed PNGs are the whole path\'s pictures, banded (3 and 30 columns) and not', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-predict-stream-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const G = microModel();
  const m: InferenceModel = { G, path: 'micro19', backbone: 'micro', numClasses: 19, classNames: ['background'], palette: defaultPalette(19),
    normalize: 'caffe', evalSize: [128, 64], step: null, config: null };
  try {
    const img = image(301, 157);
    const live = torch.memoryStats().live;
    for (const band of [undefined, 19 * 157 * 9, 19 * 157 * 90]) {
      const whole = predictImage(m, img, 'x', undefined, band);
      const heat = new Uint16Array(img.width * img.height);
      const bands: number[] = [];
      const label = predictBands(m, img, 'x', undefined, (M, x0, x1) => { bands.push(x1 - x0); heatBand(heat, M, img.width, x0, x1); }, band);
      assert.deepEqual(label, whole.label, `labels, band ${band}`);
      assert.equal(bands.reduce((a, b) => a + b, 0), img.width);
      if (band) assert.ok(bands.length > 1, `band ${band}: ${bands.length} bands`);
      const maps: PredictedMaps = { label, heat, width: img.width, height: img.height };
      const stem = join(dir, `b${band ?? 0}`);
      writeOutputs(stem, maps, img, m.palette, [0]);
      const read = (s: string) => decode(readFileSync(`${stem}_${s}.png`));
      const color = colorize(whole.label, img.width, img.height, m.palette);
      assert.deepEqual(read('label').data, whole.label);
      assert.deepEqual(read('color').data, color);
      assert.deepEqual(read('overlay').data, overlay(img.data, color, 0.5, { label: whole.label, classes: [0] }));
      const d = read('disagreement');
      assert.deepEqual(d.data, heatmap(whole.disagreement, img.width, img.height, { max: DISAGREEMENT_MAX }));
      assert.equal(d.text[DISAGREEMENT_KEY], String(DISAGREEMENT_MAX));
    }
    assert.equal(torch.memoryStats().live, live);
  } finally { G.dispose(); }
});
