// Valid seed inputs for the fuzz targets, made in-process by the project's own writers (checkpoints, converted
// weights, safetensors), by fast-png / jpeg-js, or read from the committed .pth fixtures. Small on purpose:
// a mutation of a 3 KB input hits a header or length field far more often than one of a 3 MB input.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crc32, deflateRawSync } from 'node:zlib';
import { encode as encodePng } from 'fast-png';
import jpeg from 'jpeg-js';
import type { HostTensor } from '../torch/dtype.js';
import { CKPT_FORMAT, sealedMetadata, writeCheckpoint } from '../io/checkpoint.js';
import { encodeSafetensors } from '../io/safetensors.js';
import { openZip } from '../io/zip.js';

/** test/fixtures/, from dist/src/fuzz (compiled) or src/fuzz alike. */
export const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

/** A few tensors of every dtype family (host arrays only: no engine). */
function tinyTensors(prefix: string): Map<string, HostTensor> {
  return new Map<string, HostTensor>([
    [`${prefix}conv.weight`, { dtype: 'float32', shape: [2, 3, 1, 1], data: Float32Array.from([0.5, -1, 2, 3.25, -0.125, 7]) }],
    [`${prefix}conv.bias`, { dtype: 'float32', shape: [2], data: Float32Array.from([0.1, -0.2]) }],
    [`${prefix}bn.num_batches_tracked`, { dtype: 'int64', shape: [], data: BigInt64Array.from([12n]) }],
    [`${prefix}half`, { dtype: 'float16', shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x7bff]) }],
    [`${prefix}mask`, { dtype: 'bool', shape: [2, 2], data: Uint8Array.from([1, 0, 0, 1]) }],
    [`${prefix}ids`, { dtype: 'int32', shape: [3], data: Int32Array.from([-1, 0, 255]) }],
  ]);
}

/** A sealed training checkpoint (version 2) written by io/checkpoint.ts writeCheckpoint. */
export function checkpointSeed(): Uint8Array {
  const tensors = new Map([...tinyTensors('G.'), ...tinyTensors('D.')]);
  tensors.set('optG.0.exp_avg', { dtype: 'float32', shape: [2], data: Float32Array.from([1e-3, -2e-3]) });
  const dir = mkdtempSync(join(tmpdir(), 'clan-fuzz-seed-'));
  try {
    const path = writeCheckpoint(dir, tensors, {
      format: CKPT_FORMAT, version: 2, step: 42, method: 'clan', backbone: 'tiny-os4', numClasses: 3,
      classNames: ['road', 'car', 'sky'], palette: [[128, 64, 128], [0, 0, 142], [70, 130, 180]], normalize: 'caffe',
      evalSize: [64, 32], config: { iters: 100, hyper: { lrG: 0.001 } },
      optG: { groups: [{ lr: 0.001, params: [0] }], scalars: [{ step: 42 }] }, optD: null,
      torchRng: 'AAECAwQFBgc=', loaders: { source: 336, target: 336 }, libtorch: '2.5.1', threads: 2,
      best: { step: 40, miou: 0.5 },
    });
    return new Uint8Array(readFileSync(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Converted weights (clan convert's layout): G./D. tensors and metadata under a clan_seal. */
export function weightsSeed(): Uint8Array {
  const tensors = new Map([...tinyTensors('G.'), ...tinyTensors('D.')]);
  return encodeSafetensors(tensors, sealedMetadata(tensors, { format: 'clan-weights', backbone: 'tiny-os4', num_classes: '3', source: 'fuzz' }));
}

/** Plain safetensors with a little metadata (no seal). */
export function safetensorsSeed(): Uint8Array {
  return encodeSafetensors(tinyTensors(''), { note: 'fuzz seed', n: '3' });
}

export function pthSeed(name: 'net_zip.pth' | 'net_legacy.pth'): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, 'pth', name)));
}

/** net_zip.pth re-packed with every member DEFLATE-compressed: reaches the zip reader's inflate path. */
export function pthDeflateSeed(): Uint8Array {
  const zip = openZip(pthSeed('net_zip.pth'));
  const local: Buffer[] = [], central: Buffer[] = [];
  let offset = 0;
  for (const name of zip.entries.keys()) {
    const data = zip.read(name), packed = deflateRawSync(data), nameBytes = Buffer.from(name);
    const fields = { crc: crc32(data) >>> 0, csize: packed.length, size: data.length, nlen: nameBytes.length };
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0); lh.writeUInt16LE(20, 4); lh.writeUInt16LE(8, 8);
    lh.writeUInt32LE(fields.crc, 14); lh.writeUInt32LE(fields.csize, 18); lh.writeUInt32LE(fields.size, 22);
    lh.writeUInt16LE(fields.nlen, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0); ch.writeUInt16LE(20, 4); ch.writeUInt16LE(20, 6); ch.writeUInt16LE(8, 10);
    ch.writeUInt32LE(fields.crc, 16); ch.writeUInt32LE(fields.csize, 20); ch.writeUInt32LE(fields.size, 24);
    ch.writeUInt16LE(fields.nlen, 28);
    ch.writeUInt32LE(offset, 42);
    local.push(lh, nameBytes, packed);
    central.push(ch, nameBytes);
    offset += 30 + fields.nlen + packed.length;
  }
  const cd = Buffer.concat(central), end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(zip.entries.size, 8); end.writeUInt16LE(zip.entries.size, 10);
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...local, cd, end]));
}

