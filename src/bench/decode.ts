// `clan bench decode`: JPEG decoding as the loaders do it (data/jpeg.ts: libjpeg-turbo in WebAssembly, Pillow's
// bytes) against jpeg-js (the pure-JavaScript decoder used before; a dev dependency, absent from user installs) and
// Pillow itself (Image.open(f).convert('RGB') in $CLAN_PYTHON), on one image in the same run: median ms per decode,
// and whether each decoder's pixels equal Pillow's.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRgb, type RgbImage } from '../data/image.js';
import { loadDigitscapesPhotos } from '../data/digitscapes.js';
import { pythonPath } from '../util/python.js';
import { ClanError, UsageError } from '../util/errors.js';
import { median } from './util.js';

export interface DecodeBenchOptions {
  input?: string;        // a JPEG to decode; default: the package's photos tiled to width × height, encoded at `quality`
  width: number;         // default image [W, H]: Cityscapes' 2048 × 1024
  height: number;
  quality: number;       // JPEG quality of the default image (Pillow's encoder, else jpeg-js's)
  reps: number;          // decodes per decoder (after one warm-up)
  compare: boolean;      // also time Pillow and check the pixels against it
}

type JpegJs = { decode(b: Uint8Array, o: { useTArray: true; formatAsRGBA: false }): { width: number; height: number; data: Uint8Array } };

/** jpeg-js when installed (a dev dependency), else null. */
function jpegJs(): JpegJs | null {
  try { return createRequire(import.meta.url)('jpeg-js') as JpegJs; } catch { return null; }
}

/** The package's photos (192 × 192 each) tiled row by row into one W × H RGB image: real textures at any size. */
function tiledPhotos(w: number, h: number): RgbImage {
  const photos = [...loadDigitscapesPhotos().values()];
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = photos[(Math.floor(y / 192) * Math.ceil(w / 192) + Math.floor(x / 192)) % photos.length]!;
      const s = 3 * ((y % p.height) * p.width + (x % p.width));
      out.set(p.data.subarray(s, s + 3), 3 * (y * w + x));
    }
  }
  return { width: w, height: h, data: out };
}

/** Runs `code` in $CLAN_PYTHON with argv; its stdout as JSON, or null when that python (or Pillow) is missing. */
function python(code: string, args: string[]): Record<string, unknown> | null {
  const r = spawnSync(pythonPath(), ['-c', code, ...args], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return null;
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

const PIL_ENCODE = `import sys, json; from PIL import Image
Image.frombytes('RGB', (int(sys.argv[2]), int(sys.argv[3])), open(sys.argv[1], 'rb').read()).save(sys.argv[4], quality=int(sys.argv[5]))
print(json.dumps({}))`;
const PIL_DECODE = `import sys, json, time, PIL; from PIL import Image
f, reps, raw = sys.argv[1], int(sys.argv[2]), sys.argv[3]
Image.open(f).convert('RGB')
ts = []
for _ in range(reps):
    t = time.perf_counter(); im = Image.open(f).convert('RGB'); ts.append((time.perf_counter() - t) * 1000)
open(raw, 'wb').write(im.tobytes())
print(json.dumps({'ms': sorted(ts)[len(ts) // 2], 'version': PIL.__version__}))`;

/** The JPEG to decode: --input, or the tiled photos encoded by Pillow (else jpeg-js). */
function inputJpeg(o: DecodeBenchOptions, dir: string): { path: string; encoder: string } {
  if (o.input) return { path: o.input, encoder: 'given' };
  const img = tiledPhotos(o.width, o.height);
  const path = join(dir, 'bench.jpg');
  writeFileSync(join(dir, 'bench.rgb'), img.data);
  if (python(PIL_ENCODE, [join(dir, 'bench.rgb'), String(o.width), String(o.height), path, String(o.quality)])) return { path, encoder: 'pillow' };
  const js = jpegJs() as
    (JpegJs & { encode?: (i: { width: number; height: number; data: Uint8Array }, q: number) => { data: Uint8Array } }) | null;
  if (!js?.encode) throw new ClanError(`bench decode: no JPEG encoder here (Pillow in ${pythonPath()}, or jpeg-js); give --input FILE.jpg`);
  const rgba = new Uint8Array(o.width * o.height * 4).fill(255);
  for (let i = 0; i < o.width * o.height; i++) rgba.set(img.data.subarray(3 * i, 3 * i + 3), 4 * i);
  writeFileSync(path, js.encode({ width: o.width, height: o.height, data: rgba }, o.quality).data);
  return { path, encoder: 'jpeg-js' };
}

function timeMs(reps: number, fn: () => unknown): number {
  fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) { const t = performance.now(); fn(); ts.push(performance.now() - t); }
  return median(ts);
}

/** Pixels of two decodes compared: the share of bytes that differ and the largest difference. */
function diff(a: Uint8Array, b: Uint8Array): { differing: number; max: number } {
  if (a.length !== b.length) return { differing: 1, max: 255 };
  let n = 0, max = 0;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i]! - b[i]!); if (d) { n++; if (d > max) max = d; } }
  return { differing: n / a.length, max };
}

export function benchDecode(o: DecodeBenchOptions, emit: (line: object) => void): void {
  if (o.reps < 1) throw new UsageError('bench decode: --reps must be at least 1');
  const dir = mkdtempSync(join(tmpdir(), 'clan-bench-decode-'));
  try {
    const { path, encoder } = inputJpeg(o, dir);
    const bytes = readFileSync(path);
    const ours = decodeRgb(bytes, path);
    const js = jpegJs();
    const jsImg = js ? js.decode(bytes, { useTArray: true, formatAsRGBA: false }) : null;
    const line: Record<string, unknown> = { bench: 'decode', file: o.input ?? `${o.width}x${o.height} photos, quality ${o.quality} (${encoder})`,
      width: ours.width, height: ours.height, bytes: bytes.length, reps: o.reps,
      ours_ms: timeMs(o.reps, () => decodeRgb(bytes, path)),
      jpegjs_ms: js ? timeMs(o.reps, () => js.decode(bytes, { useTArray: true, formatAsRGBA: false })) : null };
    if (line.jpegjs_ms !== null) line.ratio_ours_vs_jpegjs = (line.ours_ms as number) / (line.jpegjs_ms as number);
    const pil = o.compare ? python(PIL_DECODE, [path, String(o.reps), join(dir, 'pil.rgb')]) : null;
    if (o.compare && !pil) line.pillow = `not found: ${pythonPath()} cannot import PIL (apt-get install -y python3-pil, or set CLAN_PYTHON)`;
    if (pil) {
      const ref = new Uint8Array(readFileSync(join(dir, 'pil.rgb')));
      Object.assign(line, { pillow_ms: pil.ms, pillow_version: pil.version,
        ratio_ours_vs_pillow: (line.ours_ms as number) / (pil.ms as number),
        ours_vs_pillow: diff(ours.data, ref), ...(jsImg ? { jpegjs_vs_pillow: diff(jsImg.data, ref) } : {}) });
    }
    emit(line);
  } finally { rmSync(dir, { recursive: true, force: true }); }
}
