// Key mapping between the weight files people have and our DeepLab-v2 G / FCDiscriminator D. Our module names
// are the official ones (RoyalVane/CLAN:model/CLAN_G.py, CLAN_D.py; docs/method.md §1.1, §1.4), so most
// mappings are prefix surgery; what matters is checking every name and shape and saying what was left out.
// Host only: the expected names and shapes come from the caller (expectedShapes(model.stateDict())).
//
// Sources:
//  - deeplab-init: DeepLab_resnet_pretrained_init-f81d91e8.pth (ImageNet+COCO, docs/method.md §7), keys
//    'Scale.<name>', a VOC classifier as layer5, no layer6, no num_batches_tracked (saved by torch < 0.4.1).
//    CLAN_train.py drops the first key component and skips layer5 when num_classes == 19 (§1.1).
//  - official-clan: GTA5_<iter>.pth = CLAN_G.state_dict() and GTA5_<iter>_D.pth = FCDiscriminator.state_dict(),
//    possibly 'module.'-prefixed (nn.DataParallel): 1:1.
//  - torchvision-resnet: torchvision ResNet state dicts; same names for the backbone, fc dropped, heads missing,
//    but a different network (TORCHVISION_NOTE).
//  - torchvision-vgg16: torchvision VGG-16 (vgg16-397923af.pth) → our vgg16 (AdaptSegNet model/deeplab_vgg.py,
//    docs/method.md §1.6): the 13 convs, renumbered past the removed pool4; the Linear classifier dropped, fc6/fc7
//    and the heads missing (deeplab_vgg.py builds fc6/fc7 fresh as dilated 3×3 convs) (TORCHVISION_VGG_NOTE).
//
// Export (toOfficial) goes the other way; the result is written as safetensors with official names and loads
// into the official PyTorch model as OFFICIAL_LOAD_SNIPPET shows.
import type { HostTensor } from '../torch/dtype.js';

export const WEIGHTS_SOURCES = ['official-clan', 'deeplab-init', 'torchvision-resnet', 'torchvision-vgg16'] as const;
export type WeightsSource = (typeof WEIGHTS_SOURCES)[number];

/** Anything with a shape: HostTensor, an engine Tensor, or a {shape} stub (the 1:1 key tests use those). */
export interface Shaped { readonly shape: readonly number[] }
/** Our model's state dict names → shapes, in state-dict order. */
export type ExpectedShapes = ReadonlyMap<string, readonly number[]>;

export interface ShapeMismatch { file: string; key: string; expected: number[]; got: number[] }

/** A mapping's source: the layouts above, or mmseg's (MiT / DAFormer / HRDA / MIC checkpoints, io/mmseg.ts). */
export type MappingSource = WeightsSource | 'mmseg';

export interface Mapping<T extends Shaped = HostTensor> {
  source: MappingSource;
  /** Our key → the file's tensor; name and shape checked against the expected map. */
  mapped: Map<string, T>;
  /** Our keys the file does not provide (they keep the model's init), BN counters excluded. */
  missing: string[];
  /** BN num_batches_tracked buffers the file lacks (torch < 0.4.1 files): left at their default 0, not an error. */
  defaultBuffers: string[];
  /** File keys that name nothing in our model. */
  unexpected: string[];
  /** File keys dropped on purpose (the reason is in notes). */
  skipped: string[];
  /** File keys whose renamed name exists but whose shape differs. */
  shapeMismatch: ShapeMismatch[];
  /** Every file tensor the rule renamed (mapped, mismatched or unknown to the model), under our name. */
  renamed: Map<string, T>;
  notes: string[];
}

/**
 * Shown whenever torchvision ResNet weights are converted into a Bottleneck backbone (resnet50/101): the
 * tensors fit shape for shape, the network they then sit in is not the one they were trained in.
 */
export const TORCHVISION_NOTE =
  "torchvision ResNet weights do not compute what they computed in torchvision: torchvision's Bottleneck puts the " +
  'stride on the 3x3 conv (conv2) while DeepLab-v2/Caffe puts it on the first 1x1 (conv1), so here the 1x1 sees ' +
  'the full-resolution map and the 3x3 runs at stride 1; and torchvision does not dilate layer3/layer4 (stride 2 ' +
  'each) while DeepLab runs them at stride 1 with dilation 2 and 4. Every tensor loads with its shape, but fine-tune ' +
  'before relying on the features, and expect results different from the official DeepLab init ' +
  '(DeepLab_resnet_pretrained_init-f81d91e8.pth, ImageNet+COCO)';
