// FLOPs of one CLAN iteration, counted from the layer shapes: the modules are walked in forward order and every
// output size follows from the input size by the conv/pool arithmetic — nothing runs on the engine. One FLOP is
// one multiply or one add (a multiply-add counts 2). Per image (batch 1, as `clan bench step` runs it).
//
// | op                                   | counted | FLOPs                                                      |
// |--------------------------------------|---------|------------------------------------------------------------|
// | Conv2d forward                       | yes     | 2 · Cin/groups · kh · kw · Cout · Hout · Wout (bias adds not) |
// | Conv2d backward, input gradient      | yes     | = forward (a transposed conv of the output gradient); skipped |
// |                                      |         | for a conv that reads the pass's input when that input needs  |
// |                                      |         | no gradient (G's conv1 on the image, D's conv1 on a detached p)|
// | Conv2d backward, weight gradient     | yes     | = forward (output gradient × im2col(input)); only for weights |
// |                                      |         | that train in that pass (not D's while D is frozen)          |
// | BN, ReLU, LeakyReLU, residual add,   | no      | elementwise or nearly: a few FLOPs per element, against      |
// | max-pool, softmax, bilinear upsample,|         | 2 · Cin/groups · kh · kw ≥ 2 · Cin per conv output element;   |
// | losses, M, weight discrepancy, optim |         | memory-bound, so FLOP/s says nothing of them                 |
//
// The passes of one iteration (methods/adversarial.ts; CLAN's hooks add losses but no conv pass):
//   G on the source image: forward + backward (weight gradients; no input gradient for conv1)
//   G on the target image: forward + backward (the same)
//   D on softmax(x1 + x2) of the target, D frozen: forward + backward with input gradients only (all of D's convs)
//   D on the detached source, then on the detached target: forward + backward (weight gradients; conv1 no input gradient)
// D sees the heads upsampled to the label size (forwardUp), here the image size of each domain.
import { Conv2d, BatchNorm2d, ReLU, LeakyReLU, MaxPool2d, Sequential, ModuleList, type Module, type F } from '../torch/index.js';
import { Bottleneck, BasicBlock, Classifier, Downsample, DeepLabSegmentor, STEM_POOL } from '../models/deeplab.js';
import { DeepLabVGG } from '../models/vgg.js';
import { FCDiscriminator } from '../models/discriminator.js';
import { ClanError } from '../util/errors.js';

export type Size = [number, number]; // [H, W]

/** One conv as a forward pass runs it: its output size, its forward FLOPs, whether it reads the pass's input. */
export interface ConvSite { name: string; conv: Conv2d; out: Size; flops: number; readsInput: boolean }

const pair = (v: F.Pair | undefined, d: number): Size => (v === undefined ? [d, d] : typeof v === 'number' ? [v, v] : v);

/**
 * Output length along one axis, PyTorch's arithmetic: ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1; ceil mode rounds up,
 * except that the last window may not start inside the right padding.
 */
export function outLength(n: number, k: number, s: number, p: number, d = 1, ceil = false): number {
  const span = n + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= n + p) out--;
  if (out < 1) throw new ClanError(`flops: a ${k}×${k} window (stride ${s}, padding ${p}, dilation ${d}) does not fit an input of ${n}`);
  return out;
}

/** The forward FLOPs of a conv with weight [Cout, Cin/groups, kh, kw] producing Hout×Wout: 2·Cin/groups·kh·kw·Cout·Hout·Wout. */
export function convFlops(weightShape: readonly number[], [ho, wo]: Size): number {
  const [cout, cinPerGroup, kh, kw] = weightShape as [number, number, number, number];
  return 2 * cinPerGroup * kh * kw * cout * ho * wo;
}

function convOut(c: Conv2d, [h, w]: Size): Size {
  const [, , kh, kw] = c.weight.shape as [number, number, number, number];
  const [sh, sw] = pair(c.opts.stride, 1); const [ph, pw] = pair(c.opts.padding, 0); const [dh, dw] = pair(c.opts.dilation, 1);
  return [outLength(h, kh, sh, ph, dh), outLength(w, kw, sw, pw, dw)];
}

function poolOut(kernel: F.Pair, o: F.PoolOptions, [h, w]: Size): Size {
  const [kh, kw] = pair(kernel, 1); const [sh, sw] = pair(o.stride ?? kernel, 1);
  const [ph, pw] = pair(o.padding, 0); const [dh, dw] = pair(o.dilation, 1);
  return [outLength(h, kh, sh, ph, dh, o.ceilMode), outLength(w, kw, sw, pw, dw, o.ceilMode)];
}

/** Walks `mods` one after the other (a chain); only the convs up to the first one read the chain's input. */
function chain(mods: [string, Module][], size: Size, readsInput: boolean, sites: ConvSite[]): Size {
  let y = size; let fresh = readsInput;
  for (const [name, m] of mods) {
    const before = sites.length;
    y = walk(m, name, y, fresh, sites);
    if (sites.length > before) fresh = false;
  }
  return y;
}

const dotted = (prefix: string, key: string): string => (prefix ? `${prefix}.${key}` : key);

