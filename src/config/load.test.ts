import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../util/errors.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSet, resolveConfig } from './load.js';
import { forMethod } from './hyper.js';

const fails = (sets: string[], re: RegExp) => assert.throws(() => resolveConfig({ preset: 'cpu', sets }),
  (e: unknown) => e instanceof ConfigError && re.test(e.message) && !e.message.includes('\n'));

test('--set takes dotted keys and YAML scalars; sections and leaves both count as keys', () => {
  assert.deepEqual(parseSet('hyper.clan.lambdaLocal=10'), { hyper: { clan: { lambdaLocal: 10 } } });
  assert.deepEqual(parseSet('targetVal.limit=4'), { targetVal: { limit: 4 } });
  const c = resolveConfig({ preset: 'cpu', sets: ['hyper.clan.lambdaLocal=12.5', 'source={data: "digitscapes:source", flip: false}'] });
  assert.equal(c.hyper.clan.lambdaLocal, 12.5);
  assert.equal(c.source.flip, false);
});

test('a misspelt --set key names the key and the nearest real one', () => {
  fails(['hyper.clan.lamdaLocal=10'], /^--set hyper\.clan\.lamdaLocal=10: unknown key 'hyper\.clan\.lamdaLocal' \(did you mean 'hyper\.clan\.lambdaLocal'\?\); 'clan train --help' lists every key$/);
  fails(['iter=5'], /unknown key 'iter' \(did you mean 'iters'\?\)/);
  fails(['targetval.protocol=16'], /unknown key 'targetval\.protocol' \(did you mean 'targetVal\.protocol'\?\)/);
  fails(['iters.x=1'], /unknown key 'iters\.x'/);          // below a leaf
  fails(['zzzzzzzz=1'], /unknown key 'zzzzzzzz'; 'clan/);  // nothing near: no suggestion
  fails(['=1'], /--set expects key=value, got '=1'/);
});

test('each method reads its own hyper sections: another method\'s key is one line naming the key, its owner and what the method reads', () => {
  const msg = (sets: string[], method: string) => { try { resolveConfig({ preset: 'cpu', flags: { method }, sets }); return ''; } catch (e) { return (e as Error).message; } };
  assert.equal(msg(['hyper.clan.lambdaLocal=10'], 'dacs'),
    "config: hyper.clan.lambdaLocal is clan's (read by clan, clan-cotrain), not read by method 'dacs'; 'dacs' reads the common hyper keys and hyper.dacs");
  assert.equal(msg(['hyper.dacs.emaAlpha=0.9'], 'source-only'),
    "config: hyper.dacs.emaAlpha is dacs's (read by dacs, hrda, daformer, mic, mic-hrda, mic-daformer), not read by method 'source-only'; 'source-only' reads only the common hyper keys");
  assert.equal(msg(['hyper.daformer.fdLambda=0'], 'dacs'),
    "config: hyper.daformer.fdLambda is daformer's (read by daformer, mic-daformer), not read by method 'dacs'; 'dacs' reads the common hyper keys and hyper.dacs");
  assert.equal(msg(['hyper.daformer.fdLambda=0', 'hyper.dacs.emaAlpha=0.9'], 'daformer'), '', 'daformer reads dacs and daformer');
  assert.equal(msg(['hyper.adversarial.lambdaAdv=0.1'], 'clan'), '', 'clan reads the adversarial section');
  assert.equal(msg(['hyper.mic.ratio=0.5', 'hyper.dacs.emaAlpha=0.9'], 'mic'), '', 'mic reads its own section and dacs\'s');
  assert.equal(msg(['hyper.hrda.detailLossWeight=0.2'], 'mic'),
    "config: hyper.hrda.detailLossWeight is hrda's (read by hrda, mic-hrda), not read by method 'mic'; 'mic' reads the common hyper keys and hyper.dacs, hyper.mic");
  // the cpu preset carries values for several methods' sections: presets are not the user's settings
  assert.equal(resolveConfig({ preset: 'cpu', flags: { method: 'dacs' } }).hyper.dacs.pseudoWeight, 'pixel');
  const mic = resolveConfig({ preset: 'cpu', flags: { method: 'mic' } }).hyper.mic;
  assert.deepEqual([mic.bnStats, mic.pseudoThreshold, mic.ratio], ['keep', 0.8, 0.7]);
  const official = resolveConfig({ preset: 'daformer', flags: { method: 'mic-daformer' } }).hyper.mic;
  assert.deepEqual([official.bnStats, official.pseudoThreshold], ['update', null], 'the official values elsewhere');
});

test('a config written before the sections (flat hyper:) loads, mapped, with one note; keys the method does not read are dropped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-legacy-'));
  try {
    const file = join(dir, 'config.yaml');
    writeFileSync(file, 'extends: cpu\nmethod: clan\nhyper:\n  lrG: 0.002\n  lambdaLocal: 12\n  ndf: 16\n  emaAlpha: 0.5\n  lambdaEnt: 0.3\n');
    const notes: string[] = [];
    const c = resolveConfig({ config: file, log: (l) => notes.push(l) });
    assert.deepEqual([c.hyper.lrG, c.hyper.clan.lambdaLocal, c.hyper.adversarial.ndf], [0.002, 12, 16]);
    assert.equal(c.hyper.dacs.emaAlpha, 0.99, 'dropped: CLAN never read it');
    assert.deepEqual(notes, [`note: ${file}: old flat hyper keys mapped onto the method sections (hyper.lambdaLocal → hyper.clan.lambdaLocal, ` +
      'hyper.ndf → hyper.adversarial.ndf); dropped, the method does not read them: hyper.emaAlpha, hyper.lambdaEnt']);
    // an old --set name is mapped too, and an old name of a section the method does not read is the usual error
    const s = resolveConfig({ preset: 'cpu', sets: ['hyper.lambdaLocal=7'], log: () => {} });
    assert.equal(s.hyper.clan.lambdaLocal, 7);
    assert.throws(() => resolveConfig({ preset: 'cpu', flags: { method: 'dacs' }, sets: ['hyper.lambdaLocal=7'], log: () => {} }), /hyper\.clan\.lambdaLocal is clan's/);
    // MinEnt's damping was the flat key too
    const m = resolveConfig({ preset: 'cpu', flags: { method: 'minent', hyper: { damping: true } }, log: () => {} });
    assert.equal(m.hyper.minent.damping, true);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a run keeps only the sections its method reads (config.yaml, checkpoints); another run\'s config as a base is pruned, not refused', () => {
  const c = resolveConfig({ preset: 'cpu', flags: { method: 'clan' } });
  const sections = (h: object) => Object.keys(h).filter((k) => ['adversarial', 'clan', 'minent', 'dacs', 'cotrain'].includes(k));
  assert.deepEqual(sections(c.hyper), ['adversarial', 'clan', 'minent', 'dacs', 'cotrain'], 'resolved: every section');
  assert.deepEqual(sections(forMethod(c).hyper), ['adversarial', 'clan']);
  const round = resolveConfig({ base: JSON.parse(JSON.stringify(forMethod(c))) as Record<string, unknown>, flags: { method: 'cotrain' } });
  assert.equal(round.method, 'cotrain');
  assert.deepEqual(sections(round.hyper), ['cotrain']);
});

test('a preset\'s size stays with the preset\'s dataset: a dataset the user names without a size gets its own; a given size wins', () => {
  const c = resolveConfig({ preset: 'cpu', flags: { source: { data: 'folder:/data/mine' }, target: { data: 'folder:/data/theirs' } } });
  assert.deepEqual([c.source.size, c.target.size], [undefined, undefined]);
  assert.deepEqual(c.targetVal!.size, [64, 64], 'targetVal is still the preset\'s digitscapes:val');
  const sized = resolveConfig({ preset: 'cpu', flags: { source: { data: 'folder:/data/mine' } }, sets: ['source.size=[96, 64]'] });
  assert.deepEqual(sized.source.size, [96, 64]);
  assert.deepEqual(resolveConfig({ preset: 'cpu' }).source.size, [64, 64], 'the preset alone keeps its sizes');
  // a file that extends the preset and names a dataset: the same rule; one that also names a size keeps it
  const dir = mkdtempSync(join(tmpdir(), 'clan-size-'));
  try {
    const f = join(dir, 'mine.yaml');
    writeFileSync(f, 'extends: cpu\ntargetVal:\n  data: folder:/data/val\n');
    assert.equal(resolveConfig({ config: f }, f).targetVal!.size, undefined);
    writeFileSync(f, 'extends: cpu\ntargetVal:\n  data: folder:/data/val\n  size: [96, 64]\n');
    assert.deepEqual(resolveConfig({ config: f }, f).targetVal!.size, [96, 64]);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
