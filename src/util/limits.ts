// Resource limits for untrusted input files (images, .pth checkpoints, safetensors), in one place. Every limit
// is checked BEFORE the memory it guards is allocated, and a file over a limit is refused with a one-line
// DataError/CheckpointError naming the file, the limit and the environment variable that raises it.
//
// Each limit can be overridden by a positive integer in the environment, read at each use:
//   CLAN_MAX_IMAGE_PIXELS               width×height of a PNG (IHDR) or JPEG (SOF), checked before decoding
//   CLAN_MAX_JPEG_MEMORY_MB             what decoding one JPEG may hold (file, RGB output, coefficient buffers), from its SOF
//   CLAN_MAX_JPEG_SCANS                 scans in one JPEG (each is a pass over the image)
//   CLAN_MAX_ZIP_INFLATE_BYTES          bytes inflated from the deflated members of one zip (.pth) archive
//   CLAN_MAX_PICKLE_OBJECTS             values one unpickle builds or fetches from its memo
//   CLAN_MAX_CHECKPOINT_NAME_CHARS      characters of the dotted names a checkpoint's nested dicts flatten to
//   CLAN_MAX_TENSOR_EXPANSION_BYTES     bytes a checkpoint's tensor views may materialise beyond their storages
//   CLAN_MAX_SAFETENSORS_HEADER_BYTES   length of a safetensors JSON header
//   CLAN_MAX_NESTING_DEPTH              levels of nested containers in an unpickled value or a YAML config
//   CLAN_MEMORY_BUDGET_MB               what one command may hold, in MB (default: 3/4 of os.totalmem()), against the
//                                       estimate infer/cost.ts makes from the image size, backbone, classes and batch
//                                       before predict, eval, export, train or pseudo-labelling starts
// e.g. `CLAN_MAX_IMAGE_PIXELS=400000000 clan eval …` for a 20000×20000 image. A bad value is a ConfigError.

import { totalmem } from 'node:os';
import { ConfigError } from './errors.js';

export interface Limit {
  env: string;
  default: number;
}

export const LIMITS = {
  // Pillow's DecompressionBombError threshold (2 × MAX_IMAGE_PIXELS), so we open what PIL opens; datasets are ~2 MP.
  imagePixels: { env: 'CLAN_MAX_IMAGE_PIXELS', default: 178_956_970 },
  // Estimated from the frame header before the decoder starts (src/data/jpeg.ts): 3 B/pixel of output plus, for a
  // progressive JPEG, 3-6 B/pixel of coefficients; a 179-MP one at the pixel limit needs up to 1.6 GB. The wasm
  // decoder cannot address more than 4 GiB whatever this says.
  jpegMemoryMB: { env: 'CLAN_MAX_JPEG_MEMORY_MB', default: 2048 },
  // libjpeg-turbo's own tools stop at 500 (djpeg -maxscans); encoders write at most a dozen.
  jpegScans: { env: 'CLAN_MAX_JPEG_SCANS', default: 500 },
  // torch.save stores members uncompressed; 3× a DeepLab-v2 ResNet-101 (170 MB) re-zipped with deflate.
  zipInflateBytes: { env: 'CLAN_MAX_ZIP_INFLATE_BYTES', default: 512 * 2 ** 20 },
  // A DeepLab-v2 state dict takes ~10k; at ~100 B per value this caps the unpickled graph near 0.5 GB.
  pickleObjects: { env: 'CLAN_MAX_PICKLE_OBJECTS', default: 5_000_000 },
  // +1 per name. Memo fan-out: 40 levels of a dict shared twice make 2^40 names; DeepLab-v2's take ~2·10^4.
  checkpointNameChars: { env: 'CLAN_MAX_CHECKPOINT_NAME_CHARS', default: 8_000_000 },
  // A state dict without shared storage needs 0; room for tied or expanded weights far above our largest tensor (9.4 MB).
  tensorExpansionBytes: { env: 'CLAN_MAX_TENSOR_EXPANSION_BYTES', default: 256 * 2 ** 20 },
  // The reference safetensors reader's MAX_HEADER_SIZE; a longer header means a corrupt length field.
  safetensorsHeaderBytes: { env: 'CLAN_MAX_SAFETENSORS_HEADER_BYTES', default: 100_000_000 },
  // Readers that walk a value recurse once per level (and YAML's composer overflows near 800): a state dict nests
  // about 5 levels (a checkpoint dict, optimizer groups, a tensor's rebuild tuple), a config 4.
  nestingDepth: { env: 'CLAN_MAX_NESTING_DEPTH', default: 100 },
  // 3/4 of this machine's memory: the rest for the OS, the page cache and whatever else runs (docs/limits.md).
  memoryBudgetMB: { env: 'CLAN_MEMORY_BUDGET_MB', default: Math.floor((totalmem() * 3) / 4 / 2 ** 20) },
} as const satisfies Record<string, Limit>;

export type LimitName = keyof typeof LIMITS;

/** The limit in force: its environment override when set (a positive integer), else the default. */
export function limit(name: LimitName, env: NodeJS.ProcessEnv = process.env): number {
  const { env: key, default: dflt } = LIMITS[name];
  const raw = env[key]?.trim();
  if (raw === undefined || raw === '') return dflt;
  const v = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(v) || v <= 0) throw new ConfigError(`${key}=${raw}: expected a positive integer (default ${dflt})`);
  return v;
}

/** "the limit of N (ENV)", for error messages that tell the user which knob to turn. */
export function limitText(name: LimitName, env: NodeJS.ProcessEnv = process.env): string {
  return `the limit of ${limit(name, env)} (${LIMITS[name].env})`;
}
