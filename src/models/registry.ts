// Networks by backbone name: `createSegmentor('resnet101', 19)` (the names and specs are models/backbones.ts).
import { DeepLabSegmentor } from './deeplab.js';
import { DeepLabVGG } from './vgg.js';
import { MitSegmentor } from './segformer.js';
import { HrdaSegmentor } from './hrda-segmentor.js';
import { BACKBONES, isMit, isVgg, type ResNetName } from './backbones.js';

/** Every network implements Segmentor; the DeepLab ones name their heads layer5/layer6, the MiT ones decode_head. */
export type AnySegmentor = DeepLabSegmentor | DeepLabVGG | MitSegmentor | HrdaSegmentor;

/** A ResNet name gives the DeepLabSegmentor (tests reach into its layers); any other registered name one of the other segmentors. */
export function createSegmentor(backbone: ResNetName, numClasses: number): DeepLabSegmentor;
export function createSegmentor(backbone: string, numClasses: number): AnySegmentor;
export function createSegmentor(backbone: string, numClasses: number): AnySegmentor {
  const spec = BACKBONES.get(backbone);
  if (isMit(spec)) return spec.decoder === 'hrda' ? new HrdaSegmentor({ ...spec, numClasses }) : new MitSegmentor({ ...spec, numClasses });
  return isVgg(spec) ? new DeepLabVGG({ ...spec, numClasses }) : new DeepLabSegmentor({ ...spec, numClasses });
}
