// Key mapping between official/DeepLab/torchvision weight files and our G/D (src/io/official.ts). Full-size name
// lists come from test/fixtures/clan/official_keys.json, test/fixtures/official/torchvision_keys.json and
// test/fixtures/vgg/expected.json; the small checkpoints and the PyTorch forward output from
// tools/reference/make_official_fixtures.py and tools/reference/vgg_parity.py.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { createSegmentor } from '../models/registry.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { fixturePath } from '../util/paths.js';
import { loadFixture } from '../torch/torch.testing.js';
import { readPth } from './pth.js';
import { readSafetensorsFile } from './safetensors.js';
import {
  TORCHVISION_BASIC_NOTE, TORCHVISION_NOTE, TORCHVISION_VGG_NOTE, describeBackbone, describeDiscriminator, detectSource,
  expectedShapes, fromDeeplabInit, fromOfficialClan, fromTorchvisionResnet, fromTorchvisionVgg, isDiscriminator, mapWeights,
  summarizeKeys, toOfficial, type Shaped,
} from './official.js';

type KeyList = [string, number[]][];
const official = loadFixture<{ G: KeyList; D: KeyList }>('clan/official_keys.json');
const stubs = (rows: KeyList, rename: (k: string) => string = (k) => k): Map<string, Shaped> =>
  new Map(rows.map(([k, s]) => [rename(k), { shape: s }]));
const shapesOf = (rows: KeyList): Map<string, number[]> => new Map(rows);
const isHead = (k: string): boolean => /^layer[56]\./.test(k);
const isCounter = (k: string): boolean => k.endsWith('num_batches_tracked');

/** Path of a test/fixtures/official file; skips (fails under CI=true) when the generator was not run. */
function fixture(t: TestContext, name: string): string | undefined {
  const path = fixturePath(`official/${name}`);
  if (existsSync(path)) return path;
  const msg = `fixture ${path} missing (run tools/reference/make_official_fixtures.py)`;
  if (process.env.CI === 'true') assert.fail(msg);
  t.skip(msg);
  return undefined;
}

function assertSameValues(a: HostTensor | torch.Tensor | undefined, b: HostTensor | undefined, what: string): void {
  assert.ok(a && b, `${what}: missing`);
  const x = a instanceof torch.Tensor ? a.toHost() : a;
  assert.deepEqual(x.shape, b.shape, `${what}: shape`);
  assert.equal(x.dtype, b.dtype, `${what}: dtype`);
  assert.deepEqual(Array.from(x.data as ArrayLike<number>), Array.from(b.data as ArrayLike<number>), `${what}: values`);
}

// ---- full-size name and shape maps ------------------------------------------------------------------------

test('official resnet101 G and D snapshots map 1:1 onto our keys, module. prefix or not', () => {
  const G = createSegmentor('resnet101', 19);
  const D = new FCDiscriminator(19, 64);
  const eg = expectedShapes(G.stateDict());
  const ed = expectedShapes(D.stateDict());
  G.dispose(); D.dispose();
  for (const prefix of ['', 'module.']) {
    const g = fromOfficialClan(stubs(official.G, (k) => prefix + k), eg);
    assert.equal(g.mapped.size, 640);
    assert.equal(official.G.length, 640);
    assert.deepEqual([g.missing, g.defaultBuffers, g.unexpected, g.skipped, g.shapeMismatch], [[], [], [], [], []]);
    assert.deepEqual([...g.mapped.keys()], official.G.map(([k]) => k), 'state-dict order kept');
    for (const [k, s] of official.G) assert.deepEqual(eg.get(k), s, `our ${k}`);
    const d = fromOfficialClan(stubs(official.D, (k) => prefix + k), ed);
    assert.equal(d.mapped.size, 10);
    assert.deepEqual([d.missing, d.unexpected, d.shapeMismatch], [[], [], []]);
  }
});

