// mmsegmentation-era checkpoints (SegFormer's MiT, lhoyer/DAFormer, lhoyer/HRDA, lhoyer/MIC, all on mmseg 0.16) onto our
// MiT networks (models/segformer.ts, models/hrda-segmentor.ts), whose module names are mmseg's: host only, names and
// shapes checked against the network the caller builds (infer/mmseg.ts). Three layouts:
//
//   mit-imagenet  SegFormer's ImageNet encoders mit_b0…mit_b5.pth (DAFormer's `pretrained/mit_b5.pth`), a bare
//                 MixVisionTransformer state dict (sometimes under `state_dict`): patch_embed1.proj.weight,
//                 block1.0.attn.q.weight, …, norm4.bias and the ImageNet classifier head.weight/head.bias (dropped).
//                 → backbone.*; the decode head stays missing (an init for --init, not a model to evaluate).
//   segmentor     an EncoderDecoder state dict (backbone.*, decode_head.*): 1:1.
//   uda           a DAFormer / HRDA / MIC training checkpoint: `state_dict` holds the UDA module's networks,
//                 model.* (the trained segmentor), ema_model.* (its mean teacher), imnet_model.* (the frozen ImageNet
//                 encoder of the feature distance). mmseg's tools/test.py evaluates model.* (revise_keys 'model.'):
//                 that part by default, or another by choice; the rest is skipped with a note.
//
// What the evaluation of such a checkpoint needs (ImageNet normalisation, the test size and whole/slide mode) comes
// from the configs (mmsegEvalDefaults): the config text mmseg stores in meta.config when it is there, else the
// official gta2cs configs of DAFormer (1024×512, whole) and HRDA (2048×1024, slide 1024×1024 every 512).
import type { PickleValue } from './pickle.js';
import { mapWith, type ExpectedShapes, type Mapping, type Shaped } from './official.js';

export type MmsegLayout = 'mit-imagenet' | 'segmentor' | 'uda';
/** The networks of a UDA checkpoint (DACS's model, ema_model, imnet_model). */
export const MMSEG_PARTS = ['model', 'ema_model', 'imnet_model'] as const;
export type MmsegPart = (typeof MMSEG_PARTS)[number];
/** The decode head a file holds: DAFormer's, HRDA's (DAFormer heads + scale attention), SegFormer's, none (a bare encoder). */
export type MmsegDecoder = 'daformer' | 'hrda' | 'segformer' | 'none' | 'unknown';

export interface MmsegDescription {
  layout: MmsegLayout;
  /** uda: the top-level prefixes present (model, ema_model, imnet_model, …), in file order. */
  parts: string[];
  decoder: MmsegDecoder;
  /** The MiT read off the shapes: channels per stage, blocks per stage, sequence-reduction ratio per stage. */
  embedDims: number[]; depths: number[]; srRatios: number[];
  /** Classes of the segmentation classifier (conv_seg / linear_pred); absent for a bare encoder. */
  numClasses?: number;
}

const UDA = /^(model|ema_model|imnet_model)\.backbone\.patch_embed1\.proj\.weight$/;
const PART_NOTES: Record<string, string> = {
  model: 'model.* (the trained segmentor, what mmseg\'s test.py evaluates) not converted: pass part model for it',
  ema_model: 'ema_model.* (the mean teacher of the self-training) not converted: pass part ema_model to convert it instead',
  imnet_model: 'imnet_model.* (the frozen ImageNet encoder of DAFormer\'s feature distance) not converted',
};
const IMAGENET_HEAD = 'head.* (the ImageNet classifier of the encoder) has no counterpart in a segmentor: dropped';

/** Which layout a file's keys are in (undefined: none of the three). `module.` prefixes are ignored. */
export function mmsegLayout(keys: Iterable<string>): MmsegLayout | undefined {
  const ks = [...keys].map(stripDp);
  if (ks.some((k) => UDA.test(k))) return 'uda';
  if (ks.includes('backbone.patch_embed1.proj.weight')) return 'segmentor';
  if (ks.includes('patch_embed1.proj.weight')) return 'mit-imagenet';
  return undefined;
}

