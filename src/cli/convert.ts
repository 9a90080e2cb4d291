// `clan convert IN OUT`: official CLAN snapshots, the DeepLab-v2 init and torchvision ResNets/VGG-16 → our weights file
// (safetensors, keys G.<name> / D.<name>), every name and shape checked against the model it is meant for; and
// back to official names (--to official) for the PyTorch evaluator. Our own training checkpoints convert too
// (weights only: G and D, named by their header). Mapping rules: src/io/official.ts.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { HostTensor } from '../torch/dtype.js';
import { readPth } from '../io/pth.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../io/safetensors.js';
import { checkNumClasses, checkWeightsSeal, readCheckpoint, sealedMetadata, type CheckpointMeta } from '../io/checkpoint.js';
import {
  OFFICIAL_LOAD_SNIPPET, WEIGHTS_SOURCES, describeBackbone, describeDiscriminator, detectSource, expectedShapes,
  isDiscriminator, mapWeights, summarizeKeys, toOfficial, type Mapping,
} from '../io/official.js';
import { CheckpointError, UsageError } from '../util/errors.js';
import { didYouMean } from '../util/registry.js';
import { isMit, isVgg, type BackboneSpec } from '../models/backbones.js';
import { intFlag, parse, str, type Command } from './args.js';
import { stripPrefix } from '../util/prefix.js';

/** Where the weights come from: the three foreign layouts, or our own file (re-checked / exported). */
const FROM = [...WEIGHTS_SOURCES, 'clan'] as const;
type From = (typeof FROM)[number];
const TO = ['clan', 'official', 'deeplab-init'] as const;
type To = (typeof TO)[number];

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