/** `m`'s children (all, or those named in `keys`) with their dotted names under `prefix`, in registration order. */
const named = (m: Module, prefix: string, keys?: string[]): [string, Module][] => m.namedModules()
  .filter(([k]) => k !== '' && !k.includes('.') && (keys === undefined || keys.includes(k)))
  .map(([k, c]) => [dotted(prefix, k), c]);

/** Appends the convs of `m`'s forward on an H×W input to `sites` and returns its output size (dataflow of each module type). */
function walk(m: Module, name: string, size: Size, readsInput: boolean, sites: ConvSite[]): Size {
  if (m instanceof Conv2d) {
    const out = convOut(m, size);
    sites.push({ name, conv: m, out, flops: convFlops(m.weight.shape, out), readsInput });
    return out;
  }
  if (m instanceof MaxPool2d) return poolOut(m.kernel, m.opts, size);
  if (m instanceof BatchNorm2d || m instanceof ReLU || m instanceof LeakyReLU) return size;
  if (m instanceof Bottleneck || m instanceof BasicBlock) { // the main path, then the shortcut on the block's input
    const out = chain(named(m, name).filter(([, c]) => c !== m.downsample), size, readsInput, sites);
    if (m.downsample) walk(m.downsample, dotted(name, 'downsample'), size, readsInput, sites);
    return out;
  }
  if (m instanceof Classifier) { // the ASPP branches side by side on the same features
    const outs = named(m.convs, dotted(name, 'conv2d_list')).map(([n, c]) => walk(c, n, size, readsInput, sites));
    return outs[0]!;
  }
  if (m instanceof DeepLabSegmentor) { // conv1, bn1, the stem pool (functional), layer1…4, then both heads
    let y = chain(named(m, name, ['conv1', 'bn1']), size, readsInput, sites);
    if (m.spec.stemPool !== false) y = poolOut(STEM_POOL.kernel, STEM_POOL, y);
    y = chain(named(m, name, ['layer1', 'layer2', 'layer3', 'layer4']), y, false, sites);
    return heads(m.layer5, m.layer6, name, y, sites);
  }
  if (m instanceof DeepLabVGG) return heads(m.layer5, m.layer6, name, walk(m.featureLayers, dotted(name, 'features'), size, readsInput, sites), sites);
  if (m instanceof Sequential || m instanceof ModuleList || m instanceof Downsample || m instanceof FCDiscriminator) {
    return chain(named(m, name), size, readsInput, sites);
  }
  throw new ClanError(`flops: no FLOP rule for module '${name || '(root)'}' (${m.constructor.name}); add one to src/bench/flops.ts`);
}

function heads(c1: Classifier, c2: Classifier, name: string, size: Size, sites: ConvSite[]): Size {
  walk(c1, dotted(name, 'layer5'), size, false, sites);
  return walk(c2, dotted(name, 'layer6'), size, false, sites);
}

/** The convs of one forward of `m` on an [N=1, C, H, W] input, in forward order, with their output sizes and FLOPs. */
export function convSites(m: Module, size: Size): ConvSite[] {
  const sites: ConvSite[] = [];
  walk(m, '', size, true, sites);
  return sites;
}

export interface PassFlops { forward: number; inputGrad: number; weightGrad: number }
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * One forward of `m` on H×W, and with `backward` its backward: input gradients of every conv except those reading
 * the pass's input when `inputNeedsGrad` is false; weight gradients of the weights that require grad when `trainWeights`.
 */
export function passFlops(m: Module, size: Size, o: { backward: boolean; inputNeedsGrad: boolean; trainWeights: boolean }): PassFlops {
  const sites = convSites(m, size);
  return {
    forward: sum(sites.map((s) => s.flops)),
    inputGrad: o.backward ? sum(sites.filter((s) => o.inputNeedsGrad || !s.readsInput).map((s) => s.flops)) : 0,
    weightGrad: o.backward && o.trainWeights ? sum(sites.filter((s) => s.conv.weight.requiresGrad).map((s) => s.flops)) : 0,
  };
}

export interface IterationFlops { G: PassFlops; D: PassFlops; total: number }

/** FLOPs of one CLAN iteration (the passes listed at the top) with a source image `source` and a target image `target`. */
export function clanIterationFlops(G: Module, D: Module, source: Size, target: Size): IterationFlops {
  const train = { backward: true, inputNeedsGrad: false, trainWeights: true };
  const passes = {
    G: [passFlops(G, source, train), passFlops(G, target, train)],
    D: [passFlops(D, target, { backward: true, inputNeedsGrad: true, trainWeights: false }), passFlops(D, source, train),
      passFlops(D, target, train)],
  };
  const add = (ps: PassFlops[]): PassFlops => ({
    forward: sum(ps.map((p) => p.forward)), inputGrad: sum(ps.map((p) => p.inputGrad)), weightGrad: sum(ps.map((p) => p.weightGrad)),
  });
  const g = add(passes.G); const d = add(passes.D);
  return { G: g, D: d, total: g.forward + g.inputGrad + g.weightGrad + d.forward + d.inputGrad + d.weightGrad };
}
