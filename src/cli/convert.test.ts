// `clan convert` on the small checkpoints of test/fixtures/official (tools/reference/make_official_fixtures.py)
// and test/fixtures/vgg (tools/reference/vgg_parity.py): output keys, metadata and values, the report, the export
// back to official names, and the one-line errors.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../torch/dtype.js';
import { readPth } from '../io/pth.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { TORCHVISION_NOTE, TORCHVISION_VGG_NOTE } from '../io/official.js';
import { CKPT_FORMAT, writeCheckpoint } from '../io/checkpoint.js';
import { createSegmentor } from '../models/registry.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { CheckpointError, UsageError } from '../util/errors.js';
import { fixturePath } from '../util/paths.js';
import { loadFixture } from '../torch/torch.testing.js';
import { loadInit } from '../infer/init-weights.js';
import { DeepLabVGG } from '../models/vgg.js';
import { convertCommand as convert } from './convert.js';
import type { ConvertReport } from '../infer/convert-weights.js';

const MICRO = { entries: 118, counters: 17, heads: 16 }; // see src/io/official.test.ts

/**
 * The fixture paths (test/fixtures/official/NAME, or DIR/NAME as given), or undefined after skipping (failing
 * under CI=true) when the generator was not run.
 */
function fixtures(t: TestContext, ...names: string[]): string[] | undefined {
  const paths = names.map((n) => fixturePath(n.includes('/') ? n : `official/${n}`));
  const gone = paths.filter((p) => !existsSync(p));
  if (gone.length === 0) return paths;
  const msg = `fixtures ${gone.join(', ')} missing (run tools/reference/make_official_fixtures.py or vgg_parity.py)`;
  if (process.env.CI === 'true') assert.fail(msg);
  t.skip(msg);
  return undefined;
}

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'clan-convert-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the command and returns what it printed on stdout. */
async function run(t: TestContext, args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = t.mock.method(console, 'log', (...a: unknown[]) => { lines.push(a.join(' ')); });
  try {
    assert.equal(await convert.run(args), 0);
  } finally { log.mock.restore(); }
  return lines.join('\n');
}

