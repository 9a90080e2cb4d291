// Weights conversion (`clan convert IN OUT`): official CLAN snapshots, the DeepLab-v2 init and torchvision ResNets/VGG-16
// → our weights file (safetensors, keys G.<name> / D.<name>), every name and shape checked against the model it is meant for; and
// back to official names (--to official) for the PyTorch evaluator. Our own training checkpoints convert too
// (weights only: G and D, named by their header). Mapping rules: src/io/official.ts.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { HostTensor } from '../torch/dtype.js';
import { createSegmentor } from '../models/registry.js';
import { BACKBONES } from '../models/backbones.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { readPth } from '../io/pth.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.js';
import { mmsegLayout } from '../io/mmseg.js';
import { checkNumClasses, checkWeightsSeal, readCheckpoint, sealedMetadata, type CheckpointMeta } from '../io/checkpoint.js';
import {
  WEIGHTS_SOURCES, describeBackbone, describeDiscriminator, detectSource, expectedShapes,
  isDiscriminator, mapWeights, summarizeKeys, toOfficial, type Mapping,
} from '../io/official.js';
import { CheckpointError, UsageError } from '../util/errors.js';
import { isMit, isVgg, type BackboneSpec } from '../models/backbones.js';
import { stripPrefix } from '../util/prefix.js';

/** Where the weights come from: the three foreign layouts, or our own file (re-checked / exported). */
export const FROM = [...WEIGHTS_SOURCES, 'clan'] as const;
export type From = (typeof FROM)[number];
export const TO = ['clan', 'official', 'deeplab-init'] as const;
export type To = (typeof TO)[number];

const FORMAT = 'clan-weights';       // metadata.format of our weights files
const FEW = 6;                       // key lists up to this long are printed name by name

interface PartReport {
  mapped: number; missing: string[]; default_buffers: number; unexpected: string[]; skipped: string[];
  shape_mismatch: { key: string; expected: number[]; got: number[] }[];
}
export interface ConvertReport {
  input: string; output: string[]; source: From; to: To; backbone?: string; num_classes: number; ndf?: number;
  G?: PartReport; D?: PartReport; notes: string[];
}

/** A weights file as host tensors plus its safetensors metadata (empty for .pth); a training checkpoint's header. */
interface Weights { tensors: Map<string, HostTensor>; metadata: Record<string, string>; checkpoint?: CheckpointMeta }

function readWeights(path: string): Weights {
  if (!existsSync(path)) throw new CheckpointError(`${path}: no such file; expected a PyTorch checkpoint (.pth) or a .safetensors weights file`);
  const r = path.endsWith('.safetensors') ? readSafetensorsFile(path) : { tensors: readPth(path), metadata: {} };
  if (r.tensors.size === 0) throw new CheckpointError(`${path}: holds no tensors; expected a model state dict`);
  if (r.metadata.format === FORMAT) checkWeightsSeal(path, r.tensors, r.metadata);
  // A training checkpoint (docs/checkpoint.md): its seal is checked there, and its header says what G it holds.
  if (r.metadata.clan !== undefined) return { ...r, checkpoint: readCheckpoint(path).meta };
  return r;
}

/** Our own file: converted weights, a training checkpoint, or bare G./D. keys. */
function isOurs(w: Weights): boolean {
  return w.metadata.format === FORMAT || w.checkpoint !== undefined || [...w.tensors.keys()].every((k) => k.startsWith('G.') || k.startsWith('D.'));
}

/** What our own file says it was made for (converted weights: metadata strings; a checkpoint: its header). */
function ownModel(path: string, w: Weights): { backbone?: string; numClasses?: number } {
  if (w.checkpoint) {
    const { backbone, numClasses } = w.checkpoint;
    if (typeof backbone !== 'string') throw new CheckpointError(`${path}: header backbone ${JSON.stringify(backbone)}: expected a backbone name`);
    return { backbone, numClasses: checkNumClasses(path, numClasses) };
  }
  if (!isOurs(w)) return {};
  const k = w.metadata.num_classes;
  if (k !== undefined && !/^[1-9]\d{0,3}$/.test(k)) throw new CheckpointError(`${path}: metadata num_classes '${k}': expected a positive integer`);
  return { ...(w.metadata.backbone !== undefined ? { backbone: w.metadata.backbone } : {}),
    ...(k !== undefined ? { numClasses: Number(k) } : {}) };
}

const shapeStr = (s: readonly number[]): string => `[${s.join(', ')}]`;
const list = (keys: readonly string[]): string => (keys.length <= FEW ? keys : summarizeKeys(keys)).join(', ');

