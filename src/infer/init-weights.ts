// `--init`: converted weights (`clan convert`, keys G.*) or another run's checkpoint loaded into a segmentor — its
// backbone only (the heads stay at their init) or all of it — after the file's seal or digest is checked. A PyTorch
// file (.pth) is recognised and sent to `clan convert` in one line.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import type { Segmentor } from '../models/segmentor.js';
import { checkWeightsSeal, readCheckpoint } from '../io/checkpoint.js';
import { readSafetensorsFile } from '../io/safetensors.js';
import { isZip } from '../io/zip.js';
import { ClanError } from '../util/errors.js';
import { stripPrefix } from '../util/prefix.js';

export function loadInit(path: string, G: Segmentor, scope: 'backbone' | 'all', log: (l: string) => void): void {
  let st;
  try { st = readSafetensorsFile(path); } catch (e) {
    if (existsSync(path) && isPyTorchFile(path)) throw new ClanError(`--init ${path} is a PyTorch file (.pth), not converted weights; convert it first: clan convert ${path} init.safetensors`);
    throw e;
  }
  // a training checkpoint: its seal (or a version-1 file's tensor digest, with a note); converted weights: their seal
  if (st.metadata.clan !== undefined) readCheckpoint(path, { note: log });
  else if (st.metadata.format === 'clan-weights') checkWeightsSeal(path, st.tensors, st.metadata);
  const g = stripPrefix(st.tensors, 'G.');
  if (g.size === 0) throw new ClanError(`--init ${path}: no 'G.*' weights (convert PyTorch files first: clan convert IN OUT)`);
  const wanted = scope === 'backbone' ? new Map([...g].filter(([k]) => !G.isHeadKey(k))) : g;
  const r = G.loadStateDict(wanted, false, `--init ${path}`);
  const missing = r.missing.filter((k) => !(scope === 'backbone' && G.isHeadKey(k)) && !k.endsWith('num_batches_tracked'));
  log(`--init ${path}: loaded ${wanted.size - r.unexpected.length} tensors (${scope})${missing.length ? `; left at init: ${missing.length}` : ''}${r.unexpected.length ? `; unused: ${r.unexpected.length}` : ''}`);
}

/** A zip archive (torch.save since 1.6, io/zip.ts isZip) or a pickle stream (older torch.save: PROTO opcode 0x80). */
function isPyTorchFile(path: string): boolean {
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(4);
    readSync(fd, head, 0, 4, 0);
    return isZip(head) || head[0] === 0x80;
  } finally { closeSync(fd); }
}
