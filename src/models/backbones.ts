// Backbones by name (timm style), as plain data: the config schema and the CLI read the names without loading the
// engine; models/registry.ts builds the network. A new backbone is one line here (docs/contributing.md).
import { Registry } from '../util/registry.js';
import type { MitConfig } from './mit.js';

/** The shape of a DeepLab-v2 ResNet generator (docs/method.md §1.1). */
export interface ResNetSpec {
  block: 'bottleneck' | 'basic';
  layers: [number, number, number, number]; // blocks per stage
  width: number;                            // stem/layer1 planes (64 official)
  stemPool?: boolean;                       // the stem's 3×3/2 max-pool (official: true); false → output stride 4
  asppDilations?: number[];                 // ASPP branch dilations (official [6, 12, 18, 24], sized for ~65×129 maps)
  numClasses: number;
}

/** The shape of a DeepLab-v2 VGG-16 generator (docs/method.md §1.6, AdaptSegNet model/deeplab_vgg.py). */
export interface VggSpec {
  arch: 'vgg16';
  width: number;                            // conv1 channels (64): stages w, 2w, 4w, 8w, 8w; fc6/fc7 16w (1024)
  asppDilations?: number[];                 // as ResNetSpec (official [6, 12, 18, 24])
  numClasses: number;
}

/**
 * A Mix Transformer (SegFormer's MiT) with a decode head (src/models/segformer.ts): DAFormer's context-aware fusion
 * head by default (lhoyer/DAFormer), or SegFormer's all-MLP head with `segformerEmbed` channels (768; 256 for b0/b1),
 * or HRDA's multi-resolution network (src/models/hrda-segmentor.ts: DAFormer heads fused by a scale attention).
 */
export interface MitSpec {
  arch: 'mit';
  mit: MitConfig;
  decoder: 'daformer' | 'segformer' | 'hrda';
  segformerEmbed?: number;
  decodeWidth?: number;      // DAFormer's head: embedding and fused channels (256); HRDA's scale attention's too; tests narrow it
  hrda?: HrdaSpec;           // decoder 'hrda' only
  numClasses: number;
}

/**
 * HRDA's multi-resolution set-up (lhoyer/HRDA configs/hrda/gtaHR2csHR_hrda.py): the context input at scales[0] of
 * the image, the detail input at scales[1]; the detail crop a `detailCrop` fraction of the image's height and width
 * (HRDA: 512 of 1024), its coordinates multiples of `divisible` (output stride 4 × the ratio 2, so that it falls on
 * whole context-feature pixels). At test time the detail windows have the crop's size and overlap by half.
 */
export interface HrdaSpec { scales: [lr: number, hr: number]; detailCrop: number; divisible: number }
export const HRDA_OFFICIAL: HrdaSpec = { scales: [0.5, 1], detailCrop: 0.5, divisible: 8 };

export type ResNetBackbone = Omit<ResNetSpec, 'numClasses'>;
export type VggBackbone = Omit<VggSpec, 'numClasses'>;
export type MitBackbone = Omit<MitSpec, 'numClasses'>;
export type BackboneSpec = ResNetBackbone | VggBackbone | MitBackbone;

export function isVgg(spec: BackboneSpec): spec is VggBackbone { return 'arch' in spec && spec.arch === 'vgg16'; }
export function isMit(spec: BackboneSpec): spec is MitBackbone { return 'arch' in spec && spec.arch === 'mit'; }

const RESNETS = {
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3], width: 64 }, // official CLAN (§1.1)
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3], width: 64 },
  resnet18: { block: 'basic', layers: [2, 2, 2, 2], width: 64 },       // 512 channels into the heads
  tiny: { block: 'bottleneck', layers: [1, 1, 1, 1], width: 8 },       // demo: same shape, 256 channels into the heads
  // demo (cpu preset): tiny without the stem max-pool, so 64×64 scenes give 16×16 features (OS 4) at native size.
  // ASPP dilations scaled to that map: with the official 18 and 24 every off-centre tap reads padding, and CLAN's
  // weight-discrepancy loss was met by those dead weights growing anti-parallel (README, "The cpu preset").
  'tiny-os4': { block: 'bottleneck', layers: [1, 1, 1, 1], width: 8, stemPool: false, asppDilations: [2, 4, 6, 8] },
  micro: { block: 'bottleneck', layers: [1, 1, 1, 1], width: 4 },      // parity fixtures: 128 channels
} satisfies Record<string, ResNetBackbone>;
/** The ResNet names: `createSegmentor` returns a DeepLabSegmentor for these (models/registry.ts). */
export type ResNetName = keyof typeof RESNETS;

export const BACKBONES = new Registry<BackboneSpec>('backbone');
for (const [name, spec] of Object.entries(RESNETS)) BACKBONES.register(name, spec);
BACKBONES.register('vgg16', { arch: 'vgg16', width: 64 }); // DeepLab-v2 VGG-16 (§1.6), 1024 channels into the heads

// SegFormer's MiT-b0…b5 (mmseg mix_transformer.py mit_b0…mit_b5: qkv bias, LayerNorm eps 1e-6, mlp ratio 4, sr 8/4/2/1,
// drop path 0.1) with DAFormer's decode head, as DAFormer/HRDA/MIC train them (mit-b5 there).
const MIT_WIDE = { embedDims: [64, 128, 320, 512], numHeads: [1, 2, 5, 8], srRatios: [8, 4, 2, 1], mlpRatio: 4, dropPathRate: 0.1 } satisfies Omit<MitConfig, 'depths'>;
const MITS: Record<string, MitConfig> = {
  'mit-b0': { ...MIT_WIDE, embedDims: [32, 64, 160, 256], depths: [2, 2, 2, 2] },
  'mit-b1': { ...MIT_WIDE, depths: [2, 2, 2, 2] },
  'mit-b2': { ...MIT_WIDE, depths: [3, 4, 6, 3] },
  'mit-b3': { ...MIT_WIDE, depths: [3, 4, 18, 3] },
  'mit-b4': { ...MIT_WIDE, depths: [3, 8, 27, 3] },
  'mit-b5': { ...MIT_WIDE, depths: [3, 6, 40, 3] },
};
for (const [name, mit] of Object.entries(MITS)) BACKBONES.register(name, { arch: 'mit', mit, decoder: 'daformer' });
// HRDA's network on each MiT (hrda-mit-b5 is HRDA's and MIC's official one): the same backbone and DAFormer head, the
// head run on a context and a detail input and fused by a learned scale attention (--method hrda trains it).
for (const [name, mit] of Object.entries(MITS)) BACKBONES.register(`hrda-${name}`, { arch: 'mit', mit, decoder: 'hrda', hrda: HRDA_OFFICIAL });
