// mmseg-era key layouts (io/mmseg.ts) against the official names and shapes (test/fixtures/mmseg/keys.json, written by
// tools/reference/make_mmseg_fixtures.py from the twins of mix_transformer.py, daformer_head.py and hrda_head.py):
// SegFormer's mit_b5.pth onto mit-b5, DAFormer's and HRDA's mit-b5 training checkpoints (model.*, ema_model.*,
// imnet_model.*) onto mit-b5 and hrda-mit-b5, 1:1; the config text → the evaluation set-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadFixture } from '../torch/torch.testing.js';
import { createSegmentor } from '../models/registry.js';
import { expectedShapes, type Shaped } from './official.js';
import { describeMmseg, fromMmseg, mmsegEvalDefaults, mmsegLayout, mmsegMeta } from './mmseg.js';

type KeyList = [string, number[]][];
const keys = loadFixture<{ mit_b5: KeyList; daformer_head: KeyList; hrda_head: KeyList }>('mmseg/keys.json');
const stubs = (rows: KeyList): Map<string, Shaped> => new Map(rows.map(([k, s]) => [k, { shape: s }]));
const prefixed = (rows: KeyList, p: string): KeyList => rows.map(([k, s]) => [`${p}${k}`, s]);
const backbone = prefixed(keys.mit_b5.filter(([k]) => !k.startsWith('head.')), 'backbone.');
/** A DACS training checkpoint's state_dict: model.*, ema_model.*, imnet_model.* (DAFormer/HRDA/MIC). */
const udaOf = (seg: KeyList): Map<string, Shaped> => stubs(['model.', 'ema_model.', 'imnet_model.'].flatMap((p) => prefixed(seg, p)));

function expectedOf(name: string): Map<string, number[]> {
  const G = createSegmentor(name, 19);
  try { return expectedShapes(G.stateDict()); } finally { G.dispose(); }
}
const counter = (k: string) => k.endsWith('num_batches_tracked');

test('SegFormer\'s mit_b5.pth (a bare encoder + ImageNet head) → mit-b5\'s backbone.*, head dropped, the decode head missing', () => {
  const sd = stubs(keys.mit_b5);
  assert.equal(mmsegLayout(sd.keys()), 'mit-imagenet');
  assert.deepEqual(describeMmseg(sd), { layout: 'mit-imagenet', parts: [], decoder: 'none', embedDims: [64, 128, 320, 512], depths: [3, 6, 40, 3], srRatios: [8, 4, 2, 1] });
  const ex = expectedOf('mit-b5');
  const m = fromMmseg(sd, ex);
  assert.equal(m.mapped.size, keys.mit_b5.length - 2, 'every encoder tensor');
  assert.deepEqual([m.unexpected, m.shapeMismatch, m.skipped], [[], [], ['head.weight', 'head.bias']]);
  assert.ok(m.missing.length > 0 && m.missing.every((k) => k.startsWith('decode_head.')), 'only the decode head is missing');
  assert.deepEqual([...m.mapped.keys()], [...ex.keys()].filter((k) => k.startsWith('backbone.')), 'in state-dict order');
  assert.match(m.notes.join(' '), /ImageNet classifier/);
  // the same encoder into HRDA's network: its backbone is the same
  const h = fromMmseg(sd, expectedOf('hrda-mit-b5'));
  assert.equal(h.mapped.size, m.mapped.size);
  assert.ok(h.missing.every((k) => k.startsWith('decode_head.head.') || k.startsWith('decode_head.scale_attention.')));
});

