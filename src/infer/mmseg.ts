// `clan convert --from mmseg`: SegFormer's ImageNet MiT encoders and the official DAFormer / HRDA / MIC checkpoints
// → our weights file (safetensors, G.<name>, format clan-weights), checked name by name and shape by shape against
// the registered network whose shapes they have (mit-b0…b5 with DAFormer's head, hrda-mit-b0…b5), and carrying
// what their evaluation needs: ImageNet normalisation, the test size and whole/slide mode of their config, the class
// names and palette of their meta. Mapping and layouts: io/mmseg.ts; reading it back: infer/model.ts.
import { basename } from 'node:path';
import type { HostTensor } from '../torch/dtype.js';
import { readPthDetailed } from '../io/pth.js';
import { writeSafetensorsFile } from '../io/safetensors.js';
import { sealedMetadata } from '../io/checkpoint.js';
import { expectedShapes, summarizeKeys, type Mapping } from '../io/official.js';
import { MMSEG_PARTS, describeMmseg, fromMmseg, mmsegEvalDefaults, mmsegLayout, mmsegMeta, type MmsegDescription, type MmsegEval, type MmsegLayout } from '../io/mmseg.js';
import { BACKBONES, isMit, type BackboneSpec } from '../models/backbones.js';
import { createSegmentor } from '../models/registry.js';
import type { Segmentor } from '../models/segmentor.js';
import { checkInferenceSpec, type InferenceSpec } from '../data/inference-spec.js';
import { CheckpointError, UsageError } from '../util/errors.js';

/** Where backbone names resolve (the registered networks; tests pass narrow ones). */
export interface NetworkRegistry { names(): string[]; get(name: string): BackboneSpec; create(name: string, numClasses: number): Segmentor }
export const REGISTERED_NETWORKS: NetworkRegistry = { names: () => BACKBONES.names(), get: (n) => BACKBONES.get(n),
  create: createSegmentor };

export interface ConvertMmsegOptions {
  // which network of a DAFormer/HRDA/MIC checkpoint: model (default, as mmseg's test.py), ema_model, imnet_model
  part?: string;
  backbone?: string;                  // default: the registered network the shapes match
  numClasses?: number;                // an ImageNet encoder's: classes of the head left at its init (default 19)
  evalSize?: [number, number];        // [W, H]; default: the checkpoint's config
  inference?: InferenceSpec;          // default: the checkpoint's config
  networks?: NetworkRegistry;
}

export interface ConvertMmsegReport {
  input: string; output: string; source: 'mmseg'; layout: MmsegLayout; part?: string; decoder: MmsegDescription['decoder'];
  backbone: string; num_classes: number; mapped: number; missing: string[]; default_buffers: number; skipped: string[];
  eval: MmsegEval; class_names?: string[]; notes: string[];
}

