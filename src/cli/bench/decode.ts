// `clan bench decode`: JPEG decoding (ours: libjpeg-turbo in wasm) against jpeg-js and Pillow (bench/decode.ts).
import { intFlag, str, boolFlag } from '../args.js';
import type { Bench } from './common.js';

export const decode: Bench = {
  name: 'decode',
  usage: `usage: clan bench decode [--input FILE.jpg] [--width 2048] [--height 1024] [--quality 90] [--reps 10] [--no-compare] [--json]

decode   one JPEG decoded as the loaders do (libjpeg-turbo 2.0 in WebAssembly, Pillow's pixels), by jpeg-js (a dev
         dependency; null where not installed) and by Pillow (Image.open(f).convert('RGB') in $CLAN_PYTHON or
         /usr/bin/python3; --no-compare skips it). Default input: the package's photos tiled to --width x --height
         and saved at --quality by Pillow (else jpeg-js). One JSON line {"bench","file","width","height","bytes",
         "ours_ms","jpegjs_ms","pillow_ms" (medians over --reps after one warm-up),"ratio_ours_vs_jpegjs",
         "ratio_ours_vs_pillow","ours_vs_pillow" and "jpegjs_vs_pillow" ({"differing": share of bytes, "max"})}.`,
  options: { input: { type: 'string' }, width: { type: 'string' }, height: { type: 'string' }, quality: { type: 'string' },
    reps: { type: 'string' }, 'no-compare': { type: 'boolean' } },
  async run(p, emit) {
    const { benchDecode } = await import('../../bench/decode.js');
    const input = str(p, 'input');
    benchDecode({ ...(input ? { input } : {}), width: intFlag('bench', 'width', str(p, 'width'), 2048, 8, 16384),
      height: intFlag('bench', 'height', str(p, 'height'), 1024, 8, 16384), quality: intFlag('bench', 'quality', str(p, 'quality'), 90, 1, 100),
      reps: intFlag('bench', 'reps', str(p, 'reps'), 10, 1, 10000), compare: !boolFlag(p, 'no-compare') }, emit);
  },
};