test('DAFormer\'s and HRDA\'s mit-b5 training checkpoints map 1:1 onto mit-b5 / hrda-mit-b5 (model.* by default, or the EMA teacher)', () => {
  for (const [name, head, decoder] of [['mit-b5', keys.daformer_head, 'daformer'], ['hrda-mit-b5', keys.hrda_head, 'hrda']] as const) {
    const seg = [...backbone, ...head];
    const sd = udaOf(seg);
    const d = describeMmseg(sd);
    assert.deepEqual(d, { layout: 'uda', parts: ['model', 'ema_model', 'imnet_model'], decoder, embedDims: [64, 128, 320, 512], depths: [3, 6, 40, 3], srRatios: [8, 4, 2, 1], numClasses: 19 });
    const ex = expectedOf(name);
    assert.deepEqual([...ex].map(([k, s]) => [k, s]), seg, `${name}: our state dict = the official segmentor's, names, order and shapes`);
    for (const part of ['model', 'ema_model']) {
      const m = fromMmseg(sd, ex, part);
      assert.equal(m.mapped.size, seg.length, `${name} ${part}`);
      assert.deepEqual([m.missing, m.unexpected, m.shapeMismatch, m.defaultBuffers], [[], [], [], []]);
      assert.equal(m.skipped.length, 2 * seg.length, 'the other two networks');
      assert.ok(m.skipped.every((k) => !k.startsWith(`${part}.`)));
    }
    const notes = fromMmseg(sd, ex).notes.join(' | ');
    assert.match(notes, /ema_model\.\* \(the mean teacher.*pass part ema_model/);
    assert.match(notes, /imnet_model\.\* \(the frozen ImageNet encoder/);
    // an EncoderDecoder state dict (after mmseg's revise_keys) is 1:1 too; a 'module.' prefix changes nothing
    const plain = fromMmseg(stubs(prefixed(seg, 'module.')), ex);
    assert.equal(plain.mapped.size, seg.length);
    assert.ok(seg.some(([k]) => counter(k)), 'BN counters are part of the official names');
  }
  // the other network's head does not fit: the mapping says where
  const wrong = fromMmseg(udaOf([...backbone, ...keys.hrda_head]), expectedOf('mit-b5'));
  assert.ok(wrong.unexpected.some((k) => k.startsWith('model.decode_head.head.')) && wrong.missing.includes('decode_head.conv_seg.weight'));
});

test('layouts: what is not an mmseg MiT file is said so; SegFormer\'s head and unknown heads are recognised', () => {
  assert.equal(mmsegLayout(['layer1.0.conv1.weight', 'fc.weight']), undefined);
  assert.equal(mmsegLayout(['backbone.layer1.0.conv1.weight']), undefined, 'an mmseg ResNet is not a MiT');
  assert.equal(describeMmseg(udaOf(backbone), 'ema_teacher'), undefined, 'a part the file lacks');
  const segformer = stubs([...backbone, ['decode_head.linear_pred.weight', [19, 768, 1, 1]], ['decode_head.linear_c.0.proj.weight', [768, 64]]]);
  assert.equal(describeMmseg(segformer)?.decoder, 'segformer');
  assert.equal(describeMmseg(segformer)?.numClasses, 19);
  assert.equal(describeMmseg(stubs([...backbone, ['decode_head.conv_seg.weight', [19, 512, 1, 1]]]))?.decoder, 'unknown');
});

test('the evaluation set-up: read from the config text (test pipeline img_scale (W, H), test_cfg crop/stride (H, W)), else the official one', () => {
  const hrdaText = `model = dict(\n    type='HRDAEncoderDecoder',\n    test_cfg=dict(\n        mode='slide',\n        batched_slide=True,\n        stride=[512, 512],\n        crop_size=[1024, 1024]),\n    scales=[1, 0.5])\ntest_pipeline = [\n    dict(type='LoadImageFromFile'),\n    dict(\n        type='MultiScaleFlipAug',\n        img_scale=(2048, 1024),\n        flip=False)]\n`;
  assert.deepEqual(mmsegEvalDefaults('hrda', hrdaText), { normalize: 'imagenet', evalSize: [2048, 1024], inference: { mode: 'slide', crop: [1024, 1024], stride: [512, 512] }, from: 'config' });
  const tall = hrdaText.replace('crop_size=[1024, 1024]', 'crop_size=(768, 384)').replace('stride=[512, 512]', 'stride=(512, 256)');
  assert.deepEqual(mmsegEvalDefaults('hrda', tall).inference, { mode: 'slide', crop: [384, 768], stride: [256, 512] }, 'mmseg\'s (h, w) → our [W, H]');
  const whole = `test_cfg=dict(mode='whole')\ntest_pipeline = [dict(type='MultiScaleFlipAug', img_scale=(1024, 512), flip=False)]`;
  assert.deepEqual(mmsegEvalDefaults('daformer', whole), { normalize: 'imagenet', evalSize: [1024, 512], inference: { mode: 'whole' }, from: 'config' });
  assert.deepEqual(mmsegEvalDefaults('daformer'), { normalize: 'imagenet', evalSize: [1024, 512], inference: { mode: 'whole' }, from: 'official' });
  assert.deepEqual(mmsegEvalDefaults('hrda', 'no test set-up in here'), { normalize: 'imagenet', evalSize: [2048, 1024], inference: { mode: 'slide', crop: [1024, 1024], stride: [512, 512] }, from: 'official' });
  assert.deepEqual(mmsegMeta(new Map<string, never>([['meta.CLASSES', ['a', 'b'] as never], ['meta.PALETTE', [[1, 2, 3], [4, 5, 300]] as never], ['meta.config', 'x' as never]])),
    { classNames: ['a', 'b'], config: 'x' }, 'a colour out of range: no palette');
});
