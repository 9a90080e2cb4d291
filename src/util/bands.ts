// Column bands of a row-major [H, W] map: inference upsamples a large image a band of columns at a time
// (infer/inference.ts forEachBand), and each band's labels, M or heat-map indices land in their columns of the whole map.

/** Host arrays a band can be copied between. */
export type BandArray = Uint8Array | Uint16Array | Float32Array;

/** Copy a band [H, x1 − x0] (row-major) into columns x0..x1 − 1 of a row-major [H, W] map of the same element type. */
export function placeBand<T extends BandArray>(dst: T, band: T, W: number, x0: number, x1: number): void {
  const bw = x1 - x0;
  for (let y = 0, H = band.length / bw; y < H; y++) dst.set(band.subarray(y * bw, (y + 1) * bw), y * W + x0);
}
