// The checkpoint seal covers the header and the tensors together; converted weights carry the same seal; files
// stay plain safetensors; version-1 files (tensor digest only) load their weights with a note and never resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostTensor } from '../torch/dtype.js';
import { CheckpointError } from '../util/errors.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';
import { CKPT_FORMAT, SEAL_KEY, assertResumable, checkWeightsSeal, newestValidCheckpoint, readCheckpoint, sealedMetadata, tensorDigest, writeCheckpoint, type CheckpointMeta } from './checkpoint.js';

const tensors = (): Map<string, HostTensor> => new Map<string, HostTensor>([
  ['G.w', { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }],
  ['optG.0.momentum_buffer', { dtype: 'float32', shape: [2], data: new Float32Array([0.5, -0.5]) }],
]);
const meta = (): Omit<CheckpointMeta, 'sha256'> => ({ format: CKPT_FORMAT, version: 2, step: 20, method: 'clan', backbone: 'micro', numClasses: 5,
  classNames: ['a', 'b', 'c', 'd', 'e'], palette: null, normalize: 'caffe', evalSize: [64, 64], config: {}, optG: null, optD: null,
  torchRng: 'AAAA', loaders: { source: 40, target: 40 }, libtorch: 'test', threads: 1 });

/** Rewrites a checkpoint file with its header edited by `edit` (tensors and seal unchanged). */
function tamper(path: string, edit: (m: Record<string, unknown>) => void): void {
  const st = decodeSafetensors(readFileSync(path), path);
  const m = JSON.parse(st.metadata.clan!) as Record<string, unknown>;
  edit(m);
  writeFileSync(path, encodeSafetensors(st.tensors, { ...st.metadata, clan: JSON.stringify(m) }));
}

test('a checkpoint is sealed whole: any edit of the header or the tensors is refused; the file stays plain safetensors', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-seal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = writeCheckpoint(dir, tensors(), meta());
  const ck = readCheckpoint(path);
  assert.equal(ck.meta.step, 20);
  assert.deepEqual(Array.from(ck.tensors.get('G.w')!.data as Float32Array), [1, 2, 3, 4]);
  const raw = decodeSafetensors(readFileSync(path), path);
  assert.deepEqual(Object.keys(raw.metadata).sort(), ['clan', SEAL_KEY], 'standard __metadata__ strings');
  const original = readFileSync(path);
  const edits: [string, (m: Record<string, unknown>) => void][] = [
    ['step', (m) => { m.step = 90; }], ['loaders', (m) => { m.loaders = { source: 0, target: 0 }; }],
    ['classNames', (m) => { (m.classNames as string[])[0] = 'road'; }], ['evalSize', (m) => { m.evalSize = [1024, 512]; }],
    ['torchRng', (m) => { m.torchRng = 'BBBB'; }],
  ];
  for (const [what, edit] of edits) {
    writeFileSync(path, original);
    tamper(path, edit);
    assert.throws(() => readCheckpoint(path), /failed its SHA-256 check \(the seal over the tensors and the header\)/, what);
  }
  const flipped = Buffer.from(original);
  flipped[flipped.length - 1]! ^= 1; // the last tensor byte
  writeFileSync(path, flipped);
  assert.throws(() => readCheckpoint(path), /failed its SHA-256 check/);
});

/** `path` rewritten as a version-1 file: the seal dropped, the tensor digest in the header, then `edit` applied. */
function downgrade(path: string, edit: (m: Record<string, unknown>) => void = () => {}): void {
  const st = decodeSafetensors(readFileSync(path), path);
  const m = JSON.parse(st.metadata.clan!) as Record<string, unknown>;
  Object.assign(m, { version: 1, sha256: tensorDigest(st.tensors) });
  edit(m);
  writeFileSync(path, encodeSafetensors(st.tensors, { clan: JSON.stringify(m) }));
}

