// Networks by backbone name: `createGenerator('resnet101', 19)` (the names and specs are models/backbones.ts).
import { DeepLabGenerator } from './deeplab.js';
import { GENERATORS } from './backbones.js';

export function createGenerator(backbone: string, numClasses: number): DeepLabGenerator {
  return new DeepLabGenerator({ ...GENERATORS.get(backbone), numClasses });
}