function choice<T extends string>(flag: string, v: string | undefined, known: readonly T[]): T | undefined {
  if (v === undefined) return undefined;
  if ((known as readonly string[]).includes(v)) return v as T;
  throw new UsageError(`convert: unknown --${flag} '${v}'${didYouMean(v, known)}; expected one of: ${known.join(', ')}`);
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
function ownModel(path: string, w: Weights): { backbone?: string; numClasses?: string } {
  if (w.checkpoint) {
    const { backbone, numClasses } = w.checkpoint;
    if (typeof backbone !== 'string') throw new CheckpointError(`${path}: header backbone ${JSON.stringify(backbone)}: expected a backbone name`);
    return { backbone, numClasses: String(checkNumClasses(path, numClasses)) };
  }
  return isOurs(w) ? { backbone: w.metadata.backbone, numClasses: w.metadata.num_classes } : {};
}

const shapeStr = (s: readonly number[]): string => `[${s.join(', ')}]`;
const list = (keys: readonly string[]): string => (keys.length <= FEW ? keys : summarizeKeys(keys)).join(', ');

function partReport(m: Mapping): PartReport {
  return {
    mapped: m.mapped.size, missing: m.missing, default_buffers: m.defaultBuffers.length, unexpected: m.unexpected,
    skipped: m.skipped, shape_mismatch: m.shapeMismatch.map(({ key, expected, got }) => ({ key, expected, got })),
  };
}

export const convert: Command = {
  name: 'convert',
  summary: 'convert official CLAN / DeepLab-init / torchvision weights, or our checkpoints, to our weights (and back to official names)',
  usage: `usage: clan convert IN OUT [--from official-clan|deeplab-init|torchvision-resnet|torchvision-vgg16|clan]
                   [--to clan|official|deeplab-init] [--backbone resnet101] [--num-classes 19]
                   [--discriminator D_IN] [--json]

Reads IN (.pth of any torch version, or .safetensors), maps its names onto our DeepLab-v2 G (and FCDiscriminator
D), checks every name and shape against the model of --backbone, and writes OUT as safetensors.

  --from            what IN is; detected when absent:
                      deeplab-init        DeepLab_resnet_pretrained_init-f81d91e8.pth ('Scale.' keys); layer5 is
                                          dropped for 19 classes as CLAN_train.py does, layer5/layer6 stay missing
                      official-clan       GTA5_<iter>.pth (has layer6) or GTA5_<iter>_D.pth (a D), 1:1
                      torchvision-resnet  torchvision ResNet (has fc.weight); fc dropped, heads missing. NOTE: a
                                          different network (stride on conv2, no dilation): fine-tune before use
                      torchvision-vgg16   torchvision VGG-16 (vgg16-397923af.pth; features.N and a Linear
                                          classifier) into --backbone vgg16 (the default for this source): the 13
                                          convs renumbered past the removed pool4; the classifier dropped, fc6/fc7
                                          and the heads start from their init, as AdaptSegNet's deeplab_vgg.py
                      clan                our own weights file (G./D. keys), or a training checkpoint
                                          (RUN/checkpoints/ckpt_N.safetensors): its G and D, without the
                                          optimizer and run state; backbone and classes from its header
  --to              clan (default): our weights file, keys G.<name> and D.<name>, metadata format=clan-weights
                    official: official names (G; a D goes to OUT with _D before .safetensors), for PyTorch:
${OFFICIAL_LOAD_SNIPPET.split('\n').map((l) => `                        ${l}`).join('\n')}
                    deeplab-init: G with the 'Scale.' prefix of the DeepLab init
  --backbone        resnet101 (official), resnet50, resnet18, tiny, micro, vgg16 (default: what our own files say,
                    vgg16 for torchvision-vgg16, else resnet101)
  --num-classes     classes of the heads and of D's input (default: what our own files say, else 19)
  --discriminator   also convert this D snapshot (GTA5_<iter>_D.pth); its ndf is read from the file
  --json            print one JSON object on stdout instead of the report

Keys the file does not provide are listed as missing and left out of OUT (the model's init fills them); BN
num_batches_tracked counters absent from pre-0.4.1 files are written as 0.`,

  async run(argv) {
    const p = parse('convert', argv, {
      from: { type: 'string' }, to: { type: 'string' }, backbone: { type: 'string' }, 'num-classes': { type: 'string' },
      discriminator: { type: 'string' }, json: { type: 'boolean' },
    }, true);
    const { values, positionals } = p;
    if (values.help) { console.log(this.usage); return 0; }
    if (positionals.length !== 2) throw new UsageError(`convert: expected IN and OUT, got ${positionals.length} argument(s) (see 'clan convert --help')`);
    const [input, output] = positionals as [string, string];
    const fromFlag = choice('from', str(p, 'from'), FROM);
    const to = choice('to', str(p, 'to'), TO) ?? 'clan';
    const dInput = str(p, 'discriminator');
    if (!output.endsWith('.safetensors')) throw new UsageError(`convert: OUT must end in .safetensors (got '${output}'); see --help for loading it in PyTorch`);
    // The engine (and with it the addon) loads only now, so `clan convert --help` stays instant.
    const { createGenerator } = await import('../models/registry.js');
    const { GENERATORS } = await import('../models/backbones.js');
    const { FCDiscriminator } = await import('../models/discriminator.js');
    const inW = readWeights(input);
    // Our own files say what they were made for; flags still win.
    const own = ownModel(input, inW);
    const source: From | undefined = fromFlag ?? (isOurs(inW) ? 'clan' : detectSource(inW.tensors.keys()));
    if (source === undefined) {
      throw new UsageError(`${input}: cannot tell what kind of checkpoint this is (keys ${list([...inW.tensors.keys()])}: no 'Scale.' prefix, no layer6, no fc.weight, no features.0 with a classifier); pass --from ${WEIGHTS_SOURCES.join('|')}`);
    }
    const backbone = str(p, 'backbone') ?? own.backbone ?? (source === 'torchvision-vgg16' ? 'vgg16' : 'resnet101');
    const spec = GENERATORS.get(backbone);
    const numClasses = intFlag('convert', 'num-classes', values['num-classes'] ?? own.numClasses, 19);
    // Split IN into the G and D state dicts it holds.
    let gIn: Map<string, HostTensor> | undefined; let dIn: Map<string, HostTensor> | undefined;
    let dName = input;
    if (source === 'clan') {
      gIn = stripPrefix(inW.tensors, 'G.'); dIn = stripPrefix(inW.tensors, 'D.'); // a checkpoint's optG./optD. stay behind
      if (gIn.size === 0) gIn = undefined;
      if (dIn.size === 0) dIn = undefined;
    } else if (source === 'official-clan' && isDiscriminator(inW.tensors.keys())) dIn = inW.tensors;
    else gIn = inW.tensors;
    if (dInput !== undefined) {
      if (dIn !== undefined) throw new UsageError(`convert: ${input} already holds a D; --discriminator adds one to a G`);
      const dw = readWeights(dInput);
      dIn = isOurs(dw) ? stripPrefix(dw.tensors, 'D.') : dw.tensors;
      if (!isDiscriminator(dIn.keys())) throw new CheckpointError(`${dInput}: not a discriminator state dict; expected FCDiscriminator keys conv1..conv4, classifier`);
      dName = dInput;
    }

    if (gIn === undefined && dIn === undefined) throw new CheckpointError(`${input}: holds no G. or D. tensors; expected a clan-weights file`);
    const report: ConvertReport = { input, output: [], source, to, num_classes: numClasses, notes: [] };
    const ck = inW.checkpoint;
    if (ck) report.notes.push(`training checkpoint (${ck.method}, step ${ck.step}): weights only, its optimizer state and run state are not written`);
    const out = new Map<string, HostTensor>(); // our names, G./D. prefixed
    let gMissing: string[] = [];

    if (gIn !== undefined) {
      const G = createGenerator(backbone, numClasses);
      try {
        const expected = expectedShapes(G.stateDict());
        const m = mapWeights(source === 'clan' ? 'official-clan' : source, gIn, expected, numClasses);
        checkG(input, source, m, backbone, spec, G.featureChannels, numClasses, GENERATORS);
        G.loadStateDict(m.mapped, false, `${input} (G)`);
        const own = G.stateDict();
        for (const k of [...m.mapped.keys(), ...m.defaultBuffers]) out.set(`G.${k}`, own.get(k)!.toHost());
        report.backbone = backbone; report.G = partReport(m); report.notes.push(...m.notes);
        gMissing = m.missing;
      } finally { G.dispose(); }
    }
    if (dIn !== undefined) {
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

    // Write.
    const meta: Record<string, string> = {
      ...(report.backbone !== undefined ? { backbone } : {}), num_classes: String(numClasses),
      source: source === 'clan' ? inW.metadata.source ?? 'clan' : source, converted_from: basename(input),
    };
    if (report.ndf !== undefined) meta.ndf = String(report.ndf);
    if (dInput !== undefined) meta.converted_from_d = basename(dInput);
    if (gMissing.length) meta.missing = summarizeKeys(gMissing).join(', ');
    if (to === 'clan') {
      writeSafetensorsFile(output, out, sealedMetadata(out, { format: FORMAT, ...meta }));
      report.output.push(output);
    } else {
      // Official names: G to OUT; a D to OUT_D (like GTA5_<iter>_D.pth), or to OUT when there is no G.
      const g = stripPrefix(out, 'G.'); const d = stripPrefix(out, 'D.');
      const dOut = g.size > 0 ? output.replace(/\.safetensors$/, '_D.safetensors') : output;
      const m = { format: 'official-names', layout: to, ...meta };
      if (g.size > 0) { writeSafetensorsFile(output, toOfficial(g, { initFormat: to === 'deeplab-init' }), m); report.output.push(output); }
      if (d.size > 0 && to === 'official') { writeSafetensorsFile(dOut, toOfficial(d), m); report.output.push(dOut); }
      if (d.size > 0 && to === 'deeplab-init') report.notes.push('the DeepLab init layout has no discriminator: D not written');
    }

    if (values.json) { console.log(JSON.stringify(report)); return 0; }
    const what = [report.backbone && `backbone ${report.backbone}`, `${numClasses} classes`, report.ndf && `D ndf ${report.ndf}`].filter(Boolean).join(', ');
    console.log(`${input} (${source}) → ${report.output.join(', ')} [${what}]`);
    for (const [name, r] of [['G', report.G], ['D', report.D]] as const) {
      if (r === undefined) continue;
      console.log(`${name}: ${r.mapped} mapped, ${r.missing.length} missing, ${r.unexpected.length} unexpected, ${r.skipped.length} skipped` +
        (r.default_buffers ? `; ${r.default_buffers} BN num_batches_tracked buffers left at default 0 (absent from the file)` : ''));
      if (r.missing.length) console.log(`  missing (left to the model's init): ${list(r.missing)}`);
      if (r.skipped.length) console.log(`  skipped: ${list(r.skipped)}`);
      if (r.unexpected.length) console.log(`  unexpected (not written): ${list(r.unexpected)}`);
    }
    for (const n of report.notes) console.log(`note: ${n}`);
    return 0;
  },
};

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