/** The file's `part` as a segmentor state dict in our names (uda: that prefix stripped; ImageNet: backbone.* added). */
function asSegmentor<T>(sd: ReadonlyMap<string, T>, layout: MmsegLayout, part: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k0, t] of sd) {
    const k = stripDp(k0);
    if (layout === 'uda') { if (k.startsWith(`${part}.`)) out.set(k.slice(part.length + 1), t); }
    else if (layout === 'mit-imagenet') { if (/^(patch_embed|block|norm)\d/.test(k)) out.set(`backbone.${k}`, t); }
    else out.set(k, t);
  }
  return out;
}

/** What a file holds (undefined: not an mmseg MiT layout, or `part` absent from a UDA checkpoint). */
export function describeMmseg(sd: ReadonlyMap<string, Shaped>, part: string = 'model'): MmsegDescription | undefined {
  const layout = mmsegLayout(sd.keys());
  if (layout === undefined) return undefined;
  const parts = layout === 'uda' ? [...new Set([...sd.keys()].map((k) => stripDp(k).split('.')[0]!))] : [];
  const seg = asSegmentor(sd, layout, part);
  if (!seg.has('backbone.patch_embed1.proj.weight')) return undefined;
  const embedDims: number[] = [], depths: number[] = [], srRatios: number[] = [];
  for (let s = 1; s <= 4; s++) {
    embedDims.push(seg.get(`backbone.patch_embed${s}.proj.weight`)?.shape[0] ?? 0);
    const blocks = [...seg.keys()].map((k) => new RegExp(`^backbone\\.block${s}\\.(\\d+)\\.`).exec(k)?.[1]).filter((b) => b !== undefined);
    depths.push(blocks.length ? Math.max(...blocks.map(Number)) + 1 : 0);
    srRatios.push(seg.get(`backbone.block${s}.0.attn.sr.weight`)?.shape[2] ?? 1);
  }
  const has = (p: string) => [...seg.keys()].some((k) => k.startsWith(p));
  const decoder: MmsegDecoder = !has('decode_head.') ? 'none' : has('decode_head.scale_attention.') ? 'hrda'
    : has('decode_head.linear_pred.') ? 'segformer' : has('decode_head.embed_layers.') ? 'daformer' : 'unknown';
  const cls = { hrda: 'decode_head.head.conv_seg.weight', daformer: 'decode_head.conv_seg.weight', segformer: 'decode_head.linear_pred.weight' } as Record<string, string>;
  const numClasses = cls[decoder] !== undefined ? seg.get(cls[decoder]!)?.shape[0] : undefined;
  return { layout, parts, decoder, embedDims, depths, srRatios, ...(numClasses !== undefined ? { numClasses } : {}) };
}

/**
 * A file in one of the three layouts → our network's names, every name and shape checked against `expected` (the
 * network's state dict). uda: `part`'s keys, the other parts skipped with a note; ImageNet: head.* skipped.
 */
export function fromMmseg<T extends Shaped>(sd: ReadonlyMap<string, T>, expected: ExpectedShapes, part: string = 'model'): Mapping<T> {
  const layout = mmsegLayout(sd.keys());
  return mapWith('mmseg', sd, expected, (key) => {
    if (layout === 'uda') {
      const top = key.split('.')[0]!;
      if (top === part) return key.slice(part.length + 1);
      return { skip: PART_NOTES[top] ?? `${top}.* is not part of the segmentor (${part}.*): not converted` };
    }
    if (layout === 'mit-imagenet') {
      if (key.startsWith('head.')) return { skip: IMAGENET_HEAD };
      return /^(patch_embed|block|norm)\d/.test(key) ? `backbone.${key}` : undefined;
    }
    return key;
  });
}

/** Class names and palette (mmcv's meta.CLASSES / meta.PALETTE) and the config text (meta.config) of a checkpoint. */
export interface MmsegMeta { classNames?: string[]; palette?: [number, number, number][]; config?: string }

