// Networks by backbone name: `createGenerator('resnet101', 19)` (the names and specs are models/backbones.ts).
import { DeepLabGenerator } from './deeplab.js';
import { DeepLabVGG } from './vgg.js';
import { MitSegmentor } from './segformer.js';
import { HrdaSegmentor } from './hrda-segmentor.js';
import { GENERATORS, isMit, isVgg, type ResNetName } from './backbones.js';

/** Every generator implements Segmentor; the DeepLab ones name their heads layer5/layer6, the MiT ones decode_head. */
export type Generator = DeepLabGenerator | DeepLabVGG | MitSegmentor | HrdaSegmentor;

/** A ResNet name gives the DeepLabGenerator (tests reach into its layers); any other registered name a Generator. */
export function createGenerator(backbone: ResNetName, numClasses: number): DeepLabGenerator;
export function createGenerator(backbone: string, numClasses: number): Generator;
export function createGenerator(backbone: string, numClasses: number): Generator {
  const spec = GENERATORS.get(backbone);
  if (isMit(spec)) return spec.decoder === 'hrda' ? new HrdaSegmentor({ ...spec, numClasses }) : new MitSegmentor({ ...spec, numClasses });
  return isVgg(spec) ? new DeepLabVGG({ ...spec, numClasses }) : new DeepLabGenerator({ ...spec, numClasses });
}