/** 11×9 8-bit RGB, Adam7-interlaced (the interlaced size bound in data/image.ts is checked too). */
export function pngSeed(): Uint8Array {
  const data = Uint8Array.from({ length: 11 * 9 * 3 }, (_, i) => (i * 37) & 255);
  return encodePng({ width: 11, height: 9, channels: 3, depth: 8, data, text: { Comment: 'fuzz' } }, { interlace: 'Adam7' });
}

/** A 9×7 palette label PNG (the GTA5 layout: the palette index is the label). */
export function pngLabelSeed(): Uint8Array {
  const palette: [number, number, number][] = [[128, 64, 128], [244, 35, 232], [70, 70, 70], [0, 0, 0]];
  const data = Uint8Array.from({ length: 9 * 7 }, (_, i) => (i * 7) % 4);
  return encodePng({ width: 9, height: 7, channels: 1, depth: 8, data, palette });
}

/** A 16×8 JPEG with an EXIF APP1 segment (orientation 6, a 90° turn) after SOI. */
export function jpegSeed(): Uint8Array {
  const W = 16, H = 8;
  const data = Uint8Array.from({ length: W * H * 4 }, (_, i) => (i % 4 === 3 ? 255 : (i * 13) & 255));
  const j = new Uint8Array(jpeg.encode({ width: W, height: H, data }, 90).data);
  const tiff = [0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
  const payload = [...new TextEncoder().encode('Exif'), 0, 0, ...tiff];
  const app1 = [0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 255, ...payload];
  return Uint8Array.from([...j.subarray(0, 2), ...app1, ...j.subarray(2)]);
}

/** A training config on the cpu preset, touching every section of the schema. */
export function configSeed(): Uint8Array {
  return new TextEncoder().encode(`# fuzz seed: a small run on the cpu preset
extends: cpu
method: clan
source:
  data: digitscapes:source
  size: [64, 64]
  flip: true
target:
  data: digitscapes:target
  size: [64, 48]
targetVal:
  data: digitscapes:val
  protocol: 19
  limit: 20
iters: 200
batchSize: 4
seed: 7
device: cpu
threads: 2
workers: 1
checkpointEvery: 100
keepLast: 2
distTimeout: 600
hyper:
  lrG: 0.001
  warmup: 10
  momentum: 0.9
  clan:
    lambdaLocal: 10
    epsilon: 0.4
  adversarial:
    ndf: 16
`);
}