test('the DeepLab init layout (Scale., 21-class layer5, no counters) maps onto resnet101 as CLAN_train.py does', () => {
  const eg = shapesOf(official.G); // = our resnet101 G (previous test)
  const init = stubs(official.G.filter(([k]) => !k.startsWith('layer6.') && !isCounter(k)).map(([k, s]) =>
    [`Scale.${k}`, k.startsWith('layer5.') ? [21, ...s.slice(1)] : s] as [string, number[]]));
  const m = fromDeeplabInit(init, eg, 19);
  assert.equal(m.mapped.size, 520, 'backbone tensors without BN counters');
  assert.equal(m.defaultBuffers.length, 104, 'one num_batches_tracked per BN');
  assert.ok(m.defaultBuffers.every(isCounter));
  assert.deepEqual(m.missing, official.G.map(([k]) => k).filter(isHead));
  assert.deepEqual(m.skipped, official.G.filter(([k]) => k.startsWith('layer5.')).map(([k]) => `Scale.${k}`));
  assert.deepEqual([m.unexpected, m.shapeMismatch], [[], []]);
  assert.match(m.notes[0]!, /layer5.*not loaded for 19 classes/);
  // 21 classes: the init's layer5 fits and loads; 16 classes: it does not fit and is skipped with a note.
  const e21 = new Map([...eg].map(([k, s]) => [k, isHead(k) ? [21, ...s.slice(1)] : s]));
  const m21 = fromDeeplabInit(init, e21);
  assert.equal(m21.mapped.size, 528);
  assert.deepEqual(m21.skipped, []);
  const e16 = new Map([...eg].map(([k, s]) => [k, isHead(k) ? [16, ...s.slice(1)] : s]));
  const m16 = fromDeeplabInit(init, e16);
  assert.equal(m16.skipped.length, 8);
  assert.match(m16.notes[0]!, /has 21 classes, the model 16/);
  assert.deepEqual(m16.shapeMismatch, []);
});

test('torchvision resnet101 / resnet18: every backbone tensor maps with its shape, fc skipped, heads missing', () => {
  const tv = loadFixture<Record<'resnet101' | 'resnet18', KeyList>>('official/torchvision_keys.json');
  const G18 = createSegmentor('resnet18', 19);
  const e18 = expectedShapes(G18.stateDict());
  G18.dispose();
  for (const [name, expected, note] of [['resnet101', shapesOf(official.G), TORCHVISION_NOTE], ['resnet18', e18, TORCHVISION_BASIC_NOTE]] as const) {
    const m = fromTorchvisionResnet(stubs(tv[name]), expected);
    const backbone = [...expected.keys()].filter((k) => !isHead(k));
    assert.deepEqual([...m.mapped.keys()], backbone, `${name}: every backbone key, in order`);
    assert.deepEqual(m.shapeMismatch, [], `${name}: shapes`);
    assert.deepEqual(m.skipped, ['fc.weight', 'fc.bias']);
    assert.deepEqual(m.missing, [...expected.keys()].filter(isHead));
    assert.deepEqual([m.unexpected, m.defaultBuffers], [[], []]);
    assert.equal(m.notes.at(-1), note);
  }
  // The downsample branches sit on the same blocks in both (layer3.0/layer4.0: stride there, dilation here).
  const ds = (rows: Iterable<string>): string[] => [...rows].filter((k) => k.endsWith('downsample.0.weight'));
  assert.deepEqual(ds(tv.resnet101.map(([k]) => k)), ['layer1.0', 'layer2.0', 'layer3.0', 'layer4.0'].map((b) => `${b}.downsample.0.weight`));
  assert.deepEqual(ds(e18.keys()), ds(tv.resnet18.map(([k]) => k)));
  assert.match(TORCHVISION_NOTE, /stride on the 3x3 conv \(conv2\).*first 1x1 \(conv1\)/);
});