/** Converts `input` (.pth) into our weights file `output` (.safetensors); CheckpointError/UsageError naming the problem. */
export function convertMmseg(input: string, output: string, o: ConvertMmsegOptions = {}): ConvertMmsegReport {
  if (!output.endsWith('.safetensors')) throw new UsageError(`convert: OUT must end in .safetensors (got '${output}')`);
  const { tensors, other } = readPthDetailed(input);
  const layout = mmsegLayout(tensors.keys());
  if (layout === undefined) {
    throw new CheckpointError(`${input}: not an mmseg MiT checkpoint: expected patch_embed1.proj.weight (SegFormer's mit_b*.pth), backbone.patch_embed1.proj.weight (a segmentor) or model.backbone.patch_embed1.proj.weight (DAFormer/HRDA/MIC)`);
  }
  const part = layout === 'uda' ? o.part ?? 'model' : undefined;
  if (o.part !== undefined && layout !== 'uda') throw new UsageError(`convert: --part picks a network of a DAFormer/HRDA/MIC checkpoint (${MMSEG_PARTS.join(', ')}); ${input} is ${layout === 'mit-imagenet' ? 'an ImageNet encoder' : 'a single segmentor'}`);
  const desc = describeMmseg(tensors, part);
  if (desc === undefined) throw new CheckpointError(`${input}: has no ${part}.* network; it holds ${[...new Set([...tensors.keys()].map((k) => k.split('.')[0]))].join(', ')}`);
  const networks = o.networks ?? REGISTERED_NETWORKS;
  const backbone = o.backbone ?? matchNetwork(input, desc, networks);
  const numClasses = classesOf(input, desc, o.numClasses);
  const G = networks.create(backbone, numClasses);
  try {
    const m = fromMmseg(tensors, expectedShapes(G.stateDict()), part);
    checkMapping(input, m, desc, backbone, numClasses, G, part);
    G.loadStateDict(m.mapped, false, input);
    const own = G.stateDict();
    const out = new Map<string, HostTensor>([...m.mapped.keys(), ...m.defaultBuffers].map((k) => [`G.${k}`, own.get(k)!.toHost()]));
    const meta = mmsegMeta(other);
    const ev = evalOf(desc, meta.config, o);
    const names = meta.classNames?.length === numClasses ? meta.classNames : undefined;
    const palette = meta.palette?.length === numClasses ? meta.palette : undefined;
    const md: Record<string, string> = {
      format: 'clan-weights', backbone, num_classes: String(numClasses), source: 'mmseg', converted_from: basename(input), layout,
      ...(part !== undefined ? { part } : {}), ...(m.missing.length ? { missing: summarizeKeys(m.missing).join(', ') } : {}),
      normalize: ev.normalize, eval_size: `${ev.evalSize[0]}x${ev.evalSize[1]}`, inference: JSON.stringify(ev.inference),
      ...(names ? { class_names: JSON.stringify(names) } : {}), ...(palette ? { palette: JSON.stringify(palette) } : {}),
    };
    writeSafetensorsFile(output, out, sealedMetadata(out, md));
    const notes = [...m.notes];
    if (layout === 'mit-imagenet') notes.push('an ImageNet encoder: the decode head is left to its init; use the file as --init, not for clan eval');
    return { input, output, source: 'mmseg', layout, ...(part !== undefined ? { part } : {}), decoder: desc.decoder, backbone, num_classes: numClasses,
      mapped: m.mapped.size, missing: m.missing, default_buffers: m.defaultBuffers.length, skipped: m.skipped, eval: ev,
      ...(names ? { class_names: names } : {}), notes };
  } finally { G.dispose(); }
}

/** The report as `clan convert --from mmseg` prints it. */
export function formatMmsegReport(r: ConvertMmsegReport): string {
  const inf = r.eval.inference;
  const mode = inf.mode === 'slide' ? `slide ${inf.crop!.join('x')} every ${inf.stride!.join('x')}` : 'whole';
  const lines = [
    `${r.input} (mmseg ${r.layout}${r.part !== undefined ? `, ${r.part}` : ''}) → ${r.output} [backbone ${r.backbone}, ${r.num_classes} classes]`,
    `G: ${r.mapped} mapped, ${r.missing.length} missing, ${r.skipped.length} skipped` + (r.default_buffers ? `; ${r.default_buffers} buffers left at default` : ''),
    `eval: ${r.eval.normalize} normalisation, ${r.eval.evalSize.join('x')}, ${mode} (from the ${r.eval.from === 'config' ? "checkpoint's config" : 'official gta2cs config'})`,
  ];
  if (r.missing.length) lines.push(`  missing (left to the model's init): ${summarizeKeys(r.missing).join(', ')}`);
  if (r.skipped.length) lines.push(`  skipped: ${summarizeKeys(r.skipped).join(', ')}`);
  return [...lines, ...r.notes.map((n) => `note: ${n}`)].join('\n');
}

