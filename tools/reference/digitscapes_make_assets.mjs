// Makes the photo crops of the built-in `digitscapes` dataset (assets/photos/*.png) from scikit-image's sample
// images as shipped by Debian (package python3-skimage 0.19.3-8, files under skimage/data/). Run through
// tools/reference/digitscapes_make_assets.sh, which fetches and unpacks the package first:
//   node tools/reference/digitscapes_make_assets.mjs SKIMAGE_DATA_DIR assets/photos
// Each crop: a square region of the original, area-resampled (exact box filter, fractional overlaps) to 192x192,
// saved as 8-bit PNG (gray stays gray). Pure JS (fast-png 8, jpeg-js 0.4), so the pixels are reproducible.
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decode as decodePng, encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';

const SIZE = 192; // output side in pixels

// name: [original file, upstream sha256 (Debian python3-skimage 0.19.3-8), region x, y, side]
const CROPS = {
  astronaut: ['astronaut.png', '88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5', 0, 0, 512],
  coffee: ['coffee.png', 'cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7', 100, 0, 400],
  rocket: ['rocket.jpg', 'c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c', 106, 0, 427],
  camera: ['camera.png', 'b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a', 0, 0, 512],
  brick: ['brick.png', '7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf', 0, 0, 384],
  grass: ['grass.png', 'b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89', 0, 0, 384],
  chelsea: ['chelsea.png', '596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb', 75, 0, 300],
  gravel: ['gravel.png', 'c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12', 0, 0, 384],
};

function load(path) {
  const bytes = readFileSync(path);
  if (path.endsWith('.jpg')) {
    const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    return { width: j.width, height: j.height, channels: 4, data: j.data };
  }
  const p = decodePng(bytes);
  if (p.depth !== 8) throw new Error(`${path}: expected 8-bit PNG, got ${p.depth}`);
  return { width: p.width, height: p.height, channels: p.channels, data: p.data };
}

/** Weights of source pixels [x0 + o*s, x0 + (o+1)*s) for each output o: exact box filter. */
function boxWeights(x0, side, n) {
  const s = side / n, rows = [];
  for (let o = 0; o < n; o++) {
    const a = x0 + o * s, b = a + s, w = [];
    for (let i = Math.floor(a); i < Math.ceil(b); i++) w.push([i, (Math.min(b, i + 1) - Math.max(a, i)) / s]);
    rows.push(w);
  }
  return rows;
}

function crop(img, x, y, side, outChannels) {
  if (x + side > img.width || y + side > img.height) throw new Error(`region ${x},${y},${side} outside ${img.width}x${img.height}`);
  const wx = boxWeights(x, side, SIZE), wy = boxWeights(y, side, SIZE);
  const out = new Uint8Array(SIZE * SIZE * outChannels);
  for (let oy = 0; oy < SIZE; oy++) for (let ox = 0; ox < SIZE; ox++) for (let c = 0; c < outChannels; c++) {
    let acc = 0;
    for (const [sy, fy] of wy[oy]) for (const [sx, fx] of wx[ox]) acc += fy * fx * img.data[(sy * img.width + sx) * img.channels + c];
    out[(oy * SIZE + ox) * outChannels + c] = Math.min(255, Math.max(0, Math.round(acc)));
  }
  return out;
}

const [src, dst] = process.argv.slice(2);
if (!src || !dst) throw new Error('usage: node digitscapes_make_assets.mjs SKIMAGE_DATA_DIR OUT_DIR');
const sums = [];
for (const [name, [file, sha, x, y, side]] of Object.entries(CROPS)) {
  const path = join(src, file);
  const got = createHash('sha256').update(readFileSync(path)).digest('hex');
  if (got !== sha) throw new Error(`${path}: sha256 ${got}, expected ${sha} (another package version?)`);
  const img = load(path);
  const channels = img.channels === 1 ? 1 : 3; // gray stays gray; RGB(A) → RGB
  const png = encodePng({ width: SIZE, height: SIZE, data: crop(img, x, y, side, channels), channels, depth: 8 });
  writeFileSync(join(dst, `${name}.png`), png);
  sums.push(`${createHash('sha256').update(png).digest('hex')}  ${name}.png`);
  console.log(`${name}.png  ${file} [${x},${y} ${side}x${side}] -> ${SIZE}x${SIZE}x${channels}  ${png.length} bytes`);
}
writeFileSync(join(dst, 'SHA256SUMS'), sums.join('\n') + '\n');