function partReport(m: Mapping): PartReport {
  return {
    mapped: m.mapped.size, missing: m.missing, default_buffers: m.defaultBuffers.length, unexpected: m.unexpected,
    skipped: m.skipped, shape_mismatch: m.shapeMismatch.map(({ key, expected, got }) => ({ key, expected, got })),
  };
}

export interface ConvertOptions {
  input: string; output: string;       // OUT: a .safetensors path
  from?: From;                         // detected when absent
  to: To;
  backbone?: string;                   // default: what our own files say, vgg16 for torchvision-vgg16, else resnet101
  numClasses?: number;                 // default: what our own files say, else 19
  discriminator?: string;              // a D snapshot to convert with a G
}

/** Converts IN into OUT (and OUT_D for an official D); every name and shape checked against the model. */
export function convertWeights(o: ConvertOptions): ConvertReport {
  const inW = readWeights(o.input);
  const own = ownModel(o.input, inW);                 // our own files say what they were made for; options still win
  const source: From | undefined = o.from ?? (isOurs(inW) ? 'clan' : detectSource(inW.tensors.keys()));
  if (source === undefined) {
    const mm = mmsegLayout(inW.tensors.keys());
    if (mm !== undefined) throw new UsageError(`${o.input}: an mmseg MiT checkpoint (${mm === 'uda' ? 'DAFormer/HRDA/MIC' : mm === 'segmentor' ? 'a SegFormer-style segmentor' : "SegFormer's ImageNet encoder"}); pass --from mmseg`);
    throw new UsageError(`${o.input}: cannot tell what kind of checkpoint this is (keys ${list([...inW.tensors.keys()])}: no 'Scale.' prefix, no layer6, no fc.weight, no features.0 with a classifier); pass --from ${WEIGHTS_SOURCES.join('|')}`);
  }
  const backbone = o.backbone ?? own.backbone ?? (source === 'torchvision-vgg16' ? 'vgg16' : 'resnet101');
  const spec = BACKBONES.get(backbone);
  const numClasses = o.numClasses ?? own.numClasses ?? 19;
  const { gIn, dIn, dName } = splitParts(o, inW, source);
  const report: ConvertReport = { input: o.input, output: [], source, to: o.to, num_classes: numClasses, notes: [] };
  const ck = inW.checkpoint;
  if (ck) report.notes.push(`training checkpoint (${ck.method}, step ${ck.step}): weights only, its optimizer state and run state are not written`);
  const out = new Map<string, HostTensor>(); // our names, G./D. prefixed
  const gMissing = gIn ? convertG(o.input, source, gIn, backbone, spec, numClasses, out, report) : [];
  if (dIn) convertD(dName, dIn, numClasses, out, report);
  const meta: Record<string, string> = {
    ...(report.backbone !== undefined ? { backbone } : {}), num_classes: String(numClasses),
    source: source === 'clan' ? inW.metadata.source ?? 'clan' : source, converted_from: basename(o.input),
    ...(report.ndf !== undefined ? { ndf: String(report.ndf) } : {}),
    ...(o.discriminator !== undefined ? { converted_from_d: basename(o.discriminator) } : {}),
    ...(gMissing.length ? { missing: summarizeKeys(gMissing).join(', ') } : {}),
  };
  writeOutputs(o, out, meta, report);
  return report;
}

/** IN's G and D state dicts (and where D came from): our prefixes, an official D snapshot, or --discriminator. */
function splitParts(o: ConvertOptions, inW: Weights,
  source: From): { gIn?: Map<string, HostTensor>; dIn?: Map<string, HostTensor>; dName: string } {
  let gIn: Map<string, HostTensor> | undefined; let dIn: Map<string, HostTensor> | undefined;
  let dName = o.input;
  if (source === 'clan') {
    gIn = stripPrefix(inW.tensors, 'G.'); dIn = stripPrefix(inW.tensors, 'D.'); // a checkpoint's optG./optD. stay behind
    if (gIn.size === 0) gIn = undefined;
    if (dIn.size === 0) dIn = undefined;
  } else if (source === 'official-clan' && isDiscriminator(inW.tensors.keys())) dIn = inW.tensors;
  else gIn = inW.tensors;
  if (o.discriminator !== undefined) {
    if (dIn !== undefined) throw new UsageError(`convert: ${o.input} already holds a D; --discriminator adds one to a G`);
    const dw = readWeights(o.discriminator);
    dIn = isOurs(dw) ? stripPrefix(dw.tensors, 'D.') : dw.tensors;
    if (!isDiscriminator(dIn.keys())) throw new CheckpointError(`${o.discriminator}: not a discriminator state dict; expected FCDiscriminator keys conv1..conv4, classifier`);
    dName = o.discriminator;
  }
  if (gIn === undefined && dIn === undefined) throw new CheckpointError(`${o.input}: holds no G. or D. tensors; expected a clan-weights file`);
  return { ...(gIn ? { gIn } : {}), ...(dIn ? { dIn } : {}), dName };
}