async function rejects(args: string[], cls: typeof CheckpointError | typeof UsageError, re: RegExp): Promise<void> {
  await assert.rejects(async () => convert.run(args), (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

function sameValues(a: HostTensor | undefined, b: HostTensor | undefined, what: string): void {
  assert.ok(a && b, `${what}: missing`);
  assert.deepEqual([a.dtype, a.shape], [b.dtype, b.shape], `${what}: dtype/shape`);
  assert.deepEqual(Array.from(a.data as ArrayLike<number>), Array.from(b.data as ArrayLike<number>), `${what}: values`);
}

test('official CLAN G + D snapshots → one clan-weights file with G./D. keys, metadata and the same values', async (t) => {
  const f = fixtures(t, 'clan_G_module.pth', 'clan_D.pth');
  if (f === undefined) return;
  const [g, d] = f as [string, string];
  const out = join(tempDir(t), 'w.safetensors');
  const json = await run(t, [g, out, '--backbone', 'micro', '--num-classes', '2', '--discriminator', d, '--json']);
  const r = JSON.parse(json) as ConvertReport;
  assert.equal(r.source, 'official-clan');
  assert.deepEqual([r.G!.mapped, r.G!.missing, r.G!.unexpected, r.G!.default_buffers, r.D!.mapped], [MICRO.entries, [], [], 0, 10]);
  const { tensors, metadata: { clan_seal: seal, ...metadata } } = readSafetensorsFile(out);
  assert.match(seal ?? '', /^[0-9a-f]{64}$/, 'sealed (io/checkpoint.ts)');
  assert.deepEqual(metadata, { format: 'clan-weights', backbone: 'micro', num_classes: '2', source: 'official-clan',
    converted_from: 'clan_G_module.pth', converted_from_d: 'clan_D.pth', ndf: '2' });
  assert.equal(tensors.size, MICRO.entries + 10);
  const gSd = readPth(g); const dSd = readPth(d);
  assert.deepEqual([...tensors.keys()].filter((k) => k.startsWith('G.')).sort(), [...gSd.keys()].map((k) => `G.${k}`).sort());
  for (const [k, v] of gSd) sameValues(tensors.get(`G.${k}`), v, k);
  for (const [k, v] of dSd) sameValues(tensors.get(`D.${k}`), v, `D ${k}`);

  // Back to official names: the G file holds exactly the snapshot's (module.-stripped) tensors, D goes to _D.
  const off = join(tempDir(t), 'official.safetensors');
  const text = await run(t, [out, off, '--to', 'official']);
  assert.match(text, /\(clan\) → .*official\.safetensors, .*official_D\.safetensors \[backbone micro, 2 classes, D ndf 2\]/);
  const back = readSafetensorsFile(off);
  assert.deepEqual([...back.tensors.keys()].sort(), [...gSd.keys()].sort());
  for (const [k, v] of gSd) sameValues(back.tensors.get(k), v, `official ${k}`);
  assert.equal(back.metadata.layout, 'official');
  assert.deepEqual([...readSafetensorsFile(off.replace('.safetensors', '_D.safetensors')).tensors.keys()].sort(), [...dSd.keys()].sort());
  const init = join(tempDir(t), 'init.safetensors');
  await run(t, [out, init, '--to', 'deeplab-init']);
  assert.ok([...readSafetensorsFile(init).tensors.keys()].every((k) => k.startsWith('Scale.')));
});

/** A sealed training checkpoint of an 11-class micro G and an ndf-4 D, with one optimizer tensor, as the trainer writes. */
function trainingCheckpoint(dir: string): { path: string; sd: Map<string, HostTensor> } {
  const G = createSegmentor('micro', 11); const D = new FCDiscriminator(11, 4);
  const sd = new Map<string, HostTensor>();
  try {
    for (const [k, v] of G.stateDict()) sd.set(`G.${k}`, v.toHost());
    for (const [k, v] of D.stateDict()) sd.set(`D.${k}`, v.toHost());
  } finally { G.dispose(); D.dispose(); }
  const tensors = new Map([...sd, ['optG.0.exp_avg', { dtype: 'float32', shape: [2], data: Float32Array.of(1, 2) } as HostTensor]]);
  const path = writeCheckpoint(dir, tensors, { format: CKPT_FORMAT, version: 2, step: 1500, method: 'clan', backbone: 'micro', numClasses: 11,
    classNames: Array.from({ length: 11 }, (_, i) => `c${i}`), palette: null, normalize: 'caffe', evalSize: [64, 64], config: {}, optG: null,
    optD: null, torchRng: 'AAAA', loaders: { source: 0, target: 0 }, libtorch: 'test', threads: 1 });
  return { path, sd };
}

test('our own training checkpoint converts with no flags: backbone and classes from its header, weights only', async (t) => {
  const dir = tempDir(t);
  const { path, sd } = trainingCheckpoint(join(dir, 'checkpoints'));
  const out = join(dir, 'w.safetensors');
  const r = JSON.parse(await run(t, [path, out, '--json'])) as ConvertReport;
  assert.deepEqual([r.source, r.backbone, r.num_classes, r.ndf], ['clan', 'micro', 11, 4]);
  assert.deepEqual([r.G!.mapped, r.G!.missing, r.G!.unexpected, r.D!.mapped], [MICRO.entries, [], [], 10]);
  assert.deepEqual(r.notes, ['training checkpoint (clan, step 1500): weights only, its optimizer state and run state are not written']);
  const { tensors, metadata } = readSafetensorsFile(out);
  assert.deepEqual([metadata.format, metadata.backbone, metadata.num_classes, metadata.source, metadata.converted_from, metadata.ndf],
    ['clan-weights', 'micro', '11', 'clan', 'ckpt_0001500.safetensors', '4']);
  assert.deepEqual([...tensors.keys()].sort(), [...sd.keys()].sort(), 'G and D, no optG');
  for (const [k, v] of sd) sameValues(tensors.get(k), v, k);
  // To official names, and through --from clan: still no --backbone / --num-classes needed.
  const off = join(dir, 'official.safetensors');
  assert.match(await run(t, [path, off, '--from', 'clan', '--to', 'official']), /\(clan\) → .*official\.safetensors, .*official_D\.safetensors \[backbone micro, 11 classes, D ndf 4\]/);
  const back = readSafetensorsFile(off).tensors;
  for (const [k, v] of sd) if (k.startsWith('G.')) sameValues(back.get(k.slice(2)), v, `official ${k}`);
  await rejects([path, join(dir, 'x.safetensors'), '--num-classes', '19'], CheckpointError, /11-class heads \(layer5\/layer6\) but --num-classes is 19; pass --num-classes 11$/);
});

test('DeepLab init (auto-detected): backbone only, counters written as 0, layer5 skipped and heads listed missing', async (t) => {
  const f = fixtures(t, 'deeplab_init_legacy.pth');
  if (f === undefined) return;
  const out = join(tempDir(t), 'init.safetensors');
  const text = await run(t, [f[0]!, out, '--backbone', 'micro']);
  assert.match(text, /\(deeplab-init\) → .* \[backbone micro, 19 classes\]/);
  assert.match(text, /^G: 85 mapped, 16 missing, 0 unexpected, 8 skipped; 17 BN num_batches_tracked buffers left at default 0/m);
  assert.match(text, /missing \(left to the model's init\): layer5\.\* \(8\), layer6\.\* \(8\)/);
  assert.match(text, /skipped: Scale\.layer5\.\* \(8\)/);
  assert.match(text, /note: layer5 \(the init's own classifier\) is not loaded for 19 classes/);
  const { tensors, metadata } = readSafetensorsFile(out);
  assert.equal(tensors.size, MICRO.entries - MICRO.heads);
  assert.equal(metadata.source, 'deeplab-init');
  assert.equal(metadata.missing, 'layer5.* (8), layer6.* (8)');
  assert.deepEqual(tensors.get('G.layer3.0.downsample.1.num_batches_tracked'), { dtype: 'int64', shape: [], data: BigInt64Array.of(0n) });
  const sd = readPth(f[0]!);
  sameValues(tensors.get('G.layer4.0.conv2.weight'), sd.get('Scale.layer4.0.conv2.weight'), 'layer4.0.conv2.weight');
});

test('torchvision ResNet: fc dropped, the stride/dilation note printed', async (t) => {
  const f = fixtures(t, 'torchvision_resnet.pth');
  if (f === undefined) return;
  const out = join(tempDir(t), 'tv.safetensors');
  const text = await run(t, [f[0]!, out, '--backbone', 'micro']);
  assert.match(text, /^G: 102 mapped, 16 missing, 0 unexpected, 2 skipped$/m);
  assert.ok(text.includes(`note: ${TORCHVISION_NOTE}`));
  const { tensors, metadata } = readSafetensorsFile(out);
  assert.equal(tensors.size, MICRO.entries - MICRO.heads);
  assert.equal(metadata.source, 'torchvision-resnet');
  assert.ok(!tensors.has('G.fc.weight'));
  sameValues(tensors.get('G.layer2.0.conv2.weight'), readPth(f[0]!).get('layer2.0.conv2.weight'), 'layer2.0.conv2.weight');
});

test('torchvision VGG-16 (auto-detected, legacy .pth) → vgg16: convs renumbered past pool4 key by key, then --init', async (t) => {
  const f = fixtures(t, 'vgg/torchvision_vgg16.pth', 'clan_G_module.pth');
  if (f === undefined) return;
  const [tvPath, resnet] = f as [string, string];
  const dir = tempDir(t);
  const out = join(dir, 'vgg16.safetensors');
  const text = await run(t, [tvPath, out]); // no --from, no --backbone: both follow from the file
  assert.match(text, /\(torchvision-vgg16\) → .*vgg16\.safetensors \[backbone vgg16, 19 classes\]/);
  assert.match(text, /^G: 26 mapped, 20 missing, 0 unexpected, 6 skipped$/m);
  assert.match(text, /missing \(left to the model's init\): features\.\* \(4\), layer5\.\* \(8\), layer6\.\* \(8\)$/m);
  assert.match(text, /skipped: classifier\.0\.weight, classifier\.0\.bias, classifier\.3\.weight, classifier\.3\.bias, classifier\.6\.weight, classifier\.6\.bias$/m);
  assert.match(text, /^note: classifier \(torchvision's fc6\/fc7\/fc8 as Linear layers .*\) is not used: deeplab_vgg\.py builds fc6\/fc7 fresh/m);
  assert.ok(text.includes(`note: ${TORCHVISION_VGG_NOTE}`));
  const { tensors, metadata } = readSafetensorsFile(out);
  assert.deepEqual([metadata.backbone, metadata.source, metadata.missing], ['vgg16', 'torchvision-vgg16', 'features.* (4), layer5.* (8), layer6.* (8)']);
  // Key by key against the twin's mapping (parameter identity through deeplab_vgg.py's surgery, vgg_parity.py).
  const mapping = Object.entries(loadFixture<{ torchvision_to_ours: Record<string, string> }>('vgg/expected.json').torchvision_to_ours);
  const sd = readPth(tvPath);
  assert.deepEqual([...tensors.keys()].sort(), mapping.map(([, ours]) => `G.${ours}`).sort());
  for (const [tv, ours] of mapping) sameValues(tensors.get(`G.${ours}`), sd.get(tv), `${tv} → G.${ours}`);
  assert.notDeepEqual(tensors.get('G.features.23.weight')!.data, tensors.get('G.features.25.weight')!.data, 'the file tells the convs apart');
  // --init (scope backbone) into a vgg16: the 26 load, fc6/fc7 stay at init and are named, the heads are not.
  const G = new DeepLabVGG({ arch: 'vgg16', width: 64, numClasses: 19 });
  try {
    const lines: string[] = [];
    loadInit(out, G, 'backbone', (l) => lines.push(l));
    assert.deepEqual(lines, [`--init ${out}: loaded 26 tensors (backbone); left at init: 4`]);
    sameValues(G.stateDict().get('features.25.weight')!.toHost(), sd.get('features.26.weight'), 'loaded conv5_2');
  } finally { G.dispose(); }
  // The other family: a VGG into a ResNet, a ResNet into the VGG.
  await rejects([tvPath, join(dir, 'x.safetensors'), '--backbone', 'micro'], CheckpointError, /torchvision_vgg16\.pth: holds a VGG \(features\.\*\) but backbone micro is a ResNet; pass --backbone vgg16$/);
  await rejects([resnet, join(dir, 'y.safetensors'), '--backbone', 'vgg16', '--num-classes', '2'], CheckpointError, /clan_G_module\.pth: checkpoint has 128-channel layer4 but backbone vgg16 expects 1024; pass --backbone micro$/);
});

test('errors: one line naming the file and what is expected', async (t) => {
  const f = fixtures(t, 'clan_G_module.pth', 'clan_D.pth', 'forward.safetensors');
  if (f === undefined) return;
  const [g, d, fwd] = f as [string, string, string];
  const dir = tempDir(t);
  const out = join(dir, 'o.safetensors');
  const text = join(dir, 'notes.pth');
  writeFileSync(text, 'not a checkpoint\n');
  await rejects([join(dir, 'nope.pth'), out], CheckpointError, /nope\.pth: no such file; expected a PyTorch checkpoint \(\.pth\) or a \.safetensors weights file$/);
  await rejects([text, out], CheckpointError, /notes\.pth: not a PyTorch checkpoint/);
  await rejects([g, out, '--from', 'offical-clan'], UsageError, /^convert: --from expects official-clan, deeplab-init, torchvision-resnet, torchvision-vgg16, clan or mmseg, got 'offical-clan' \(did you mean 'official-clan'\?\)$/);
  await rejects([g, out], CheckpointError, /clan_G_module\.pth: checkpoint has 128-channel layer4 but backbone resnet101 expects 2048; pass --backbone micro$/);
  await rejects([g, out, '--backbone', 'tiny'], CheckpointError, /128-channel layer4 but backbone tiny expects 256; pass --backbone micro$/);
  await rejects([g, out, '--backbone', 'micro'], CheckpointError, /checkpoint has 2-class heads \(layer5\/layer6\) but --num-classes is 19; pass --num-classes 2$/);
  await rejects([d, out], CheckpointError, /clan_D\.pth: checkpoint D takes 2 classes but --num-classes is 19; pass --num-classes 2$/);
  await rejects([fwd, out], UsageError, /forward\.safetensors: cannot tell what kind of checkpoint this is .*; pass --from official-clan\|deeplab-init\|torchvision-resnet\|torchvision-vgg16$/);
  await rejects([g, out, '--from', 'deeplab-init', '--backbone', 'micro'], CheckpointError, /no tensor maps onto our G as deeplab-init .*it looks like official-clan: pass --from official-clan$/);
  await rejects([g, join(dir, 'o.pth')], UsageError, /OUT must end in \.safetensors/);
  await rejects([g], UsageError, /expected IN and OUT, got 1 argument/);
  assert.ok(!existsSync(out), 'nothing written on error');
});

test('--from mmseg: wired to infer/mmseg.ts, its flags refused elsewhere, an mmseg file without --from named as one', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'o.safetensors');
  const hrda = fixturePath('mmseg/hrda_tiny.pth');
  // the fixture's widths (4, 8, 8, 8) are no registered network: the conversion reached the shape match
  await rejects([hrda, out, '--from', 'mmseg'], CheckpointError, /hrda_tiny\.pth: no registered HRDA network has stage widths \[4,8,8,8\]/);
  await rejects([hrda, out], UsageError, /hrda_tiny\.pth: an mmseg MiT checkpoint \(DAFormer\/HRDA\/MIC\); pass --from mmseg$/);
  await rejects([fixturePath('mmseg/mit_tiny.pth'), out], UsageError, /an mmseg MiT checkpoint \(SegFormer's ImageNet encoder\); pass --from mmseg$/);
  await rejects([hrda, out, '--from', 'mmseg', '--part', 'teacher'], UsageError, /--part expects model, ema_model or imnet_model, got 'teacher'/);
  await rejects([hrda, out, '--from', 'mmseg', '--to', 'official'], UsageError, /--from mmseg writes our weights file only/);
  await rejects([hrda, out, '--from', 'mmseg', '--eval-size', '2048'], UsageError, /--eval-size expects WxH/);
  await rejects([hrda, out, '--part', 'ema_model'], UsageError, /--part is for --from mmseg/);
  assert.ok(!existsSync(out), 'nothing written on error');
});
