// What the benchmark subcommands share: the Bench shape bench.ts dispatches on, the backbone flag, and the speed
// flags of step and eval.
import { intFlag, str, boolFlag, type Options, type Parsed } from '../args.js';
import { BACKBONES } from '../../models/backbones.js';

/** One `clan bench SUB`: its --help section, its flags, and what it runs (JSON lines through `emit`). */
export interface Bench {
  name: string;
  usage: string;
  options: Options;
  run(p: Parsed, emit: (line: object) => void): Promise<void> | void;
}

/** --backbone, checked against the registry ("did you mean" for a typo). */
export function backboneFlag(p: Parsed, def: string): string {
  const b = str(p, 'backbone') ?? def;
  BACKBONES.get(b);
  return b;
}

/** --pointwise-onednn, --twin-pointwise-onednn, --profile N, --trace FILE of bench step and eval. */
export const SPEED_OPTIONS: Options = {
  'pointwise-onednn': { type: 'boolean' }, 'twin-pointwise-onednn': { type: 'boolean' }, profile: { type: 'string' }, trace: { type: 'string' },
};
export function speedFlags(p: Parsed): { pointwiseOnednn: boolean; twinPointwise: boolean; profile: number; trace?: string } {
  const trace = str(p, 'trace');
  const profile = str(p, 'profile') === undefined ? (trace ? 3 : 0) : intFlag('bench', 'profile', str(p, 'profile'), 3, 0);
  return { pointwiseOnednn: boolFlag(p, 'pointwise-onednn'), twinPointwise: boolFlag(p, 'twin-pointwise-onednn'), profile, ...(trace ? { trace } : {}) };
}
