// Train CLAN for a few steps on the built-in digitscapes data, then load the checkpoint, segment one image and
// evaluate on the validation split.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluate, loadModel, openDataset, train } from 'clan';

// The `cpu` preset (digitscapes, a tiny backbone), cut to 4 steps of 2 images and 4 validation images.
const run = await train({ extends: 'cpu', iters: 4, batchSize: 2, targetVal: { limit: 4 } }, {
  outDir: mkdtempSync(join(tmpdir(), 'clan-example-')),
  onStep: ({ step, iters, losses }) => console.log(`step ${step}/${iters}: seg loss ${losses.seg?.toFixed(4)}`),
});
console.log(`checkpoint ${run.checkpoint}`);

const model = await loadModel(run.checkpoint);
const val = openDataset('digitscapes:val');
const sample = val.load(0);                       // { name, image: { data, width, height }, label }
const pred = await model.predict(sample.image);   // a file path works too: model.predict('photo.png')
const truth = sample.label!.data;                 // class ids, 255 = ignore
let right = 0, counted = 0;
for (let i = 0; i < truth.length; i++) if (truth[i] !== 255) { counted++; if (pred.label[i] === truth[i]) right++; }
console.log(`image ${sample.name}: ${pred.width}x${pred.height}, ${(100 * right / counted).toFixed(1)}% of pixels right`);

const result = await evaluate(model, val, { limit: 8 });
console.log(`mIoU ${(100 * result.miou).toFixed(2)}% over ${result.images} images`);
for (const c of result.perClass) console.log(`  ${c.class.padEnd(10)} ${c.iou === null ? '-' : (100 * c.iou).toFixed(1)}`);
model.dispose();
