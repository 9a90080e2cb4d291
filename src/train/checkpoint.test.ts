// Resuming trusts the whole header (step, loader positions, RNG, optimizer state), so only a sealed checkpoint is
// resumed: a version-1 file — a genuine old one, or a sealed one rewritten as version 1 with its seal dropped —
// is refused by the resume path in one line, before anything is restored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../config/load.js';
import { listCheckpoints, readCheckpoint, tensorDigest } from '../io/checkpoint.js';
import { decodeSafetensors, encodeSafetensors } from '../io/safetensors.js';
import { train } from './trainer.js';
import { restoreParts } from './checkpoint.js';

const cfg = (iters: number) => resolveConfig({ preset: 'cpu', flags: { backbone: 'micro', iters, threads: 1, checkpointEvery: 2, logEvery: 1000,
  targetVal: { data: 'digitscapes:val', limit: 2 }, hyper: { ndf: 8 } } });

test('--resume from a checkpoint downgraded to version 1 (seal dropped, step edited) is refused in one line naming the file and --init', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-v1-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await train({ config: cfg(2), outDir: dir, log: () => {} });
  const path = listCheckpoints(join(dir, 'checkpoints'))[0]!;
  const st = decodeSafetensors(readFileSync(path), path);
  const m = JSON.parse(st.metadata.clan!) as Record<string, unknown>;
  writeFileSync(path, encodeSafetensors(st.tensors,
    { clan: JSON.stringify({ ...m, version: 1, step: 17, sha256: tensorDigest(st.tensors) }) }));
  const refusal = `CheckpointError: checkpoint ${path} is version 1: its header (step, loader positions, RNG and optimizer state) has no seal, so a resume cannot trust it; start a new run from its weights with --init ${path}`;
  const logs: string[] = [];
  await assert.rejects(train({ config: cfg(20), outDir: dir, resume: true, log: (l) => logs.push(l) }),
    (e: Error) => String(e) === refusal);
  assert.ok(!logs.some((l) => /resuming/.test(l)), logs.join('\n'));
  // restoreParts refuses it too, before touching a module (its callers need not remember the check).
  const ck = readCheckpoint(path, { note: () => {} });
  const untouched = { get G(): never { throw new Error('restoreParts touched G'); }, D: null, optG: null, optD: null };
  assert.throws(() => restoreParts(ck, untouched), (e: Error) => String(e) === refusal);
});