/** The BasicBlock (resnet18/34) variant: torchvision and we both stride the first 3x3; only the dilation differs. */
export const TORCHVISION_BASIC_NOTE =
  'torchvision ResNet weights: torchvision does not dilate layer3/layer4 (stride 2 each) while DeepLab runs them at ' +
  'stride 1 with dilation 2 and 4, so the 3x3 convs there see a different sampling grid than in training; every ' +
  'tensor loads with its shape, but fine-tune before relying on the features';

/** Shown whenever torchvision VGG-16 weights are converted into our vgg16 (docs/method.md §1.6). */
export const TORCHVISION_VGG_NOTE =
  'torchvision VGG-16 weights in DeepLab-v2 VGG (AdaptSegNet deeplab_vgg.py): pool4 and pool5 are removed and ' +
  'conv5_1..conv5_3 run at dilation 2, so they see a different sampling grid than in training; fc6/fc7 (3x3 convs, ' +
  "dilation 4) and both heads start from their init, as deeplab_vgg.py does. torchvision's own file " +
  '(vgg16-397923af.pth) expects RGB in [0, 1] normalised by the ImageNet mean/std: train with normalize: imagenet ' +
  '(a Caffe-converted VGG-16 in the same layout expects the default, caffe)';
/** Why torchvision's classifier is not converted: a different layer, not a different name. */
const TORCHVISION_VGG_SKIP =
  "classifier (torchvision's fc6/fc7/fc8 as Linear layers 25088→4096→4096→1000) is not used: deeplab_vgg.py builds " +
  'fc6/fc7 fresh as 3x3 dilated convs (512→1024→1024) with their default init';

/** How to load an exported official-names file into the official PyTorch model (RoyalVane/CLAN). */
export const OFFICIAL_LOAD_SNIPPET = `import torch
from safetensors.torch import load_file          # pip install safetensors
from model.CLAN_G import Res_Deeplab             # RoyalVane/CLAN
model = Res_Deeplab(num_classes=19)
model.load_state_dict(load_file('G_official.safetensors'))   # strict: every name and shape matches
torch.save(model.state_dict(), 'GTA5_converted.pth')         # for CLAN_evaluate.py --restore-from`;

const DP_PREFIX = 'module.';
const INIT_PREFIX = 'Scale.';
const COUNTER = /(^|\.)num_batches_tracked$/;

/** Names → shapes of a state dict (e.g. `expectedShapes(createSegmentor('resnet101', 19).stateDict())`). */
export function expectedShapes(sd: ReadonlyMap<string, Shaped>): Map<string, number[]> {
  return new Map([...sd].map(([k, t]) => [k, [...t.shape]]));
}

/** One rule per source: the file key → our key, a deliberate skip with its reason, or undefined (unknown). */
export type Rule<T extends Shaped> = (key: string, t: T) => string | { skip: string } | undefined;

