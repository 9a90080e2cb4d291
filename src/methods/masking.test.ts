// MIC's block mask (methods/masking.ts): the share kept, blocks aligned to the grid, the same mask under the same seed,
// the twin's mask bit for bit (tools/reference/mic_parity.py: torch.rand over the block grid, nearest resize, a side that
// is not a multiple of the block), the image masked channel by channel, the block size scaled from MIC's 64 px at 512.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../torch/index.js';
import { loadFixture } from '../torch/torch.testing.js';
import { ClanError } from '../util/errors.js';
import { blockMask, maskImages, resolveBlockSize } from './masking.js';

const host = (t: torch.Tensor): number[] => { const v = t.toArray().map(Number); t.dispose(); return v; };

test('blockMask: each block kept with probability 1 − ratio (0.3 of 16384 blocks within 4σ); ratio 0 keeps all, 1 none', () => {
  torch.manualSeed(0);
  const v = host(blockMask(4, 64, 64, 1, 0.7));
  const kept = v.reduce((a, b) => a + b, 0) / v.length;
  assert.ok(v.every((x) => x === 0 || x === 1), 'values 0 and 1 only');
  assert.ok(Math.abs(kept - 0.3) < 4 * Math.sqrt(0.3 * 0.7 / v.length), `kept ${kept}`);
  assert.ok(host(blockMask(2, 16, 16, 4, 0)).every((x) => x === 1), 'ratio 0: every block kept');
  assert.ok(host(blockMask(2, 16, 16, 4, 1)).every((x) => x === 0), 'ratio 1: every block masked');
});

test('blockMask: [N, 1, H, W], constant on each b×b block of the grid, blocks drawn independently', () => {
  torch.manualSeed(3);
  const m = blockMask(2, 32, 48, 8, 0.5);
  assert.deepEqual(m.shape, [2, 1, 32, 48]);
  const v = host(m);
  const at = (n: number, y: number, x: number) => v[(n * 32 + y) * 48 + x]!;
  const blocks: number[] = [];
  for (let n = 0; n < 2; n++) for (let by = 0; by < 4; by++) for (let bx = 0; bx < 6; bx++) {
    const b = at(n, by * 8, bx * 8);
    blocks.push(b);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) assert.equal(at(n, by * 8 + y, bx * 8 + x), b, `image ${n} block (${by}, ${bx}) pixel (${y}, ${x})`);
  }
  assert.ok(blocks.includes(0) && blocks.includes(1), `48 blocks at ratio 0.5 are not all alike: ${blocks.join('')}`);
});

test('blockMask: the same seed gives the same mask, another seed another; the twin\'s mask from the same seed, bit for bit', () => {
  const draw = (seed: number) => { torch.manualSeed(seed); return host(blockMask(2, 24, 40, 4, 0.7)); };
  assert.deepEqual(draw(9), draw(9));
  assert.notDeepEqual(draw(9), draw(10));
  // 20×30 with 4-px blocks: round(20/4) × round(30/4) = 5 × 8 blocks, nearest-resized (30/8 is not whole)
  const { standalone_mask: rows, config } = loadFixture<{ standalone_mask: string[]; config: { standalone_mask: { seed: number; n: number; h: number; w: number; block: number; ratio: number } } }>('mic/expected.json');
  const s = config.standalone_mask;
  torch.manualSeed(s.seed);
  const ours = host(blockMask(s.n, s.h, s.w, s.block, s.ratio));
  const theirs = rows.join('').split('').map(Number);
  assert.equal(theirs.length, s.n * s.h * s.w);
  assert.deepEqual(ours, theirs);
  assert.ok(theirs.includes(0) && theirs.includes(1));
});

test('maskImages: every channel × the same mask (masked pixels 0, kept ones unchanged); the block size follows the crop', () => {
  torch.manualSeed(4);
  const img = torch.keep(torch.randn([2, 3, 16, 16]).add(5));                    // > 0 everywhere
  torch.manualSeed(7);
  const out = host(maskImages(img, 4, 0.5));
  torch.manualSeed(7);
  const mask = host(blockMask(2, 16, 16, 4, 0.5));
  const x = host(img);
  out.forEach((v, k) => {
    const [n, px] = [Math.floor(k / (3 * 256)), k % 256];
    assert.equal(v, mask[n * 256 + px] === 1 ? x[k] : 0, `element ${k}`);
  });
  // MIC's 64 px at its 512×512 crops, scaled by the shorter side; an explicit size is kept
  assert.deepEqual([[512, 512], [64, 64], [72, 104], [1024, 2048], [4, 4]].map(([h, w]) => resolveBlockSize(null, h!, w!)),
    [64, 8, 9, 128, 1]);
  assert.equal(resolveBlockSize(64, 1024, 1024), 64);
  assert.throws(() => blockMask(1, 8, 8, 0, 0.7), (e: unknown) => e instanceof ClanError && /hyper\.mic\.blockSize: expected a whole number of pixels ≥ 1, got 0/.test((e as Error).message));
  assert.throws(() => blockMask(1, 8, 8, 2, 1.5), /hyper\.mic\.ratio: expected a share in \[0, 1\], got 1\.5/);
});
