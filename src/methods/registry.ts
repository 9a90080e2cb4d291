// Methods by name (timm style), loaded on first use: the config schema and the CLI read the names, keys and
// summaries without loading the engine. A new method is one file with a UDAMethod subclass plus one entry here
// (docs/contributing.md). `key` is the snake_case name that JSON summaries and reports use.
import { Registry } from '../util/registry.js';
import type { Segmentor } from '../models/segmentor.js';
import type { HyperSection, MethodConfig } from './config.js';
import type { UDAMethod } from './uda.js';

export type MethodClass = new (G: Segmentor, cfg: MethodConfig) => UDAMethod;

export interface MethodEntry {
  key: string;                        // JSON/report key (snake_case)
  label: string;                      // display name in tables and the report
  summary: string;                    // one line for --help and docs
  section?: HyperSection;             // the `hyper:` section this method owns (methods/config.ts), if any
  reads: HyperSection[];              // the sections it reads besides the common keys (its own included)
  load: () => Promise<MethodClass>;   // imports the method's module
}

export const METHODS = new Registry<MethodEntry>('method');
METHODS.register('source-only', { key: 'source_only', label: 'Source only', summary: 'G on labelled source images only (the lower bound)', reads: [],
  load: async () => (await import('./source-only.js')).SourceOnly });
METHODS.register('adversarial', { key: 'adversarial', label: 'Adversarial', summary: 'output-space adversarial training (AdaptSegNet single-level)',
  section: 'adversarial', reads: ['adversarial'],
  load: async () => (await import('./adversarial.js')).Adversarial });
METHODS.register('clan', { key: 'clan', label: 'CLAN', summary: 'adversarial + per-pixel C1/C2 disagreement weighting + weight discrepancy',
  section: 'clan', reads: ['adversarial', 'clan'],
  load: async () => (await import('./clan.js')).Clan });
METHODS.register('minent', { key: 'minent', label: 'MinEnt', summary: 'source L_seg + λ_ent · entropy of the target prediction (ADVENT MinEnt)',
  section: 'minent', reads: ['minent'],
  load: async () => (await import('./minent.js')).MinEnt });
METHODS.register('advent', { key: 'advent', label: 'AdvEnt', summary: 'adversarial training on self-information maps −p·log p instead of p (ADVENT AdvEnt)',
  reads: ['adversarial'],
  load: async () => (await import('./advent.js')).AdvEnt });
METHODS.register('dacs', { key: 'dacs', label: 'DACS', summary: 'ClassMix source pixels onto target images, pseudo-labels from a mean teacher (DACS; self-training without rounds)',
  section: 'dacs', reads: ['dacs'],
  load: async () => (await import('./dacs.js')).Dacs });
METHODS.register('cotrain', { key: 'cotrain', label: 'Co-training', summary: 'self-training round: source L_seg + C1 on C2\'s and C2 on C1\'s confident target pseudo-labels (clan selftrain)',
  section: 'cotrain', reads: ['cotrain'],
  load: async () => (await import('./cotrain.js')).CoTrain });
METHODS.register('clan-cotrain', { key: 'cotrain_clan', label: 'Co-training + CLAN losses', summary: 'self-training round with CLAN\'s losses on top: the CLAN iteration + C1 on C2\'s and C2 on C1\'s pseudo-labels (clan selftrain --method clan-cotrain)',
  reads: ['adversarial', 'clan', 'cotrain'],
  load: async () => (await import('./clan-cotrain.js')).ClanCoTrain });
METHODS.register('hrda', { key: 'hrda', label: 'HRDA', summary: 'DACS self-training on HRDA\'s network: a context input and a detail crop fused by a learned scale attention, high-resolution pseudo-labels (--backbone hrda-mit-b5)',
  section: 'hrda', reads: ['dacs', 'hrda'],
  load: async () => (await import('./hrda.js')).Hrda });
METHODS.register('daformer', { key: 'daformer', label: 'DAFormer', summary: 'DACS self-training on a Mix Transformer with DAFormer\'s strategies: colour jitter and blur of the mixed images, AdamW with warm-up, thing-class feature distance to the --init encoder (--preset daformer)',
  section: 'daformer', reads: ['dacs', 'daformer'],
  load: async () => (await import('./daformer.js')).Daformer });
METHODS.register('mic', { key: 'mic', label: 'MIC', summary: 'DACS + masked image consistency: G also learns the target image with random blocks masked out against the teacher\'s labels of the whole image (MIC)',
  section: 'mic', reads: ['dacs', 'mic'],
  load: async () => (await import('./mic.js')).Mic });
METHODS.register('mic-hrda', { key: 'mic_hrda', label: 'MIC (HRDA)', summary: 'MIC\'s masked image consistency on HRDA\'s self-training (--backbone hrda-mit-b5; the paper\'s best set-up)',
  reads: ['dacs', 'hrda', 'mic'],
  load: async () => (await import('./mic.js')).MicHrda });
METHODS.register('mic-daformer', { key: 'mic_daformer', label: 'MIC (DAFormer)', summary: 'MIC\'s masked image consistency on DAFormer\'s self-training (--preset daformer --method mic-daformer)',
  reads: ['dacs', 'daformer', 'mic'],
  load: async () => (await import('./mic.js')).MicDaformer });

/** The methods that read `section` (its owner first), for messages and --help. */
export function readersOf(section: HyperSection): string[] {
  const all = METHODS.names().filter((n) => METHODS.get(n).reads.includes(section));
  const owner = METHODS.names().find((n) => METHODS.get(n).section === section);
  return owner ? [owner, ...all.filter((n) => n !== owner)] : all;
}

/** Creates the method registered as `name` around G (UsageError with a suggestion for an unknown name). */
export async function createMethod(name: string, G: Segmentor, cfg: MethodConfig): Promise<UDAMethod> {
  const Method = await METHODS.get(name).load();
  return new Method(G, cfg);
}