test('torchvision vgg16 → our vgg16 key by key, as deeplab_vgg.py moves the modules; classifier skipped, fc6/fc7 + heads missing', () => {
  // The twin found torchvision key → deeplab_vgg.py key by parameter identity through the surgery (vgg_parity.py).
  const vgg = loadFixture<{ torchvision_state_dict: KeyList; torchvision_to_ours: Record<string, string> }>('vgg/expected.json');
  const G = createSegmentor('vgg16', 19);
  const e = expectedShapes(G.stateDict());
  G.dispose();
  const sd = stubs(vgg.torchvision_state_dict);
  for (const [source, m] of [['direct', fromTorchvisionVgg(sd, e)], ['dispatch', mapWeights('torchvision-vgg16', sd, e)]] as const) {
    const pairs = Object.entries(vgg.torchvision_to_ours);
    assert.equal(pairs.length, 26, '13 convs × (weight, bias)');
    assert.equal(m.mapped.size, 26, source);
    for (const [tv, ours] of pairs) assert.equal(m.mapped.get(ours), sd.get(tv), `${source}: ${tv} → ${ours}`);
    assert.deepEqual(m.skipped, ['classifier.0.weight', 'classifier.0.bias', 'classifier.3.weight', 'classifier.3.bias', 'classifier.6.weight', 'classifier.6.bias']);
    assert.deepEqual(m.missing, [...e.keys()].filter((k) => isHead(k) || /^features\.(29|31)\./.test(k)), 'fc6, fc7 and the heads keep their init');
    assert.equal(m.missing.length, 4 + 16);
    assert.deepEqual([m.unexpected, m.shapeMismatch, m.defaultBuffers], [[], [], []]);
    assert.deepEqual(m.notes, [m.notes[0], TORCHVISION_VGG_NOTE]);
    assert.match(m.notes[0]!, /^classifier .*Linear.* not used: deeplab_vgg\.py builds fc6\/fc7 fresh/);
  }
  // Into a ResNet nothing maps; a pool index (23, 30) names no tensor; the name of a tensor past pool5 is unknown.
  assert.equal(fromTorchvisionVgg(sd, shapesOf(official.G)).mapped.size, 0);
  const odd = fromTorchvisionVgg(stubs([['features.23.weight', [512, 512, 3, 3]], ['features.30.weight', [1]], ['features.1.weight', [1]]]), e);
  assert.deepEqual(odd.unexpected, ['features.23.weight', 'features.30.weight', 'features.1.weight']);
  // Detection: torchvision's layout (Linear classifier.N), but not AdaptSegNet's DeeplabVGG (classifier.conv2d_list).
  assert.equal(detectSource(sd.keys()), 'torchvision-vgg16');
  assert.equal(detectSource([...e.keys()].map((k) => `module.${k}`)), 'official-clan', 'our vgg16 exported: layer6');
  assert.equal(detectSource(['features.0.weight', 'features.29.weight', 'classifier.conv2d_list.0.weight']), undefined);
  assert.equal(describeBackbone(new Map([...e].map(([k, s]) => [k, { shape: s }]))), undefined, 'describeBackbone reads ResNets only');
});

test('mismatched shapes, unknown keys and missing keys are reported, not mapped', () => {
  const eg = shapesOf(official.G);
  const sd = stubs(official.G.filter(([k]) => k !== 'layer6.conv2d_list.3.bias'));
  sd.set('layer5.conv2d_list.0.weight', { shape: [16, 2048, 3, 3] });
  sd.set('aux.weight', { shape: [1] });
  const m = fromOfficialClan(sd, eg);
  assert.deepEqual(m.shapeMismatch, [{ file: 'layer5.conv2d_list.0.weight', key: 'layer5.conv2d_list.0.weight', expected: [19, 2048, 3, 3], got: [16, 2048, 3, 3] }]);
  assert.deepEqual(m.unexpected, ['aux.weight']);
  assert.deepEqual(m.missing, ['layer6.conv2d_list.3.bias']);
  assert.equal(m.mapped.size, 638);
});