/** The registered MiT network with the file's stage widths, depths and reduction ratios, and its decoder. */
function matchNetwork(input: string, d: MmsegDescription, networks: NetworkRegistry): string {
  if (d.decoder === 'segformer') throw new CheckpointError(`${input}: has SegFormer's all-MLP head (decode_head.linear_pred): not one of our networks (mit-b*: DAFormer's head, hrda-mit-b*: HRDA's)`);
  if (d.decoder === 'unknown') throw new CheckpointError(`${input}: its decode_head is neither DAFormer's (embed_layers, fuse_layer) nor HRDA's (head, scale_attention)`);
  const decoder = d.decoder === 'hrda' ? 'hrda' : 'daformer';
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  const found = networks.names().find((n) => {
    const s = networks.get(n);
    return isMit(s) && s.decoder === decoder && same(s.mit.embedDims, d.embedDims) && same(s.mit.depths, d.depths)
      && same(s.mit.srRatios, d.srRatios);
  });
  if (found === undefined) throw new CheckpointError(`${input}: no registered ${decoder === 'hrda' ? 'HRDA' : 'MiT'} network has stage widths [${d.embedDims}], depths [${d.depths}] and reduction ratios [${d.srRatios}]`);
  return found;
}

function classesOf(input: string, d: MmsegDescription, flag: number | undefined): number {
  if (d.numClasses === undefined) return flag ?? 19;
  if (flag !== undefined && flag !== d.numClasses) throw new UsageError(`convert: ${input} has a ${d.numClasses}-class head but --num-classes is ${flag}; pass --num-classes ${d.numClasses}`);
  return d.numClasses;
}

/** A segmentor maps 1:1; an ImageNet encoder may leave only the decode head missing. */
function checkMapping(input: string, m: Mapping, d: MmsegDescription, backbone: string, k: number, G: Segmentor,
  part: string | undefined): void {
  const what = `${input}: does not fit ${backbone} with ${k} classes`;
  const s = m.shapeMismatch[0];
  if (s) throw new CheckpointError(`${what}: ${s.file} is [${s.got.join(', ')}], expected [${s.expected.join(', ')}]${m.shapeMismatch.length > 1 ? ` (and ${m.shapeMismatch.length - 1} more)` : ''}`);
  const missing = d.decoder === 'none' ? m.missing.filter((key) => !G.isHeadKey(key)) : m.missing;
  const ours = (key: string) => (part !== undefined && key.startsWith(`${part}.`) ? key.slice(part.length + 1) : key);
  const problems = [m.unexpected.length ? `unexpected ${groups(m.unexpected.map(ours))}` : '', missing.length ? `missing ${groups(missing)}` : ''].filter(Boolean);
  if (problems.length) throw new CheckpointError(`${what}: ${problems.join('; ')}`);
}

/** Keys for a message, grouped by their first two components: "decode_head.head.* (70), …" (four groups at most). */
function groups(keys: readonly string[]): string {
  const n = new Map<string, number>();
  for (const key of keys) { const g = key.split('.').slice(0, 2).join('.'); n.set(g, (n.get(g) ?? 0) + 1); }
  const out = [...n].map(([g, c]) => (c === 1 ? keys.find((key) => key.startsWith(g))! : `${g}.* (${c})`));
  return out.slice(0, 4).join(', ') + (out.length > 4 ? ', …' : '');
}

function evalOf(d: MmsegDescription, config: string | undefined, o: ConvertMmsegOptions): MmsegEval {
  const ev = mmsegEvalDefaults(d.decoder, config);
  if (o.inference) checkInferenceSpec(o.inference);
  const inference = o.inference ? { mode: o.inference.mode,
    ...(o.inference.crop ? { crop: [...o.inference.crop] as [number, number] } : {}),
    ...(o.inference.stride ? { stride: [...o.inference.stride] as [number, number] } : {}) } : ev.inference;
  return { ...ev, ...(o.evalSize ? { evalSize: o.evalSize } : {}), inference };
}
