// `clan convert --from mmseg` end to end (infer/mmseg.ts) on checkpoints in the official layouts, nesting and dtypes
// (test/fixtures/mmseg/*.pth from tools/reference/make_mmseg_fixtures.py, tiny widths: networks of those widths are
// passed in as the registry), and what `clan eval` reads back from a converted file (infer/model.ts): ImageNet
// normalisation, the config's test size and slide mode, the class names, an HRDA network that runs that mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { readPth } from '../io/pth.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.js';
import { sealedMetadata } from '../io/checkpoint.js';
import { fixturePath } from '../util/paths.js';
import { CheckpointError, UsageError } from '../util/errors.js';
import { HRDA_OFFICIAL, type MitSpec } from '../models/backbones.js';
import { MitSegmentor } from '../models/segformer.js';
import { HrdaSegmentor } from '../models/hrda-segmentor.js';
import { createSegmentor } from '../models/registry.js';
import { convertMmseg, formatMmsegReport, type NetworkRegistry } from './mmseg.js';
import { loadInferenceModel } from './model.js';
import { inferLabels, passLogits, slideLogits } from './inference.js';

const TINY: Omit<MitSpec, 'numClasses' | 'decoder'> = {
  arch: 'mit', mit: { embedDims: [4, 8, 8, 8], numHeads: [1, 1, 1, 1], depths: [1, 1, 1, 1], srRatios: [8, 4, 2, 1], mlpRatio: 4, dropPathRate: 0.1 }, decodeWidth: 8,
};
const SPECS: Record<string, Omit<MitSpec, 'numClasses'>> = { 'tiny-mit': { ...TINY, decoder: 'daformer' }, 'hrda-tiny-mit': { ...TINY, decoder: 'hrda', hrda: HRDA_OFFICIAL } };
const networks: NetworkRegistry = {
  names: () => Object.keys(SPECS), get: (n) => SPECS[n]!,
  create: (n, k) => (SPECS[n]!.decoder === 'hrda' ? new HrdaSegmentor({ ...SPECS[n]!, numClasses: k }) : new MitSegmentor({ ...SPECS[n]!, numClasses: k })),
};
const fx = (name: string) => fixturePath(`mmseg/${name}`);

function sameValues(a: HostTensor, b: HostTensor, what: string): void {
  assert.deepEqual([a.dtype, a.shape], [b.dtype, b.shape], `${what}: dtype and shape`);
  assert.deepEqual(Array.from(a.data as ArrayLike<number | bigint>), Array.from(b.data as ArrayLike<number | bigint>), `${what}: values`);
}

function withTmp(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'clan-mmseg-'));
  try { fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
}

test('DAFormer and HRDA training checkpoints → our weights: model.* (or ema_model.*) value for value, the config\'s evaluation, CLASSES and PALETTE', () => withTmp((dir) => {
  for (const [file, backbone, decoder] of [['daformer_tiny.pth', 'tiny-mit', 'daformer'], ['hrda_tiny.pth', 'hrda-tiny-mit', 'hrda']] as const) {
    const src = readPth(fx(file));
    for (const part of ['model', 'ema_model'] as const) {
      const out = join(dir, `${file}.${part}.safetensors`);
      const r = convertMmseg(fx(file), out, { networks, ...(part === 'model' ? {} : { part }) });
      const seg = [...src.keys()].filter((k) => k.startsWith(`${part}.`));
      assert.deepEqual([r.layout, r.part, r.decoder, r.backbone, r.num_classes, r.mapped, r.missing], ['uda', part, decoder, backbone, 4, seg.length, []]);
      assert.equal(r.skipped.length, 2 * seg.length, 'the other two networks');
      const st = readSafetensorsFile(out);
      assert.equal(st.tensors.size, seg.length);
      for (const k of seg) sameValues(st.tensors.get(`G.${k.slice(part.length + 1)}`)!, src.get(k)!, `${file} ${k}`);
      assert.deepEqual(r.class_names, ['road', 'sidewalk', 'building', 'wall']);
      const md = st.metadata;
      assert.deepEqual([md.format, md.backbone, md.num_classes, md.source, md.layout, md.part, md.normalize], ['clan-weights', backbone, '4', 'mmseg', 'uda', part, 'imagenet']);
      assert.equal(md.palette, '[[128,64,128],[244,35,232],[70,70,70],[102,102,156]]');
      // the fixtures' configs: DAFormer's asks for slide 512×512 every 341 at 1024×512; HRDA's is the official one
      const ev = decoder === 'hrda' ? ['2048x1024', '{"mode":"slide","crop":[1024,1024],"stride":[512,512]}'] : ['1024x512', '{"mode":"slide","crop":[512,512],"stride":[341,341]}'];
      assert.deepEqual([md.eval_size, md.inference, r.eval.from], [...ev, 'config']);
    }
    // ema_model = model + 1 in the fixture: the part taken is visible in the values (a tensor the fixture's AdamW step left alone)
    const k = 'backbone.block1.0.attn.q.weight';
    const a = readSafetensorsFile(join(dir, `${file}.model.safetensors`)).tensors.get(`G.${k}`)!.data as Float32Array;
    const b = readSafetensorsFile(join(dir, `${file}.ema_model.safetensors`)).tensors.get(`G.${k}`)!.data as Float32Array;
    assert.ok(Math.abs(b[0]! - a[0]! - 1) < 1e-6);
  }
}));