test('detection, structure and export helpers', () => {
  assert.equal(detectSource(official.G.map(([k]) => `Scale.${k}`)), 'deeplab-init');
  assert.equal(detectSource(official.G.map(([k]) => `module.${k}`)), 'official-clan');
  assert.equal(detectSource(official.D.map(([k]) => k)), 'official-clan');
  assert.equal(detectSource(['conv1.weight', 'layer1.0.conv1.weight', 'fc.weight']), 'torchvision-resnet');
  assert.equal(detectSource(['conv1.weight', 'layer5.conv2d_list.0.weight']), undefined, 'AdaptSegNet single-level: ask');
  assert.equal(isDiscriminator(official.D.map(([k]) => k)), true);
  assert.equal(isDiscriminator(official.G.map(([k]) => k)), false);
  assert.deepEqual(describeBackbone(stubs(official.G)), { block: 'bottleneck', layers: [3, 4, 23, 3], width: 64, channels: 2048, headClasses: 19 });
  assert.deepEqual(describeDiscriminator(stubs(official.D)), { numClasses: 19, ndf: 64 });
  const sd = stubs(official.G);
  const out = toOfficial(sd);
  assert.deepEqual([...out.keys()], official.G.map(([k]) => k));
  assert.equal(out.get('conv1.weight'), sd.get('conv1.weight'), 'same tensor objects');
  assert.deepEqual([...toOfficial(sd, { initFormat: true }).keys()].slice(0, 2), ['Scale.conv1.weight', 'Scale.bn1.weight']);
  assert.deepEqual(summarizeKeys(['layer5.a', 'layer5.b', 'layer6.a', 'Scale.layer5.x', 'Scale.layer5.y', 'fc.weight']),
    ['layer5.* (2)', 'layer6.a', 'Scale.layer5.* (2)', 'fc.weight']);
});

// ---- the small checkpoints, through readPth, into our `micro` G ------------------------------------------

// micro: stem conv+BN (6 entries) + 4 bottlenecks with downsample (24 each) + 2 heads × 4 convs × (w, b).
const MICRO = { entries: 118, counters: 17, heads: 16 };

test('DeepLab init, legacy .pth: Scale. dropped, 21-class layer5 skipped, counters left at 0, values loaded', (t) => {
  const path = fixture(t, 'deeplab_init_legacy.pth');
  if (path === undefined) return;
  const sd = readPth(path);
  assert.equal(detectSource(sd.keys()), 'deeplab-init');
  const G = createSegmentor('micro', 19);
  const m = fromDeeplabInit(sd, expectedShapes(G.stateDict()));
  assert.equal(m.mapped.size, MICRO.entries - MICRO.heads - MICRO.counters);
  assert.equal(m.defaultBuffers.length, MICRO.counters);
  assert.equal(m.missing.length, MICRO.heads);
  assert.equal(m.skipped.length, 8);
  assert.deepEqual([m.unexpected, m.shapeMismatch], [[], []]);
  G.loadStateDict(m.mapped, false, 'init');
  const own = G.stateDict();
  for (const [k, v] of m.mapped) assertSameValues(own.get(k), v, k);
  assert.equal(own.get('layer2.0.bn1.num_batches_tracked')!.item(), 0);
  G.dispose();
  // With 21 classes layer5 loads; its weights were stride-0 views in the file (one value per class).
  const G21 = createSegmentor('micro', 21);
  const m21 = fromDeeplabInit(sd, expectedShapes(G21.stateDict()));
  assert.equal(m21.mapped.size, MICRO.entries - MICRO.heads - MICRO.counters + 8);
  G21.loadStateDict(m21.mapped, false, 'init');
  const w = G21.layer5.convs.at(2).weight.toHost();
  const src = sd.get('Scale.layer5.conv2d_list.2.weight')!;
  assertSameValues(w, src, 'layer5.conv2d_list.2.weight');
  assert.equal(w.data[128 * 9 * 5 + 7], w.data[128 * 9 * 5], 'class 5 is one repeated value');
  G21.dispose();
});

