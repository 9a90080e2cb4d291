// MIC's random block masking (Hoyer et al., CVPR 2023; docs/method.md §14): the image is cut into a grid of square
// blocks and each block is kept with probability 1 − ratio, the others set to 0 (in normalised input space: the mean
// colour). As lhoyer/MIC's BlockMaskGenerator: one uniform draw per block from torch's generator (so a seed or a
// checkpoint reproduces it), kept where u > ratio, the block grid resized to the image by nearest neighbour; a side
// that is not a multiple of the block size gets round(side / block) blocks of nearly equal size.
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import { ClanError } from '../util/errors.js';

/** MIC's block size (64 px) is for its 512×512 crops: this is the crop side it scales with (§14). */
export const MIC_REFERENCE_CROP = 512;
/** MIC's mask_block_size at MIC_REFERENCE_CROP. */
export const MIC_BLOCK_SIZE = 64;

/**
 * The block size in pixels: `blockSize` if set, else MIC's 64 px scaled by the crop's shorter side / 512, rounded,
 * at least 1 (a 512×512 crop: 64; a 64×64 crop: 8, an 8×8 grid of blocks).
 */
export function resolveBlockSize(blockSize: number | null, h: number, w: number): number {
  if (blockSize !== null) return blockSize;
  return Math.max(1, Math.round(MIC_BLOCK_SIZE * Math.min(h, w) / MIC_REFERENCE_CROP));
}

/**
 * The keep-mask [N, 1, H, W] float32 (1 kept, 0 masked): a grid of round(H/b) × round(W/b) blocks (at least 1 each),
 * each kept where a uniform draw exceeds `ratio`, resized to H × W by nearest neighbour. Draws N·rows·cols numbers
 * from torch's generator on `device`, in row-major order.
 */
export function blockMask(n: number, h: number, w: number, blockSize: number, ratio: number, device: torch.Device = 'cpu'): Tensor {
  if (!(blockSize >= 1) || !Number.isInteger(blockSize)) throw new ClanError(`hyper.mic.blockSize: expected a whole number of pixels ≥ 1, got ${blockSize}`);
  if (!(ratio >= 0 && ratio <= 1)) throw new ClanError(`hyper.mic.ratio: expected a share in [0, 1], got ${ratio}`);
  return torch.tidy(() => torch.noGrad(() => {
    const rows = Math.max(1, Math.round(h / blockSize)), cols = Math.max(1, Math.round(w / blockSize));
    const keep = torch.rand([n, 1, rows, cols], { device }).gt(ratio).to('float32');   // [N, 1, rows, cols]
    return F.interpolate(keep, [h, w], { mode: 'nearest' });                          // [N, 1, H, W]
  }));
}

/**
 * images [N, C, H, W] with MIC's block mask applied: each block kept (× 1) with probability 1 − ratio, else 0. The
 * draws come from `drawOn`'s generator (default: where the images are; 'cpu' for hyper.mic.draws 'own', whose stream
 * is the CPU generator's).
 */
export function maskImages(images: Tensor, blockSize: number, ratio: number, drawOn?: torch.Device): Tensor {
  return torch.tidy(() => {
    const [n, , h, w] = images.shape as [number, number, number, number];
    const device = images.device as torch.Device;
    const mask = blockMask(n, h, w, blockSize, ratio, drawOn ?? device).to(device);           // [N, 1, H, W]
    return images.mul(mask.to(images.dtype));
  });
}