test('version-1 checkpoints (tensor digest only) load their weights with a one-line note, are never resumed; a changed tensor still fails', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-seal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ts = tensors();
  const v1 = { ...meta(), version: 1, sha256: tensorDigest(ts) };
  const path = join(dir, 'ckpt_0000020.safetensors');
  writeFileSync(path, encodeSafetensors(ts, { clan: JSON.stringify(v1) }));
  const notes: string[] = [];
  const ck = readCheckpoint(path, { note: (l) => notes.push(l) });
  assert.deepEqual([ck.meta.step, ck.sealed], [20, false]);
  assert.deepEqual(notes, [`note: ${path} is a version-1 checkpoint: its tensors match their SHA-256, but its header (class names, palette, normalize, eval size, step, config) has no seal and is used as written`]);
  const refusal = `checkpoint ${path} is version 1: its header (step, loader positions, RNG and optimizer state) has no seal, so a resume cannot trust it; start a new run from its weights with --init ${path}`;
  assert.throws(() => assertResumable(ck), (e: Error) => e instanceof CheckpointError && e.message === refusal);
  assert.throws(() => newestValidCheckpoint(dir, () => assert.fail('not skipped as damaged')), (e: Error) => e instanceof CheckpointError && e.message === refusal);
  (ts.get('G.w')!.data as Float32Array)[0] = 9;
  writeFileSync(path, encodeSafetensors(ts, { clan: JSON.stringify(v1) }));
  assert.throws(() => readCheckpoint(path, { note: () => assert.fail('no note for a refused file') }), /^CheckpointError: checkpoint .* failed its SHA-256 check \(corrupted\)$/);
});

test('the seal cannot be stepped around: a sealed file downgraded to version 1 is unsealed (note, no resume); other versions are refused', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-seal-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = writeCheckpoint(dir, tensors(), meta());
  assert.equal(readCheckpoint(path, { note: () => assert.fail('a sealed file has no note') }).sealed, true);
  assert.equal(newestValidCheckpoint(dir, () => {})!.sealed, true);
  const original = readFileSync(path);
  downgrade(path, (m) => { (m.classNames as string[])[0] = 'edited'; m.step = 35; });
  const notes: string[] = [];
  const ck = readCheckpoint(path, { note: (l) => notes.push(l) });
  assert.deepEqual([ck.sealed, ck.meta.classNames[0], notes.length], [false, 'edited', 1], 'the edited header is only ever used with the note');
  assert.match(notes[0]!, /^note: .* is a version-1 checkpoint: .* has no seal and is used as written$/);
  assert.throws(() => newestValidCheckpoint(dir, () => {}), /^CheckpointError: checkpoint .* is version 1: .* start a new run from its weights with --init /);
  // Version 1 with the seal kept: the seal is still checked, so the edit fails.
  writeFileSync(path, original);
  tamper(path, (m) => { m.version = 1; });
  assert.throws(() => readCheckpoint(path), /failed its SHA-256 check \(the seal over the tensors and the header\)/);
  for (const [v, shown] of [[3, '3'], ['2', '"2"'], [null, 'null']] as const) {
    writeFileSync(path, original);
    tamper(path, (m) => { m.version = v; });
    assert.throws(() => readCheckpoint(path), (e: Error) => e instanceof CheckpointError && e.message === `${path}: version ${shown}, expected 1 or 2 (written by a newer clan?)`);
  }
});

test('converted weights: the seal covers tensors and metadata', () => {
  const ts = tensors();
  const m = sealedMetadata(ts, { format: 'clan-weights', backbone: 'micro', num_classes: '5' });
  checkWeightsSeal('w.safetensors', ts, m);
  assert.throws(() => checkWeightsSeal('w.safetensors', ts, { ...m, num_classes: '19' }), /^CheckpointError: w\.safetensors failed its SHA-256 check/);
  (ts.get('G.w')!.data as Float32Array)[3] = 0;
  assert.throws(() => checkWeightsSeal('w.safetensors', ts, m), /SHA-256 check/);
  // the seal dropped (or merged into another value, as the fuzzer found: fuzz-findings weights-changed-c2b8bc41): refused
  const { clan_seal: seal, ...unsealed } = m;
  assert.throws(() => checkWeightsSeal('w.safetensors', ts, unsealed),
    /^CheckpointError: w\.safetensors: converted weights without a 'clan_seal' \(edited, or written by another tool\): convert the source again/);
  assert.throws(() => checkWeightsSeal('w.safetensors', ts, { ...unsealed, source: `fuz${seal}` }), /without a 'clan_seal'/);
});