test('CLAN G snapshot with module. prefix: 1:1 into micro, and the forward pass equals PyTorch (eval mode)', (t) => {
  const path = fixture(t, 'clan_G_module.pth');
  const fwdPath = fixture(t, 'forward.safetensors');
  if (path === undefined || fwdPath === undefined) return;
  const sd = readPth(path);
  const fwd = readSafetensorsFile(fwdPath).tensors;
  const K = fwd.get('x1')!.shape[1]!;
  const G = createSegmentor('micro', K);
  const m = fromOfficialClan(sd, expectedShapes(G.stateDict()));
  assert.equal(m.mapped.size, MICRO.entries);
  assert.deepEqual([m.missing, m.defaultBuffers, m.unexpected, m.shapeMismatch], [[], [], [], []]);
  G.loadStateDict(m.mapped, true, 'clan_G_module.pth');
  assert.equal(G.stateDict().get('bn1.num_batches_tracked')!.item(), 1234);
  G.eval();
  torch.tidy(() => {
    const [x1, x2] = G.forward(torch.fromHost(fwd.get('input')!));
    for (const [name, ours] of [['x1', x1], ['x2', x2]] as const) {
      const ref = torch.fromHost(fwd.get(name)!);
      assert.deepEqual(ours.shape, ref.shape, `${name} shape`);
      const err = ours.sub(ref).abs().max().item();
      const scale = ref.abs().max().item();
      assert.ok(scale > 0.1, `${name}: reference output is not trivially small (${scale})`);
      assert.ok(err <= 1e-5, `${name}: max |ours − torch| = ${err}`);
    }
  });
  // A 19-class model refuses the 2-class heads: reported as shape mismatches, never mapped.
  const G19 = createSegmentor('micro', 19);
  const m19 = fromOfficialClan(sd, expectedShapes(G19.stateDict()));
  assert.equal(m19.shapeMismatch.length, MICRO.heads);
  assert.equal(m19.mapped.size, MICRO.entries - MICRO.heads);
  G19.dispose(); G.dispose();
});

test('torchvision layout: fc skipped, heads missing; the three layouts hold the same backbone tensors', (t) => {
  const paths = ['torchvision_resnet.pth', 'clan_G_module.pth', 'deeplab_init_legacy.pth'].map((f) => fixture(t, f));
  if (paths.some((p) => p === undefined)) return;
  const [tvSd, clanSd, initSd] = paths.map((p) => readPth(p!)) as
    [Map<string, HostTensor>, Map<string, HostTensor>, Map<string, HostTensor>];
  assert.equal(detectSource(tvSd.keys()), 'torchvision-resnet');
  const G = createSegmentor('micro', 19);
  const e = expectedShapes(G.stateDict());
  G.dispose();
  const tv = fromTorchvisionResnet(tvSd, e);
  assert.equal(tv.mapped.size, MICRO.entries - MICRO.heads);
  assert.deepEqual(tv.skipped, ['fc.weight', 'fc.bias']);
  assert.equal(tv.missing.length, MICRO.heads);
  assert.deepEqual([tv.unexpected, tv.shapeMismatch, tv.defaultBuffers], [[], [], []]);
  assert.equal(tv.notes.at(-1), TORCHVISION_NOTE);
  const clan = fromOfficialClan(clanSd, e); // heads mismatch (2 classes), backbone maps
  const init = fromDeeplabInit(initSd, e);
  for (const [k, v] of tv.mapped) {
    assertSameValues(clan.mapped.get(k), v, `clan ${k}`);
    if (!isCounter(k)) assertSameValues(init.mapped.get(k), v, `init ${k}`);
  }
});

test('CLAN D snapshot: 1:1 into FCDiscriminator with the file\'s class count and width', (t) => {
  const path = fixture(t, 'clan_D.pth');
  if (path === undefined) return;
  const sd = readPth(path);
  assert.equal(detectSource(sd.keys()), 'official-clan');
  assert.ok(isDiscriminator(sd.keys()));
  const { numClasses, ndf } = describeDiscriminator(sd)!;
  assert.deepEqual([numClasses, ndf], [2, 2]);
  const D = new FCDiscriminator(numClasses, ndf);
  const m = fromOfficialClan(sd, expectedShapes(D.stateDict()));
  assert.equal(m.mapped.size, 10);
  assert.deepEqual([m.missing, m.unexpected, m.shapeMismatch], [[], [], []]);
  D.loadStateDict(m.mapped, true, 'clan_D.pth');
  assertSameValues(D.stateDict().get('classifier.weight'), sd.get('classifier.weight'), 'classifier.weight');
  D.dispose();
});