/** G mapped, checked and loaded into the model of `backbone`; its tensors into `out`; returns the missing keys. */
function convertG(input: string, source: From, gIn: Map<string, HostTensor>, backbone: string, spec: BackboneSpec, numClasses: number,
  out: Map<string, HostTensor>, report: ConvertReport): string[] {
  const G = createSegmentor(backbone, numClasses);
  try {
    const m = mapWeights(source === 'clan' ? 'official-clan' : source, gIn, expectedShapes(G.stateDict()), numClasses);
    checkG(input, source, m, backbone, spec, G.featureChannels, numClasses, BACKBONES);
    G.loadStateDict(m.mapped, false, `${input} (G)`);
    const own = G.stateDict();
    for (const k of [...m.mapped.keys(), ...m.defaultBuffers]) out.set(`G.${k}`, own.get(k)!.toHost());
    report.backbone = backbone; report.G = partReport(m); report.notes.push(...m.notes);
    return m.missing;
  } finally { G.dispose(); }
}

/** D checked as an FCDiscriminator of `numClasses` inputs (its width read from the file); its tensors into `out`. */
function convertD(dName: string, dIn: Map<string, HostTensor>, numClasses: number, out: Map<string, HostTensor>,
  report: ConvertReport): void {
  const d = describeDiscriminator(dIn);
  if (d === undefined) throw new CheckpointError(`${dName}: no conv1.weight [ndf, classes, 4, 4]; expected an FCDiscriminator state dict`);
  if (d.numClasses !== numClasses) throw new CheckpointError(`${dName}: checkpoint D takes ${d.numClasses} classes but --num-classes is ${numClasses}; pass --num-classes ${d.numClasses}`);
  const D = new FCDiscriminator(numClasses, d.ndf);
  try {
    const m = mapWeights('official-clan', dIn, expectedShapes(D.stateDict()));
    if (m.shapeMismatch.length || m.unexpected.length || m.missing.length) {
      throw new CheckpointError(`${dName}: not an FCDiscriminator(${numClasses}, ndf ${d.ndf}) state dict (${problems(m)})`);
    }
    D.loadStateDict(m.mapped, true, `${dName} (D)`);
    for (const [k, t] of D.stateDict()) out.set(`D.${k}`, t.toHost());
    report.ndf = d.ndf; report.D = partReport(m);
  } finally { D.dispose(); }
}

/** Our weights file (sealed), or official names: G to OUT, a D to OUT_D (like GTA5_<iter>_D.pth) or to OUT without a G. */
function writeOutputs(o: ConvertOptions, out: Map<string, HostTensor>, meta: Record<string, string>, report: ConvertReport): void {
  if (o.to === 'clan') {
    writeSafetensorsFile(o.output, out, sealedMetadata(out, { format: FORMAT, ...meta }));
    report.output.push(o.output);
    return;
  }
  const g = stripPrefix(out, 'G.'); const d = stripPrefix(out, 'D.');
  const dOut = g.size > 0 ? o.output.replace(/\.safetensors$/, '_D.safetensors') : o.output;
  const m = { format: 'official-names', layout: o.to, ...meta };
  if (g.size > 0) { writeSafetensorsFile(o.output, toOfficial(g, { initFormat: o.to === 'deeplab-init' }), m); report.output.push(o.output); }
  if (d.size > 0 && o.to === 'official') { writeSafetensorsFile(dOut, toOfficial(d), m); report.output.push(dOut); }
  if (d.size > 0 && o.to === 'deeplab-init') report.notes.push('the DeepLab init layout has no discriminator: D not written');
}

/** The report as `clan convert` prints it (one line per part, then notes). */
export function formatConvertReport(r: ConvertReport): string {
  const what = [r.backbone && `backbone ${r.backbone}`, `${r.num_classes} classes`, r.ndf && `D ndf ${r.ndf}`].filter(Boolean).join(', ');
  const lines = [`${r.input} (${r.source}) → ${r.output.join(', ')} [${what}]`];
  for (const [name, p] of [['G', r.G], ['D', r.D]] as const) {
    if (p === undefined) continue;
    lines.push(`${name}: ${p.mapped} mapped, ${p.missing.length} missing, ${p.unexpected.length} unexpected, ${p.skipped.length} skipped` +
      (p.default_buffers ? `; ${p.default_buffers} BN num_batches_tracked buffers left at default 0 (absent from the file)` : ''));
    if (p.missing.length) lines.push(`  missing (left to the model's init): ${list(p.missing)}`);
    if (p.skipped.length) lines.push(`  skipped: ${list(p.skipped)}`);
    if (p.unexpected.length) lines.push(`  unexpected (not written): ${list(p.unexpected)}`);
  }
  return [...lines, ...r.notes.map((n) => `note: ${n}`)].join('\n');
}