test('a legacy-format checkpoint without meta (state_dict only) gets HRDA\'s official evaluation; overrides win', () => withTmp((dir) => {
  const out = join(dir, 'mic.safetensors');
  const r = convertMmseg(fx('mic_tiny.pth'), out, { networks });
  assert.deepEqual([r.backbone, r.eval.from, r.eval.evalSize, r.eval.inference], ['hrda-tiny-mit', 'official', [2048, 1024], { mode: 'slide', crop: [1024, 1024], stride: [512, 512] }]);
  assert.equal(r.class_names, undefined);
  assert.equal(readSafetensorsFile(out).metadata.class_names, undefined, 'no CLASSES: the defaults apply when it is read');
  const text = formatMmsegReport(r).split('\n');
  assert.match(text[0]!, /mic_tiny\.pth \(mmseg uda, model\) → .*mic\.safetensors \[backbone hrda-tiny-mit, 4 classes\]$/);
  assert.equal(text[1], `G: ${r.mapped} mapped, 0 missing, ${r.skipped.length} skipped`);
  assert.equal(text[2], 'eval: imagenet normalisation, 2048x1024, slide 1024x1024 every 512x512 (from the official gta2cs config)');
  const o = convertMmseg(fx('mic_tiny.pth'), out, { networks, evalSize: [1024, 512], inference: { mode: 'whole' } });
  assert.deepEqual([o.eval.evalSize, o.eval.inference], [[1024, 512], { mode: 'whole' }]);
  assert.match(formatMmsegReport(o), /\neval: imagenet normalisation, 1024x512, whole \(from the official gta2cs config\)/);
}));

test('SegFormer\'s ImageNet encoder → backbone.* of tiny-mit, head.* dropped, the decode head missing (an --init file)', () => withTmp((dir) => {
  const out = join(dir, 'mit.safetensors');
  const r = convertMmseg(fx('mit_tiny.pth'), out, { networks });
  assert.deepEqual([r.layout, r.decoder, r.backbone, r.num_classes, r.skipped], ['mit-imagenet', 'none', 'tiny-mit', 19, ['head.weight', 'head.bias']]);
  assert.ok(r.missing.length > 0 && r.missing.every((k) => k.startsWith('decode_head.')));
  assert.match(r.notes.join(' '), /use the file as --init, not for clan eval/);
  const src = readPth(fx('mit_tiny.pth'));
  const st = readSafetensorsFile(out);
  for (const [k, t] of src) if (!k.startsWith('head.')) sameValues(st.tensors.get(`G.backbone.${k}`)!, t, k);
  assert.match(st.metadata.missing!, /^decode_head\.\* \(\d+\)$/);
  const hr = convertMmseg(fx('mit_tiny.pth'), out, { networks, backbone: 'hrda-tiny-mit', numClasses: 4 });
  assert.deepEqual([hr.backbone, hr.num_classes], ['hrda-tiny-mit', 4], 'the same encoder under HRDA\'s network');
}));

