// Methods by CLI name; JSON/summary keys use snake_case (source_only, adversarial, clan).
import { Registry } from '../util/registry.js';
import type { DeepLabGenerator } from '../models/deeplab.js';
import type { MethodConfig, UDAMethod, MethodKey } from './uda.js';
import { SourceOnly } from './source-only.js';
import { Clan } from './clan.js';
import { Adversarial } from './adversarial.js';

export type MethodFactory = (G: DeepLabGenerator, cfg: MethodConfig) => UDAMethod;
export const METHODS = new Registry<MethodFactory>('method');
METHODS.register('source-only', (G, c) => new SourceOnly(G, c));
METHODS.register('adversarial', (G, c) => new Adversarial(G, c));
METHODS.register('clan', (G, c) => new Clan(G, c));

export const METHOD_KEY: Record<string, MethodKey> = { 'source-only': 'source_only', adversarial: 'adversarial', clan: 'clan' };