function problems(m: Mapping): string {
  const p: string[] = [];
  if (m.shapeMismatch.length) {
    const s = m.shapeMismatch[0]!;
    p.push(`shape mismatch for ${s.file}: expected ${shapeStr(s.expected)}, got ${shapeStr(s.got)}${m.shapeMismatch.length > 1 ? ` (and ${m.shapeMismatch.length - 1} more)` : ''}`);
  }
  if (m.missing.length) p.push(`missing ${list(m.missing)}`);
  if (m.unexpected.length) p.push(`unexpected ${list(m.unexpected)}`);
  return p.join('; ');
}

/**
 * Refuses a G mapping that does not fit, with the fix: the backbone (read off the file's shapes), the class
 * count, then any other mismatch. Official CLAN files must map 1:1; the others may leave keys missing.
 */
function checkG(input: string, source: From, m: Mapping, backbone: string, spec: BackboneSpec, channels: number, numClasses: number,
  registry: { names(): string[]; get(n: string): BackboneSpec }): void {
  // A VGG file (features.*) into a ResNet model; the other way round is caught below (describeBackbone reads ResNets).
  const vggName = registry.names().find((n) => isVgg(registry.get(n)));
  if (!isVgg(spec) && (source === 'torchvision-vgg16' || m.renamed.has('features.0.weight'))) {
    throw new CheckpointError(`${input}: holds a VGG (features.*) but backbone ${backbone} is a ResNet; pass --backbone ${vggName}`);
  }
  const file = describeBackbone(m.renamed);
  if (file !== undefined) {
    const match = registry.names().find((n) => {
      const s = registry.get(n);
      return !isVgg(s) && !isMit(s) && s.block === file.block && s.width === file.width && s.layers.every((c, i) => c === file.layers[i]);
    });
    const hint = match !== undefined ? `pass --backbone ${match}` : `no registered backbone matches (${file.block} blocks [${file.layers}], width ${file.width})`;
    if (file.channels !== channels) {
      throw new CheckpointError(`${input}: checkpoint has ${file.channels}-channel layer4 but backbone ${backbone} expects ${channels}; ${hint}`);
    }
    if (isMit(spec)) throw new CheckpointError(`${input}: checkpoint is a ResNet (${file.block} blocks [${file.layers}], width ${file.width}) but backbone ${backbone} is a Mix Transformer; ${hint}`);
    if (isVgg(spec)) throw new CheckpointError(`${input}: checkpoint is a ResNet (${file.block} blocks [${file.layers}], width ${file.width}) but backbone ${backbone} is a VGG; ${hint}`);
    if (file.block !== spec.block || file.width !== spec.width || file.layers.some((c, i) => c !== spec.layers[i])) {
      throw new CheckpointError(`${input}: checkpoint has ${file.block} blocks [${file.layers}] (width ${file.width}) but backbone ${backbone} has ${spec.block} [${spec.layers}] (width ${spec.width}); ${hint}`);
    }
  }
  const headClasses = (m.renamed.get('layer6.conv2d_list.0.weight') ?? m.renamed.get('layer5.conv2d_list.0.weight'))?.shape[0];
  const headsLoaded = source === 'official-clan' || source === 'clan';
  if (headsLoaded && headClasses !== undefined && headClasses !== numClasses) {
    throw new CheckpointError(`${input}: checkpoint has ${headClasses}-class heads (layer5/layer6) but --num-classes is ${numClasses}; pass --num-classes ${headClasses}`);
  }
  if (m.mapped.size === 0) {
    const detected = detectSource(m.unexpected);
    throw new CheckpointError(`${input}: no tensor maps onto our G as ${source} (${m.unexpected.length ? `keys ${list(m.unexpected)}` : 'no G tensors in the file'})` +
      (detected !== undefined && detected !== source ? `; it looks like ${detected}: pass --from ${detected}` : ''));
  }
  const exact = source === 'official-clan' || source === 'clan';
  if (m.shapeMismatch.length || (exact && (m.missing.length || m.unexpected.length))) {
    throw new CheckpointError(`${input}: does not fit backbone ${backbone} with ${numClasses} classes as ${source} (${problems(m)})`);
  }
}
