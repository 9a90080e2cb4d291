// Test helpers for the network parity tests against tools/reference/mit_parity.py: the deterministic weight draw
// (mirrors its draw_spec/draw), hashed inputs, and comparisons with the twin's stored tensors and summaries.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as torch from '../torch/index.js';
import type { HostTensor } from '../torch/dtype.js';
import { hashUniform } from '../torch/torch.testing.js';
import type { Module, Tensor } from '../torch/index.js';
import { HrdaSegmentor } from './hrda-segmentor.js';
import { MitSegmentor } from './segformer.js';
import { HRDA_OFFICIAL } from './backbones.js';

/** mit_parity.py draw_spec: [offset, bound] of a state-dict entry's draw (value = offset + U(±bound)). */
export function drawSpec(name: string, shape: readonly number[]): [number, number] {
  const leaf = name.slice(name.lastIndexOf('.') + 1);
  if (leaf === 'running_var') return [1, 0.5];
  if (leaf === 'running_mean' || leaf === 'bias') return [0, 0.1];
  if (shape.length === 1) return [1, 0.2];                     // LayerNorm / BatchNorm weight
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  return [0, Math.sqrt(3 / fanIn)];
}

/** Overwrites every float tensor of m's state dict with its hashed draw, salt = its position (mit_parity.py draw). */
export function drawState(m: Module): void {
  const draws = new Map<string, HostTensor>();
  [...m.stateDict()].forEach(([k, v], salt) => {
    if (v.dtype !== 'float32') return;                          // num_batches_tracked stays 0
    const [offset, bound] = drawSpec(k, v.shape);
    const data = hashUniform(v.numel, salt, bound);
    if (offset !== 0) for (let i = 0; i < data.length; i++) data[i] = data[i]! + offset; // one float32 rounding, as numpy's
    draws.set(k, { dtype: 'float32', shape: v.shape, data });
  });
  m.loadStateDict(draws, false, 'hash draw');
}

/** mit_parity.py hashed(shape, salt, bound). */
export function hashed(shape: number[], salt: number, bound = 1): Tensor {
  return torch.fromTypedArray(hashUniform(shape.reduce((a, b) => a * b, 1), salt, bound), shape);
}

/** SHA-256 of "name [d0, d1]\n" lines (mit_parity.py names_digest: Python's list repr). */
export function namesDigest(m: Module): string {
  const lines = [...m.stateDict()].map(([n, t]) => `${n} [${t.shape.join(', ')}]\n`).join('');
  return createHash('sha256').update(lines).digest('hex');
}

/** L = Σₛ ⟨outₛ, wₛ⟩ with wₛ = hashed(salt0 + s) (mit_parity.py loss_of). */
export function hashedLoss(outs: Tensor[], salt0: number): Tensor {
  return torch.tidy(() => outs.map((o, s) => o.mul(hashed(o.shape, salt0 + s)).sum()).reduce((a, b) => a.add(b)));
}

export interface Summary { shape: number[]; sum: number; norm: number; max_abs: number; idx: number[]; values: number[] }

/** Ours against a twin's summary: shape, norm, sum and the probed elements, each within `rel` of the tensor's scale. */
export function assertSummary(t: Tensor, s: Summary, what: string, rel = 1e-5): number {
  assert.deepEqual(t.shape, s.shape, `${what}: shape`);
  const a = torch.tidy(() => t.detach().to('float64').flatten().toTypedArray<'float64'>());
  let norm = 0, sum = 0, worst = 0;
  for (const v of a) { norm += v * v; sum += v; }
  norm = Math.sqrt(norm);
  s.idx.forEach((i, k) => { worst = Math.max(worst, Math.abs(a[i]! - s.values[k]!)); });
  assert.ok(s.max_abs > 1e-3, `${what}: the reference is not trivially small (${s.max_abs})`);
  assert.ok(worst <= rel * s.max_abs, `${what}: probed elements differ by ${worst} (max |ref| ${s.max_abs})`);
  assert.ok(Math.abs(norm - s.norm) <= rel * s.norm, `${what}: norm ${norm} vs ${s.norm}`);
  assert.ok(Math.abs(sum - s.sum) <= rel * s.norm * Math.sqrt(a.length), `${what}: sum ${sum} vs ${s.sum}`);
  return worst / s.max_abs;
}

/** max |ours − ref| ≤ rel · max |ref| over a whole tensor; returns that ratio. */
export function assertNear(ours: Tensor, ref: Tensor, what: string, rel = 1e-5): number {
  assert.deepEqual(ours.shape, ref.shape, `${what}: shape`);
  return torch.tidy(() => {
    const scale = ref.abs().max().item();
    const err = ours.detach().sub(ref).abs().max().item();
    assert.ok(scale > 1e-3, `${what}: the reference is not trivially small (${scale})`);
    assert.ok(err <= rel * scale, `${what}: max |ours − torch| = ${err}, max |torch| = ${scale}`);
    return err / scale;
  });
}

/**
 * A small HRDA network for method tests (the 300-step memory test runs every method): one block of 8 channels per
 * stage, no sequence reduction, 16-channel decode heads, HRDA's scales and crop; 32×32 images are enough.
 */
export function tinyHrda(numClasses: number): HrdaSegmentor {
  const mit = { embedDims: [8, 8, 8, 8], numHeads: [1, 1, 1, 1], depths: [1, 1, 1, 1], srRatios: [1, 1, 1, 1], mlpRatio: 2,
    dropPathRate: 0.1 } as const;
  return new HrdaSegmentor({ arch: 'mit', mit: { ...mit, embedDims: [...mit.embedDims], numHeads: [...mit.numHeads], depths: [...mit.depths], srRatios: [...mit.srRatios] },
    decoder: 'hrda', hrda: HRDA_OFFICIAL, decodeWidth: 16, numClasses });
}

/** A small DAFormer network (MiT + DAFormer head) for method tests: tinyHrda's encoder, a 16-channel head. */
export function tinyMit(numClasses: number): MitSegmentor {
  const four = (v: number): [number, number, number, number] => [v, v, v, v];
  const mit = { embedDims: four(8), numHeads: four(1), depths: four(1), srRatios: four(1), mlpRatio: 2, dropPathRate: 0.1 };
  return new MitSegmentor({ arch: 'mit', mit, decoder: 'daformer', decodeWidth: 16, numClasses });
}