/** Reads meta.* from readPthDetailed's `other` entries; anything malformed is left out (the caller's defaults apply). */
export function mmsegMeta(other: ReadonlyMap<string, PickleValue>): MmsegMeta {
  const out: MmsegMeta = {};
  const classes = other.get('meta.CLASSES');
  if (Array.isArray(classes) && classes.length > 0 && classes.every((c) => typeof c === 'string' && c.length <= 100)) out.classNames = classes as string[];
  const palette = other.get('meta.PALETTE');
  const rgb = (c: PickleValue): boolean => Array.isArray(c) && c.length === 3 && c.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255);
  if (Array.isArray(palette) && palette.length > 0 && palette.every(rgb)) out.palette = palette as [number, number, number][];
  const config = other.get('meta.config');
  if (typeof config === 'string') out.config = config;
  return out;
}

/** An inference mode as infer/inference.ts takes it (data/inference-spec.ts InferenceSpec), sizes [W, H]. */
export interface MmsegInference { mode: 'whole' | 'slide'; crop?: [number, number]; stride?: [number, number] }

/** How a checkpoint is evaluated: its input normalisation, test size [W, H], whole or slide, and where that came from. */
export interface MmsegEval { normalize: 'imagenet'; evalSize: [number, number]; inference: MmsegInference; from: 'config' | 'official' }

/** DAFormer's and HRDA's gta2cs test set-ups (configs/_base_/datasets/uda_gta*_to_cityscapes*.py, model test_cfg). */
const OFFICIAL_EVAL: Record<'daformer' | 'hrda', Omit<MmsegEval, 'normalize' | 'from'>> = {
  daformer: { evalSize: [1024, 512], inference: { mode: 'whole' } },
  hrda: { evalSize: [2048, 1024], inference: { mode: 'slide', crop: [1024, 1024], stride: [512, 512] } },
};

/**
 * The evaluation set-up of a checkpoint: from mmseg's config text when it holds the test pipeline's img_scale
 * (MultiScaleFlipAug, (W, H)) and model.test_cfg (mode, crop_size and stride as (H, W)), else the official config of
 * its decoder. Normalisation is always ImageNet's (img_norm_cfg of every DAFormer/HRDA/MIC config).
 */
export function mmsegEvalDefaults(decoder: MmsegDecoder, config?: string): MmsegEval {
  const official = OFFICIAL_EVAL[decoder === 'hrda' ? 'hrda' : 'daformer'];
  const parsed = config === undefined ? undefined : parseTestConfig(config);
  return { normalize: 'imagenet', ...(parsed ?? official), from: parsed ? 'config' : 'official' };
}

function parseTestConfig(text: string): Omit<MmsegEval, 'normalize' | 'from'> | undefined {
  const scale = /'MultiScaleFlipAug'\s*,\s*img_scale\s*=\s*[([]\s*(\d+)\s*,\s*(\d+)\s*[)\]]/.exec(text);
  const tc = /test_cfg\s*=\s*dict\(((?:[^()]|\([^()]*\))*)\)/.exec(text)?.[1];
  const mode = tc === undefined ? undefined : /mode\s*=\s*'(whole|slide)'/.exec(tc)?.[1];
  if (!scale || mode === undefined) return undefined;
  const evalSize: [number, number] = [Number(scale[1]), Number(scale[2])];
  if (mode === 'whole') return { evalSize, inference: { mode: 'whole' } };
  const hw = (k: string): [number, number] | undefined => {
    const m = new RegExp(`${k}\\s*=\\s*[([]\\s*(\\d+)\\s*,\\s*(\\d+)\\s*[)\\]]`).exec(tc!);
    return m ? [Number(m[2]), Number(m[1])] : undefined;                       // mmseg (h, w) → our [W, H]
  };
  const crop = hw('crop_size'), stride = hw('stride');
  return crop && stride ? { evalSize, inference: { mode: 'slide', crop, stride } } : undefined;
}

function stripDp(k: string): string { return k.startsWith('module.') ? k.slice('module.'.length) : k; }