/** Applies a source's rule to every file key and checks each result's name and shape against `expected`. */
export function mapWith<T extends Shaped>(source: MappingSource, sd: ReadonlyMap<string, T>, expected: ExpectedShapes,
  rule: Rule<T>): Mapping<T> {
  const m: Mapping<T> = { source, mapped: new Map(), missing: [], defaultBuffers: [], unexpected: [], skipped: [], shapeMismatch: [],
    renamed: new Map(), notes: [] };
  for (const [fileKey, t] of sd) {
    // readPth already strips DataParallel's prefix; safetensors and hand-made maps may still carry it.
    const key = fileKey.startsWith(DP_PREFIX) ? fileKey.slice(DP_PREFIX.length) : fileKey;
    const r = rule(key, t);
    if (r === undefined) { m.unexpected.push(fileKey); continue; }
    if (typeof r !== 'string') {
      m.skipped.push(fileKey);
      if (!m.notes.includes(r.skip)) m.notes.push(r.skip);
      continue;
    }
    if (m.renamed.has(r)) { m.unexpected.push(fileKey); continue; } // two file keys for one of ours: keep the first
    m.renamed.set(r, t);
    const want = expected.get(r);
    if (want === undefined) m.unexpected.push(fileKey);
    else if (!sameShape(want, t.shape)) m.shapeMismatch.push({ file: fileKey, key: r, expected: [...want], got: [...t.shape] });
    else m.mapped.set(r, t);
  }
  const mismatched = new Set(m.shapeMismatch.map((s) => s.key));
  for (const k of expected.keys()) {
    if (m.mapped.has(k) || mismatched.has(k)) continue;
    (COUNTER.test(k) ? m.defaultBuffers : m.missing).push(k);
  }
  return m;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** Class count of our layer5 in an expected map (undefined for a D or a headless map). */
function headClasses(expected: ExpectedShapes): number | undefined {
  return expected.get('layer5.conv2d_list.0.weight')?.[0];
}

/**
 * The DeepLab-v2 init (`Scale.`-prefixed) → our G. As CLAN_train.py L212-226 (docs/method.md §1.1): the
 * prefix goes, and layer5 (the init's own classifier) is skipped when num_classes == 19. Where the official code
 * would crash on a class-count mismatch (num_classes ≠ 19 and ≠ the init's), layer5 is skipped too, with a note.
 */
export function fromDeeplabInit<T extends Shaped>(sd: ReadonlyMap<string, T>, expected: ExpectedShapes,
  numClasses = headClasses(expected) ?? 19): Mapping<T> {
  return mapWith('deeplab-init', sd, expected, (key, t) => {
    if (!key.startsWith(INIT_PREFIX)) return undefined;
    const ours = key.slice(INIT_PREFIX.length);
    if (ours.startsWith('layer5.')) {
      if (numClasses === 19) return { skip: "layer5 (the init's own classifier) is not loaded for 19 classes, as CLAN_train.py does; layer5 and layer6 start from N(0, 0.01)" };
      const want = expected.get(ours);
      if (want !== undefined && want.length === t.shape.length && want[0] !== t.shape[0]) {
        return { skip: `layer5 of the init has ${t.shape[0]} classes, the model ${want[0]}: not loaded (the official code would fail here)` };
      }
    }
    return ours;
  });
}

/** A CLAN G snapshot (GTA5_<iter>.pth) or D snapshot (GTA5_<iter>_D.pth) → our G or D, 1:1. */
export function fromOfficialClan<T extends Shaped>(sd: ReadonlyMap<string, T>, expected: ExpectedShapes): Mapping<T> {
  return mapWith('official-clan', sd, expected, (key) => key);
}

/**
 * torchvision ResNet → our backbone: names are the same (conv1, bn1, layerN.i.{conv,bn}k, downsample.0/.1, the
 * downsample branches sit on the same blocks); fc is skipped, layer5/layer6 stay missing. See TORCHVISION_NOTE.
 */
export function fromTorchvisionResnet<T extends Shaped>(sd: ReadonlyMap<string, T>, expected: ExpectedShapes): Mapping<T> {
  const m = mapWith('torchvision-resnet', sd, expected, (key) =>
    key.startsWith('fc.') ? { skip: 'fc (the ImageNet classifier) has no counterpart in DeepLab: dropped' } : key);
  m.notes.push(expected.has('layer1.0.conv3.weight') ? TORCHVISION_NOTE : TORCHVISION_BASIC_NOTE);
  return m;
}

/**
 * torchvision VGG-16 → our vgg16 (names of deeplab_vgg.py): features.0..21 keep their index, pool4 (23) is
 * gone so conv5_1..conv5_3 (24, 26, 28) become 23, 25, 27; classifier.* is skipped (TORCHVISION_VGG_SKIP);
 * fc6 (features.29), fc7 (features.31), layer5 and layer6 stay missing. See TORCHVISION_VGG_NOTE.
 */
export function fromTorchvisionVgg<T extends Shaped>(sd: ReadonlyMap<string, T>, expected: ExpectedShapes): Mapping<T> {
  const m = mapWith('torchvision-vgg16', sd, expected, (key) => {
    if (key.startsWith('classifier.')) return { skip: TORCHVISION_VGG_SKIP };
    const f = /^features\.(\d+)\.(weight|bias)$/.exec(key);
    if (f === null) return undefined;
    const i = Number(f[1]);
    if (i < 23) return key;
    return i < 30 ? `features.${i - 1}.${f[2]}` : undefined; // torchvision's 23 and 30 are pools: no tensors
  });
  m.notes.push(TORCHVISION_VGG_NOTE);
  return m;
}

/** Dispatch by source name. */
export function mapWeights<T extends Shaped>(source: WeightsSource, sd: ReadonlyMap<string, T>, expected: ExpectedShapes,
  numClasses?: number): Mapping<T> {
  switch (source) {
    case 'deeplab-init': return fromDeeplabInit(sd, expected, numClasses);
    case 'official-clan': return fromOfficialClan(sd, expected);
    case 'torchvision-resnet': return fromTorchvisionResnet(sd, expected);
    case 'torchvision-vgg16': return fromTorchvisionVgg(sd, expected);
  }
}

/**
 * Our state dict → official names: the identity for G and D (the names match), or the init layout with the
 * `Scale.` prefix. The tensors are the same objects. See OFFICIAL_LOAD_SNIPPET for the PyTorch side.
 */
export function toOfficial<T>(sd: ReadonlyMap<string, T>, opts: { initFormat?: boolean } = {}): Map<string, T> {
  const prefix = opts.initFormat ? INIT_PREFIX : '';
  return new Map([...sd].map(([k, t]) => [prefix + k, t]));
}

/** A D state dict: the five FCDiscriminator convs and no ResNet stage. */
export function isDiscriminator(keys: Iterable<string>): boolean {
  const ks = [...keys].map((k) => (k.startsWith(DP_PREFIX) ? k.slice(DP_PREFIX.length) : k));
  return ks.includes('classifier.weight') && ks.includes('conv4.weight') && !ks.some((k) => k.startsWith('layer'));
}

/**
 * What a file looks like: a `Scale.` prefix → deeplab-init; layer6 (CLAN's second head) or a D → official-clan;
 * fc.weight → torchvision-resnet; features.0 with a Linear classifier.N → torchvision-vgg16; otherwise undefined
 * (the caller asks for --from; AdaptSegNet's DeeplabVGG has classifier.conv2d_list and lands here).
 */
export function detectSource(keys: Iterable<string>): WeightsSource | undefined {
  const ks = [...keys].map((k) => (k.startsWith(DP_PREFIX) ? k.slice(DP_PREFIX.length) : k));
  if (ks.some((k) => k.startsWith(INIT_PREFIX))) return 'deeplab-init';
  if (ks.some((k) => k.startsWith('layer6.')) || isDiscriminator(ks)) return 'official-clan';
  if (ks.includes('fc.weight')) return 'torchvision-resnet';
  if (ks.includes('features.0.weight') && ks.some((k) => /^classifier\.\d+\.weight$/.test(k))) return 'torchvision-vgg16';
  return undefined;
}

export interface BackboneShape {
  block: 'bottleneck' | 'basic';
  layers: number[];      // blocks per stage
  width: number;         // stem channels
  channels: number;      // layer4 output channels (what the heads take)
  headClasses?: number;  // layer5/layer6 classes, where a head is present
}

/** Reads the backbone's structure off a state dict in our names (Mapping.renamed); undefined if it is none. */
export function describeBackbone(sd: ReadonlyMap<string, Shaped>): BackboneShape | undefined {
  const stem = sd.get('conv1.weight');
  if (stem === undefined || stem.shape.length !== 4) return undefined;
  const block = [...sd.keys()].some((k) => /^layer[1-4]\.\d+\.conv3\.weight$/.test(k)) ? 'bottleneck' : 'basic';
  const layers = [1, 2, 3, 4].map((s) => new Set([...sd.keys()].map((k) => new RegExp(`^layer${s}\\.(\\d+)\\.`).exec(k)?.[1]).filter((i) => i !== undefined)).size);
  const last = `layer4.${layers[3]! - 1}.${block === 'bottleneck' ? 'conv3' : 'conv2'}.weight`;
  const head = sd.get('layer6.conv2d_list.0.weight') ?? sd.get('layer5.conv2d_list.0.weight');
  return { block, layers, width: stem.shape[0]!, channels: sd.get(last)?.shape[0] ?? 0, headClasses: head?.shape[0] };
}

/** Class count and width of a D state dict (conv1: [ndf, classes, 4, 4]). */
export function describeDiscriminator(sd: ReadonlyMap<string, Shaped>): { numClasses: number; ndf: number } | undefined {
  const w = sd.get('conv1.weight') ?? sd.get(`${DP_PREFIX}conv1.weight`);
  return w && w.shape.length === 4 ? { numClasses: w.shape[1]!, ndf: w.shape[0]! } : undefined;
}

/**
 * Key lists for messages: grouped by top module ("layer5.* (8)"), a lone key by its name. `Scale.`/`module.`
 * stay part of the group name.
 */
export function summarizeKeys(keys: readonly string[]): string[] {
  const groups = new Map<string, string[]>();
  for (const k of keys) {
    const parts = k.split('.');
    const n = parts[0] === 'Scale' || parts[0] === 'module' ? 2 : 1;
    const g = parts.length > n ? `${parts.slice(0, n).join('.')}.*` : k;
    groups.set(g, [...(groups.get(g) ?? []), k]);
  }
  return [...groups].map(([g, ks]) => (ks.length === 1 ? ks[0]! : `${g} (${ks.length})`));
}