test('what does not convert says why in one line', () => withTmp((dir) => {
  const out = join(dir, 'x.safetensors');
  const fails = (f: () => unknown, cls: typeof CheckpointError | typeof UsageError, re: RegExp) =>
    assert.throws(f, (e: unknown) => e instanceof cls && re.test((e as Error).message) && !(e as Error).message.includes('\n'), re.source);
  fails(() => convertMmseg(fixturePath('official/torchvision_resnet.pth'), out, { networks }), CheckpointError, /not an mmseg MiT checkpoint: expected patch_embed1\.proj\.weight/);
  fails(() => convertMmseg(fx('mic_tiny.pth'), out, { networks, part: 'imnet_model' }), CheckpointError, /has no imnet_model\.\* network; it holds model, ema_model/);
  fails(() => convertMmseg(fx('mit_tiny.pth'), out, { networks, part: 'ema_model' }), UsageError, /--part picks a network of a DAFormer\/HRDA\/MIC checkpoint .*an ImageNet encoder/);
  fails(() => convertMmseg(fx('hrda_tiny.pth'), out, { networks, numClasses: 19 }), UsageError, /has a 4-class head but --num-classes is 19; pass --num-classes 4/);
  fails(() => convertMmseg(fx('hrda_tiny.pth'), out), CheckpointError, /no registered HRDA network has stage widths \[4,8,8,8\], depths \[1,1,1,1\]/);
  fails(() => convertMmseg(fx('hrda_tiny.pth'), out, { networks, backbone: 'tiny-mit' }), CheckpointError, /does not fit tiny-mit with 4 classes: unexpected decode_head\.head\.\* \(\d+\), decode_head\.scale_attention\.\* \(\d+\); missing decode_head\.conv_seg\.\* \(2\)/);
  fails(() => convertMmseg(fx('hrda_tiny.pth'), join(dir, 'x.pth'), { networks }), UsageError, /OUT must end in \.safetensors/);
}));

test('clan eval reads a converted HRDA checkpoint as its config runs it: ImageNet normalisation, 2048×1024, slide; HRDA\'s network runs that mode', () => withTmp((dir) => {
  torch.manualSeed(0);
  const G = createSegmentor('hrda-mit-b0', 4);
  const tensors = new Map([...G.stateDict()].map(([k, t]) => [`G.${k}`, t.toHost()] as const));
  G.dispose();
  const path = join(dir, 'hrda.safetensors');
  const meta = { format: 'clan-weights', backbone: 'hrda-mit-b0', num_classes: '4', source: 'mmseg', converted_from: 'hrda.pth', layout: 'uda', part: 'model',
    normalize: 'imagenet', eval_size: '2048x1024', inference: '{"mode":"slide","crop":[1024,1024],"stride":[512,512]}', class_names: '["a","b","c","d"]' };
  writeSafetensorsFile(path, tensors, sealedMetadata(tensors, meta));
  const m = loadInferenceModel(path);
  try {
    assert.ok(m.G instanceof HrdaSegmentor);
    assert.deepEqual([m.normalize, m.evalSize, m.inference, m.classNames], ['imagenet', [2048, 1024], { mode: 'slide', crop: [1024, 1024], stride: [512, 512] }, ['a', 'b', 'c', 'd']]);
    assert.equal(m.palette.length, 4);
    // the same mode at a small scale: 128×64 windows every 64×32 over a 256×128 input (context 0.5, detail windows inside)
    const img = { width: 256, height: 128, data: new Uint8Array(256 * 128 * 3).map((_, i) => (i * 37) % 256) };
    const labels = torch.tidy(() => torch.keep(inferLabels(m.G, img, { mode: 'slide', crop: [128, 64], stride: [64, 32] }, { evalSize: [256, 128], normalize: m.normalize, out: [128, 256] })));
    assert.equal(labels.numel, 128 * 256);
    assert.ok(labels.max().item() < 4 && labels.min().item() >= 0);
    labels.dispose();
    // slide logits are brought to the output size as mmseg does for this network (align_corners False)
    torch.tidy(() => torch.noGrad(() => {
      const x = torch.randn([1, 3, 64, 128]);
      const want = torch.F.interpolate(slideLogits(m.G, x, [64, 64], [64, 64]), [48, 100], { alignCorners: false });
      assert.ok(passLogits(m.G, x, { mode: 'slide', crop: [64, 64], stride: [64, 64] }, [48, 100]).equal(want));
    }));
  } finally { m.G.dispose(); }
  // each entry is checked, in one line naming it
  for (const [key, value, re] of [['normalize', 'bgr', /metadata normalize "bgr": expected caffe or imagenet/], ['eval_size', '2048*1024', /metadata eval_size "2048\*1024": expected WxH/],
    ['inference', '{"mode":"slide"}', /metadata inference .*expected an inference mode \(--mode slide needs --crop WxH/], ['class_names', '["a"]', /metadata class_names .*expected 4 names/],
    ['palette', '[[0,0,0]]', /metadata palette .*expected 4 \[r, g, b\] colours/], ['inference', '{', /metadata inference "\{": expected JSON/]] as const) {
    const p = join(dir, `bad-${key}.safetensors`);
    writeSafetensorsFile(p, tensors, sealedMetadata(tensors, { ...meta, [key]: value }));
    assert.throws(() => loadInferenceModel(p), (e: unknown) => e instanceof CheckpointError && re.test((e as Error).message), `${key} ${value}`);
  }
}));
