// HRDA's network against its PyTorch twin (tools/reference/hrda_parity.py, fixtures in test/fixtures/hrda/): the
// hashed hrda-mit-b0 in eval mode — the test-time forward (context + nine sliding detail windows, decode_hr, fusion)
// and the training forward at a fixed crop — plus the geometry of crops and windows, and what the Segmentor seams
// (parameter groups, evaluation's up(x1 + x2), mmseg's slide mode) see of it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { loadFixture } from '../torch/torch.testing.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { fixturePath } from '../util/paths.js';
import { createSegmentor } from './registry.js';
import { BACKBONES, isMit } from './backbones.js';
import { HrdaSegmentor } from './hrda-segmentor.js';
import { MitSegmentor } from './segformer.js';
import { predictLogits } from './segmentor.js';
import { assertNear, drawState, hashed, namesDigest } from './models.testing.js';
import type { CropBox } from './hrda.js';

interface Network { input_salt: number; box: CropBox; windows: CropBox[]; names_sha256: string; keys: number }
const ex = loadFixture<{ config: { num_classes: number; batch: number; size: [number, number] }; network: Network }>('hrda/expected.json');
const ref = readSafetensorsFile(fixturePath('hrda/network.safetensors')).tensors;

function drawn(): HrdaSegmentor {
  torch.manualSeed(0);
  const G = createSegmentor('hrda-mit-b0', ex.config.num_classes);
  assert.ok(G instanceof HrdaSegmentor);
  drawState(G);
  return G.eval();
}

test('hrda-mit-b0 = the twin in eval mode: the test-time forward (sliding detail windows) and the training forward at a crop, within 1e-5', () => {
  const G = drawn();
  const [n, [h, w]] = [ex.config.batch, ex.config.size];
  try {
    assert.equal(G.stateDict().size, ex.network.keys);
    assert.equal(namesDigest(G), ex.network.names_sha256, 'names, order and shapes of HRDAEncoderDecoder\'s state dict');
    assert.deepEqual(G.detailWindows(h, w), ex.network.windows, 'HRDA\'s slide grid: 32×32 windows every 16 pixels');
    torch.tidy(() => torch.noGrad(() => {
      const x = hashed([n, 3, h, w], ex.network.input_salt, 2);
      const [fused, zeros] = G.forward(x);
      assertNear(fused, torch.fromHost(ref.get('test.fused')!), 'test-time fused logits');
      assert.equal(zeros.abs().sum().item(), 0, 'x2 is a zero map');
      const out = G.forwardTrain(x, ex.network.box);
      for (const k of ['fused', 'lr', 'hr'] as const) assertNear(out[k], torch.fromHost(ref.get(`train.${k}`)!), `training ${k}`);
      // evaluation's logits are up(x1 + x2) at the image size, align_corners False (mmseg's encode_decode)
      const up = torch.F.interpolate(fused, [h, w], { alignCorners: false });
      assert.ok(predictLogits(G, x, [h, w]).equal(up));
    }));
  } finally { G.dispose(); }
});

test('hrda: crops and windows fall on multiples of 8 inside the image; the random crop is torch-seeded', () => {
  const G = createSegmentor('hrda-mit-b0', 3) as HrdaSegmentor;
  try {
    assert.deepEqual(G.detailSize(1024, 1024), [512, 512], 'HRDA: 512 of 1024');
    assert.deepEqual(G.detailSize(64, 96), [32, 48]);
    assert.deepEqual(G.detailSize(8, 16), [8, 8], 'at least one step of 8');
    const seen = new Set<string>();
    torch.manualSeed(5);
    for (let k = 0; k < 40; k++) {
      const [y1, y2, x1, x2] = G.randomDetailBox(64, 96);
      assert.ok(y1 % 8 === 0 && x1 % 8 === 0 && y2 - y1 === 32 && x2 - x1 === 48 && y2 <= 64 && x2 <= 96, `box ${[y1, y2, x1, x2]}`);
      // get_crop_bbox: offsets k·8 for k < ⌊(margin + 1)/8⌋, so the last offset (margin 32 → 32, 48 → 48) never occurs
      assert.ok(y1 <= 24 && x1 <= 40, `box ${[y1, y2, x1, x2]} reaches the bottom/right border`);
      seen.add(`${y1},${x1}`);
    }
    assert.ok(seen.size > 8, `the crop moves (${seen.size} positions in 40 draws)`);
    torch.manualSeed(5);
    const again = G.randomDetailBox(64, 96);
    torch.manualSeed(5);
    const [ry, rx] = [torch.randint(0, 4, [1]).item(), torch.randint(0, 6, [1]).item()];
    assert.deepEqual(again, [ry * 8, ry * 8 + 32, rx * 8, rx * 8 + 48], 'rows then columns, one torch.randint each');
    assert.deepEqual(G.randomDetailBox(16, 16), [0, 8, 0, 8], 'margin 8: ⌊9/8⌋ = 1 offset');
    // windows cover the image with overlap, the last pulled back to the border (mmseg's grid)
    assert.deepEqual(G.detailWindows(64, 96).length, 9);
    assert.deepEqual(G.detailWindows(64, 96).at(-1), [32, 64, 48, 96]);
    assert.throws(() => torch.tidy(() => G.forward(torch.zeros([1, 3, 60, 64]))), /hrda: input 64×60: width and height must be multiples of 8/);
  } finally { G.dispose(); }
});

test('hrda networks: registered on every MiT, HRDAEncoderDecoder\'s names, one classifier, both heads in the 10× group', () => {
  for (const b of ['b0', 'b1', 'b2', 'b3', 'b4', 'b5']) {
    const spec = BACKBONES.get(`hrda-mit-${b}`);
    assert.ok(isMit(spec) && spec.decoder === 'hrda' && spec.hrda?.detailCrop === 0.5 && spec.hrda.scales.join() === '0.5,1', b);
  }
  const G = createSegmentor('hrda-mit-b0', 19) as HrdaSegmentor;
  const M = createSegmentor('mit-b0', 19) as MitSegmentor;
  try {
    const keys = [...G.stateDict().keys()];
    const mit = [...M.stateDict().keys()];
    assert.deepEqual(keys.filter((k) => k.startsWith('backbone.')), mit.filter((k) => k.startsWith('backbone.')), 'the same backbone');
    const head = mit.filter((k) => k.startsWith('decode_head.')).map((k) => k.replace('decode_head.', 'decode_head.head.'));
    assert.deepEqual(keys.filter((k) => k.startsWith('decode_head.head.')), head, 'decode_head.head is DAFormer\'s head');
    assert.ok(keys.includes('decode_head.scale_attention.fuse_layer.conv.weight') && !keys.includes('decode_head.conv_seg.weight'));
    assert.ok(G.singleHead && G.alignCorners === false);
    const [c1, c2] = G.classifierParameters();
    assert.equal(c1.length, 2); assert.equal(c2.length, 0);
    const nHead = G.headParameters().length, nBack = G.backboneParameters().length;
    assert.equal(nHead + nBack, G.parameters().length, 'every parameter in one of the two groups');
    assert.equal(nHead, G.decodeHead.parameters().length);
    assert.ok(G.noWeightDecay('backbone.block1.0.norm1.weight') && !G.noWeightDecay('decode_head.head.fuse_layer.bottleneck.bn.weight'));
    const R = G.replica();
    assert.ok(R instanceof HrdaSegmentor && R.stateDict().size === G.stateDict().size);
    R.dispose();
  } finally { G.dispose(); M.dispose(); }
});
