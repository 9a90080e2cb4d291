// The transformer decode heads against their PyTorch twins (tools/reference/mit_parity.py): DAFormer's context-aware
// fusion head and SegFormer's all-MLP head in eval mode and in train mode (BN batch statistics, Dropout2d drawn from
// the same seeded generator), and HRDA's scale-attention fusion with and without a detail crop: logits in full, the
// gradients of a scalar loss w.r.t. every input map, and the state-dict names.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { loadFixture } from '../torch/torch.testing.js';
import { DAFormerHead, SegFormerHead } from './heads.js';
import { HrdaHead, type CropBox } from './hrda.js';
import { assertNear, assertSummary, drawState, hashed, hashedLoss, type Summary } from './models.testing.js';

interface HeadRun { input_grads: Summary[]; running_mean?: Summary }
interface HeadRecord { state_dict: [string, number[]][]; eval: HeadRun; train: HeadRun }
interface HrdaRun { lr_grads: Summary[]; hr_grads: Summary[] }
interface Heads {
  num_classes: number; feature_salt: number; hr_feature_salt: number; feature_bound: number;
  daformer: HeadRecord; segformer: HeadRecord; hrda: { state_dict: [string, number[]][]; box: CropBox; crop: HrdaRun; full: HrdaRun };
}
const ex = loadFixture<{ heads: Heads }>('mit/expected.json').heads;
const CHANNELS = [64, 128, 320, 512];

function reference(t: TestContext): Map<string, HostTensor> | undefined {
  const path = fixturePath('mit/heads.safetensors');
  if (existsSync(path)) return readSafetensorsFile(path).tensors;
  const msg = `fixture ${path} missing (run tools/reference/mit_parity.py)`;
  if (process.env.CI === 'true') assert.fail(msg);
  t.skip(msg);
  return undefined;
}

/** The twin's head_inputs: batch 2, the wide MiT's channels, hashed maps of the given sizes, requiring grad. */
function features(salt0: number, sizes: number[]): torch.Tensor[] {
  return CHANNELS.map((c, i) => hashed([2, c, sizes[i]!, sizes[i]!], salt0 + i, ex.feature_bound).requiresGrad_(true));
}

type Head = DAFormerHead | SegFormerHead;
/** One run of mit_parity.py run_head: eval, or train mode after manualSeed(seed). */
function runHead(head: Head, ref: Map<string, HostTensor>, key: string, rec: HeadRun, seed?: number): void {
  torch.tidy(() => {
    head.train(seed !== undefined);
    const xs = features(ex.feature_salt, [16, 8, 4, 2]);
    if (seed !== undefined) torch.manualSeed(seed);
    const y = head.forward(xs);
    assertNear(y, torch.fromHost(ref.get(key)!), `${key} logits`);
    hashedLoss([y], 4000).backward();
    xs.forEach((x, i) => assertSummary(x.grad!, rec.input_grads[i]!, `${key} d/dx${i}`));
    if (rec.running_mean) {
      const name = head instanceof DAFormerHead ? 'fuse_layer.bottleneck.bn.running_mean' : 'linear_fuse.bn.running_mean';
      assertSummary(new Map(head.namedBuffers()).get(name)!, rec.running_mean, `${key} ${name} after one BN update`);
    }
  });
  for (const p of head.parameters()) p.grad = null;
}

for (const kind of ['daformer', 'segformer'] as const) {
  test(`${kind} head = the PyTorch twin: names, logits and input gradients, eval and train mode (BN, Dropout2d)`, (t) => {
    const ref = reference(t);
    if (!ref) return;
    const rec = ex[kind];
    torch.manualSeed(0);
    const head = kind === 'daformer' ? new DAFormerHead(CHANNELS, ex.num_classes) : new SegFormerHead(CHANNELS, ex.num_classes);
    try {
      assert.deepEqual([...head.stateDict()].map(([k, v]) => [k, v.shape]), rec.state_dict, 'state-dict names, order, shapes');
      drawState(head);
      runHead(head, ref, `${kind}.eval`, rec.eval);
      runHead(head, ref, `${kind}.train`, rec.train, 21);
    } finally { head.dispose(); }
  });
}

test('HRDA head = the twin: fused, context and detail logits and the gradients of both inputs, with and without a crop', (t) => {
  const ref = reference(t);
  if (!ref) return;
  const h = ex.hrda;
  torch.manualSeed(0);
  const head = new HrdaHead(CHANNELS, ex.num_classes);
  try {
    assert.deepEqual([...head.stateDict()].map(([k, v]) => [k, v.shape]), h.state_dict, 'state-dict names, order, shapes');
    drawState(head);
    head.eval();
    for (const [key, box, sizes] of [['crop', h.box, [16, 8, 4, 2]], ['full', undefined, [32, 16, 8, 4]]] as const) {
      torch.tidy(() => {
        const lr = features(ex.feature_salt, [16, 8, 4, 2]);
        const hr = features(ex.hr_feature_salt, [...sizes]);
        const out = head.forward(lr, hr, box);
        for (const n of ['fused', 'lr', 'hr'] as const) assertNear(out[n], torch.fromHost(ref.get(`hrda.${key}.${n}`)!), `${key} ${n}`);
        hashedLoss([out.fused, out.lr, out.hr], 5000).backward();
        lr.forEach((x, i) => assertSummary(x.grad!, h[key].lr_grads[i]!, `${key} d/dlr${i}`));
        hr.forEach((x, i) => assertSummary(x.grad!, h[key].hr_grads[i]!, `${key} d/dhr${i}`));
      });
      for (const p of head.parameters()) p.grad = null;
    }
  } finally { head.dispose(); }
});

test('HRDA with a crop: outside the detail box the fused logits are the upsampled context logits alone', () => {
  torch.manualSeed(1);
  const head = new HrdaHead(CHANNELS, 3);
  try {
    head.eval();
    torch.tidy(() => torch.noGrad(() => {
      const lr = CHANNELS.map((c, i) => torch.randn([1, c, 16 >> i, 16 >> i]));
      const hr = CHANNELS.map((c, i) => torch.randn([1, c, 16 >> i, 16 >> i]));
      const { fused, lr: lrSeg, hr: hrSeg } = head.forward(lr, hr, [0, 64, 64, 128]); // the right half of a 128×128 image
      assert.deepEqual([fused.shape, lrSeg.shape, hrSeg.shape], [[1, 3, 32, 32], [1, 3, 16, 16], [1, 3, 16, 16]]);
      const up = torch.F.interpolate(lrSeg, [32, 32], { alignCorners: false });
      // columns 0…13 of the 32-wide map: their bilinear taps all lie left of the box's 8 context columns
      assert.ok(fused.slice(3, 0, 14).equal(up.slice(3, 0, 14)), 'left of the crop: context only');
      assert.ok(!fused.slice(3, 16, 32).equal(up.slice(3, 16, 32)), 'inside the crop the detail logits take part');
      assert.throws(() => head.forward(lr, hr, [0, 64, 0, 48]), /hrda: a 16×16 crop does not fit box \[0, 16, 0, 12\] of a 32×32 map/);
    }));
  } finally { head.dispose(); }
});
