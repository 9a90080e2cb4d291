// The `clan` command as a new user meets it: every bad input ends with exactly one line on stderr naming the
// path or key and what is expected, the documented exit code, and no stack trace. Plus Ctrl-C, NaN, a SIGKILL
// during a checkpoint write, eval --json and predict outputs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from 'fast-png';
import { packageRoot } from '../util/paths.js';
import { readCheckpoint, listCheckpoints } from '../io/checkpoint.js';

const CLAN = join(packageRoot(), 'bin', 'clan.js');
const tmp = mkdtempSync(join(tmpdir(), 'clan-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const TINY = ['--preset', 'cpu', '--backbone', 'micro', '--threads', '1', '--set', 'hyper.adversarial.ndf=8', '--set', 'targetVal.limit=4', '--set', 'logEvery=1'];

/** `clan ARGS` through the launcher; with `hooks` through the test entry (src/cli/cli.testing.ts) that sets training hooks. */
function clan(args: string[], env: Record<string, string> = {}, hooks: string[] = []) {
  const entry = hooks.length ? [join(packageRoot(), 'dist', 'src', 'cli', 'cli.testing.js'), ...hooks, '--'] : [CLAN];
  const r = spawnSync(process.execPath, [...entry, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLineError(r: ReturnType<typeof clan>, code: number, pattern: RegExp): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  assert.equal(lines.length, 1, `exactly one stderr line, got:\n${r.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack frames');
}

let ckpt = '';
before(() => {
  const r = clan(['train', ...TINY, '--iters', '4', '--set', 'checkpointEvery=2', '--out', join(tmp, 'run')]);
  assert.equal(r.code, 0, r.stderr);
  ckpt = listCheckpoints(join(tmp, 'run', 'checkpoints'))[0]!;
});

test('train --help lists the methods from their registry and every config key with its default', () => {
  const r = clan(['train', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /--method +source-only: G on labelled source images only/);
  assert.match(r.stdout, /^ {2}hyper\.clan\.detachM +\[false\] true: M only weights G's adversarial loss/m);
  assert.match(r.stdout, /^ {2}targetVal\.protocol +\["all"\] classes averaged into mIoU/m);
});

test('usage errors exit 2 with one line', () => {
  assertOneLineError(clan([]), 2, /^clan: no command given; expected one of: demo, train, selftrain, eval, predict, export, serve, report/);
  assertOneLineError(clan(['trian']), 2, /^clan: unknown command 'trian' \(did you mean 'train'\?\)/);
  assertOneLineError(clan(['train', '--bogus']), 2, /^clan: train: Unknown option '--bogus'/);
  assertOneLineError(clan(['train']), 2, /give --config, --preset or --source/);
  assertOneLineError(clan(['train', '--preset', 'cpu', '--source', 'gtaa:/data/x']), 2, /unknown dataset 'gtaa' \(did you mean 'gta5'\?\)/);
  assertOneLineError(clan(['train', '--preset', 'cpx']), 2, /unknown preset 'cpx' \(did you mean 'cpu'\?\)/);
  assertOneLineError(clan(['eval', '--checkpoint', 'x']), 2, /eval: --data TYPE:ROOT\[:SPLIT\] is required/);
});

test('a negative number for a numeric flag says what the flag expects (not "argument is ambiguous")', () => {
  assertOneLineError(clan(['train', '--preset', 'cpu', '--iters', '-5']), 2, /^clan: train: --iters expects a positive integer, got '-5'$/);
  assertOneLineError(clan(['train', '--preset', 'cpu', '--seed', '-1']), 2, /^clan: train: --seed expects a non-negative integer, got '-1'$/);
  assertOneLineError(clan(['eval', '--checkpoint', ckpt, '--data', 'digitscapes:val', '--limit', '-5']), 2, /^clan: eval: --limit expects a positive integer, got '-5'$/);
  assertOneLineError(clan(['bench', 'step', '--iters', '-5']), 2, /^clan: bench: --iters expects a positive integer, got '-5'$/);
  assertOneLineError(clan(['demo', '--seeds', '-1.5']), 2, /^clan: demo: --seeds expects a positive integer, got '-1\.5'$/);
  assertOneLineError(clan(['selftrain', '--from', ckpt, '--method', 'clan'], {}), 2, /^clan: selftrain: --method expects cotrain or clan-cotrain, got 'clan'$/);
  assertOneLineError(clan(['eval', '--checkpoint', ckpt, '--data', 'digitscapes:val', '--size', '-64x64']), 2, /^clan: eval: --size expects WxH/);
  assertOneLineError(clan(['predict', '--out', '-x']), 2, /^clan: predict: --out expects a value, got '-x' \(a value that starts with '-' is written --out=-x\)$/);
});

test('a misspelt --set key gets the nearest config key', () => {
  assertOneLineError(clan(['train', '--preset', 'cpu', '--set', 'hyper.lamdaLocal=10']), 2, /^clan: --set hyper\.lamdaLocal=10: unknown key 'hyper\.lamdaLocal' \(did you mean 'hyper\.clan\.lambdaLocal'\?\)/);
});

test('bad paths, empty folders, bad config, bad checkpoints, unwritable --out: one line, exit 1', () => {
  assertOneLineError(clan(['train', ...TINY, '--set', 'targetVal.protocol=16', '--out', join(tmp, 'p16')]), 1,
    /^clan: targetVal\.protocol 16 averages a SYNTHIA subset .*dataset digitscapes:val has 11 other classes .*use targetVal\.protocol all/);
  assert.ok(!existsSync(join(tmp, 'p16', 'checkpoints')), 'refused before any step');
  assertOneLineError(clan(['train', '--preset', 'cpu', '--source', 'gta5:/nonexistent/GTA5']), 1, /\/nonexistent\/GTA5/);
  const empty = join(tmp, 'empty'); mkdirSync(empty, { recursive: true });
  assertOneLineError(clan(['train', '--preset', 'cpu', '--source', `folder:${empty}`]), 1, new RegExp(`${empty}.*images`));
  const cfg = join(tmp, 'bad.yaml');
  writeFileSync(cfg, 'extends: cpu\nhyper:\n  lambdaLocl: 3\nmethod: clam\n');
  const bad = clan(['train', '--config', cfg]);
  assertOneLineError(bad, 1, /bad\.yaml: .*unknown key 'hyper\.lambdaLocl'/);
  assert.match(bad.stderr, /'method' must be one of 'source-only', 'adversarial', 'clan', 'minent', 'advent', 'dacs', 'cotrain', 'clan-cotrain', 'hrda', 'daformer', 'mic', 'mic-hrda', 'mic-daformer', got 'clam'/);
  assertOneLineError(clan(['train', '--preset', 'cpu', '--set', 'iters=many']), 2, /'iters' must be number, got string/);
  assertOneLineError(clan(['eval', '--checkpoint', join(tmp, 'nope.safetensors'), '--data', 'digitscapes:val']), 1, /checkpoint .*nope\.safetensors does not exist/);
  writeFileSync(join(tmp, 'junk.safetensors'), 'not a checkpoint at all');
  assertOneLineError(clan(['eval', '--checkpoint', join(tmp, 'junk.safetensors'), '--data', 'digitscapes:val']), 1, /junk\.safetensors is not a readable checkpoint/);
  const cs = join(packageRoot(), '..', 'shared', 'fixtures', 'cityscapes');
  if (existsSync(cs)) assertOneLineError(clan(['eval', '--checkpoint', ckpt, '--data', `cityscapes:${cs}:val`]), 1, /predicts 11 classes but dataset cityscapes:.* has 19/);
  assertOneLineError(clan(['predict', '--checkpoint', ckpt, '--input', join(tmp, 'missing.png'), '--out', join(tmp, 'p')]), 1, /--input .*missing\.png does not exist/);
  assertOneLineError(clan(['train', ...TINY, '--iters', '1', '--out', '/dev/null/run']), 1, /--out \/dev\/null\/run is not writable \(ENOTDIR/);
  // Node's recursive mkdir never returns under /proc; ours answers at once
  if (existsSync('/proc/self')) {
    assertOneLineError(clan(['train', ...TINY, '--iters', '1', '--out', '/proc/clan/run']), 1, /--out \/proc\/clan\/run is not writable \(ENOENT at \/proc\/clan\)/);
    assertOneLineError(clan(['demo', '--quick', '--out', '/proc/clan/demo']), 1, /--out \/proc\/clan\/demo is not writable \(ENOENT/);
  }
});

test('missing libtorch addon: doctor reports it with the fix (exit 1); other commands fail in one line', () => {
  assertOneLineError(clan(['eval', '--checkpoint', ckpt, '--data', 'digitscapes:val'], { CLAN_NATIVE: '/nonexistent/clan_native.node' }), 1,
    /^clan: the libtorch addon is not built \(\/nonexistent\/clan_native\.node is missing\): build it with 'npm run build:native' in a checkout or 'npm rebuild clan'/);
  const noAddon = clan(['doctor'], { CLAN_NATIVE: '/nonexistent/clan_native.node' }); // the report still comes, then exit 1
  assert.equal(noAddon.code, 1, noAddon.stderr);
  assert.match(noAddon.stdout, /^libtorch +not built$/m);
  assert.match(noAddon.stdout, /^PyTorch +\S/m);
  assert.match(noAddon.stdout, /^WARNING: the libtorch addon is not built .*'npm rebuild clan' .*apt-get install -y libtorch-dev libopenblas0-openmp/m);
});

test('eval --json prints only JSON: mIoU, mAcc, aAcc and every class in class order; the table has IoU and Acc', () => {
  const r = clan(['eval', '--checkpoint', ckpt, '--data', 'digitscapes:val', '--limit', '5', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { miou: number; macc: number; aacc: number;
    per_class: { class: string; iou: number | null; acc: number | null }[]; protocol: number; images: number };
  assert.equal(o.images, 5);
  assert.deepEqual(o.per_class.map((c) => c.class), ['background', ...'0123456789']);
  for (const x of [o.miou, o.macc, o.aacc]) assert.ok(x >= 0 && x <= 1, String(x));
  const mean = (k: 'iou' | 'acc') => { const v = o.per_class.map((c) => c[k]).filter((x): x is number => x !== null); return v.reduce((a, b) => a + b, 0) / v.length; };
  assert.ok(Math.abs(o.miou - mean('iou')) < 1e-12 && Math.abs(o.macc - mean('acc')) < 1e-12);
  const text = clan(['eval', '--checkpoint', ckpt, '--data', 'digitscapes:val', '--limit', '5']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^class +IoU +Acc$/m);
  assert.match(text.stdout, /^background +\d+\.\d\d +\d+\.\d\d$/m);
  assert.match(text.stdout, new RegExp(`^aAcc +${(o.aacc * 100).toFixed(2)}$`, 'm'));
});

test('eval and predict run a file in its own inference mode (a converted mmseg checkpoint\'s slide); the flags win; the mode is reported', async () => {
  const { writeSafetensorsFile } = await import('../io/safetensors.js');
  const { sealedMetadata } = await import('../io/checkpoint.js');
  // a freshly initialised micro network whose labels depend on context, so windows and the whole image differ
  const torch = await import('../torch/index.js');
  const { createSegmentor } = await import('../models/registry.js');
  torch.manualSeed(3);
  const G = createSegmentor('micro', 11);
  const tensors = new Map([...G.stateDict()].map(([k, t]) => [`G.${k}`, t.toHost()] as const));
  G.dispose();
  // heads ×100 and no bias: the init's N(0, 0.01) heads would leave one class everywhere, the same in any mode
  for (const [k, t] of tensors) if (/layer[56]\./.test(k)) (t.data as Float32Array).forEach((v, i, a) => { a[i] = k.endsWith('bias') ? 0 : v * 100; });
  const w = join(tmp, 'slide.safetensors');
  const slide = { mode: 'slide', crop: [32, 32], stride: [16, 16] };
  writeSafetensorsFile(w, tensors, sealedMetadata(tensors, { format: 'clan-weights', backbone: 'micro', num_classes: '11', eval_size: '64x64',
    class_names: JSON.stringify(['background', ...'0123456789']), inference: JSON.stringify(slide) }));
  const evalJson = (...flags: string[]) => {
    const r = clan(['eval', '--checkpoint', w, '--data', 'digitscapes:val', '--limit', '3', '--json', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { miou: number; aacc: number; inference: unknown };
  };
  const own = evalJson();
  assert.deepEqual(own.inference, slide);
  const flags = evalJson('--mode', 'slide', '--crop', '32x32', '--stride', '16x16');
  assert.deepEqual([flags.miou, flags.aacc], [own.miou, own.aacc], 'the same passes as the flags');
  const whole = evalJson('--mode', 'whole');
  assert.deepEqual(whole.inference, { mode: 'whole' });
  assert.notDeepEqual([whole.miou, whole.aacc], [own.miou, own.aacc], 'whole differs from slide on this network');
  const text = clan(['eval', '--checkpoint', w, '--data', 'digitscapes:val', '--limit', '3']);
  assert.match(text.stdout, /digitscapes:val: 3 images, protocol all, slide 32x32 every 16x16/);
  const root = await folderWithJunk('modes', 2);
  const labels = (name: string, ...flags: string[]) => {
    const r = clan(['predict', '--checkpoint', w, '--input', join(root, 'images', 'v0.png'), '--out', join(tmp, name), ...flags]);
    assert.equal(r.code, 0, r.stderr);
    return readFileSync(join(tmp, name, 'v0_label.png'));
  };
  const p = labels('p-own');
  assert.ok(p.equals(labels('p-flags', '--mode', 'slide', '--crop', '32x32', '--stride', '16x16')), 'predict: the same label map as the flags');
  assert.ok(!p.equals(labels('p-whole', '--mode', 'whole')), 'predict: --mode whole wins');
});

/** A folder dataset of digitscapes val scenes (11 classes) whose last image is junk. */
async function folderWithJunk(name: string, n: number): Promise<string> {
  const { digitscapesSample } = await import('../data/digitscapes.js');
  const { encodePng } = await import('../report/png.js');
  const root = join(tmp, name);
  mkdirSync(join(root, 'images'), { recursive: true }); mkdirSync(join(root, 'labels'), { recursive: true });
  for (let i = 0; i < n; i++) {
    const s = digitscapesSample('val', i);
    writeFileSync(join(root, 'images', `v${i}.png`), i === n - 1 ? 'not a png' : encodePng(s.rgb, 64, 64));
    writeFileSync(join(root, 'labels', `v${i}.png`), encodePng(s.label, 64, 64, 1));
  }
  writeFileSync(join(root, 'classes.txt'), ['background', ...'0123456789'].join('\n') + '\n');
  return root;
}

test('eval and predict --skip-bad log and skip an unreadable image; without it, one line naming the file', async () => {
  const root = await folderWithJunk('junk', 3);
  assertOneLineError(clan(['eval', '--checkpoint', ckpt, '--data', `folder:${root}`]), 1, /v2\.png/);
  const e = clan(['eval', '--checkpoint', ckpt, '--data', `folder:${root}`, '--skip-bad', '--json']);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /skipping: .*v2\.png/);
  assert.equal((JSON.parse(e.stdout) as { images: number }).images, 2);
  const out = join(tmp, 'pred-junk');
  assertOneLineError(clan(['predict', '--checkpoint', ckpt, '--input', join(root, 'images'), '--out', out]), 1, /v2\.png: .*\(--skip-bad skips unreadable images\)$/);
  const p = clan(['predict', '--checkpoint', ckpt, '--input', join(root, 'images'), '--out', out, '--skip-bad']);
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stderr, /^predict: skipping .*v2\.png/m);
  assert.match(p.stderr, /wrote 8 files to .*; skipped 1 unreadable image$/m);
  assert.ok(existsSync(join(out, 'v1_overlay.png')) && !existsSync(join(out, 'v2_label.png')));
});

test('eval --skip-bad also skips a label whose value is no class (found when the image is read), naming it; the open-time hint names the flag', async () => {
  const root = await folderWithJunk('badvalue', 3);
  const { digitscapesSample } = await import('../data/digitscapes.js');
  const { encodePng } = await import('../report/png.js');
  writeFileSync(join(root, 'images', 'v2.png'), encodePng(digitscapesSample('val', 2).rgb, 64, 64)); // a readable image
  const bad = digitscapesSample('val', 2).label.slice(); bad[5] = 40;                                 // class 40 of 11
  writeFileSync(join(root, 'labels', 'v2.png'), encodePng(bad, 64, 64, 1));
  assertOneLineError(clan(['eval', '--checkpoint', ckpt, '--data', `folder:${root}`]), 1, /labels\/v2\.png: class index 40 at pixel \(x=5, y=0\) is not in \[0, 11\) nor 255/);
  const e = clan(['eval', '--checkpoint', ckpt, '--data', `folder:${root}`, '--skip-bad', '--json']);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /^eval: skipping v2: .*class index 40/m);
  assert.equal((JSON.parse(e.stdout) as { images: number }).images, 2);
  // a problem found when the dataset is opened (a missing label) names how to skip it, in the command's own words
  rmSync(join(root, 'labels', 'v1.png'));
  assertOneLineError(clan(['eval', '--checkpoint', ckpt, '--data', `folder:${root}`]), 1, /or skip the affected samples with --skip-bad\)/);
});

test('predict writes label/color/overlay/disagreement PNGs at the input size; colour = palette[label]', async () => {
  const { digitscapesSample } = await import('../data/digitscapes.js');
  const { encodePng, colormap } = await import('../report/png.js');
  const inDir = join(tmp, 'imgs'); mkdirSync(inDir, { recursive: true });
  for (let i = 0; i < 2; i++) writeFileSync(join(inDir, `s${i}.png`), encodePng(digitscapesSample('val', i).rgb, 64, 64));
  const r = clan(['predict', '--checkpoint', ckpt, '--input', inDir, '--out', join(tmp, 'pred')]);
  assert.equal(r.code, 0, r.stderr);
  const palette = readCheckpoint(ckpt).meta.palette!;
  for (let i = 0; i < 2; i++) {
    const png = (k: string) => decode(new Uint8Array(readFileSync(join(tmp, 'pred', `s${i}_${k}.png`))));
    const lab = png('label'); const col = png('color'); const ov = png('overlay'); const dis = png('disagreement');
    for (const p of [lab, col, ov, dis]) assert.deepEqual([p.width, p.height], [64, 64]);
    const l = lab.data as Uint8Array; const c = col.data as Uint8Array;
    for (let q = 0; q < 64 * 64; q++) {
      assert.ok(l[q]! < 11 || l[q] === 255);
      assert.deepEqual([c[3 * q], c[3 * q + 1], c[3 * q + 2]], palette[l[q]!], `pixel ${q}`);
    }
    // The overlay leaves background pixels (class 0, black in the palette) as they are and blends the others.
    const img = digitscapesSample('val', i).rgb; const o = ov.data as Uint8Array;
    for (let q = 0; q < 64 * 64 * 3; q++) {
      const want = l[(q / 3) | 0] === 0 ? img[q]! : Math.round(0.5 * img[q]! + 0.5 * c[q]!);
      assert.equal(o[q], want, `overlay value ${q}`);
    }
    assert.ok(l.some((v) => v === 0), 'some background');
    // The disagreement map is on the fixed scale it records: viridis colours only.
    assert.equal(dis.text['clan:disagreement_max'], '0.1');
    const d = dis.data as Uint8Array;
    const viridis = new Set(Array.from({ length: 256 }, (_, j) => colormap(j / 255).join()));
    for (let q = 0; q < 64 * 64; q++) assert.ok(viridis.has([d[3 * q], d[3 * q + 1], d[3 * q + 2]].join()), `disagreement pixel ${q}`);
  }
});

test('a NaN loss stops the run naming the step and keeps the last good checkpoint', () => {
  const out = join(tmp, 'nan');
  const r = clan(['train', ...TINY, '--iters', '6', '--set', 'checkpointEvery=2', '--out', out], {}, ['--nan-at', '3']);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('clan:'));
  assert.equal(r.code, 1);
  assert.match(lines[0]!, /loss 'seg' is NaN at step 3; stopped, the last good checkpoint is .*ckpt_0000002/);
  assert.deepEqual(readdirSync(join(out, 'checkpoints')).filter((f) => f.endsWith('.safetensors')), ['ckpt_0000002.safetensors']);
});

test('SIGKILL during a checkpoint write: the temp file is ignored and the previous checkpoint loads', () => {
  const out = join(tmp, 'killed');
  const r = clan(['train', ...TINY, '--iters', '6', '--set', 'checkpointEvery=2', '--out', out], {}, ['--kill-in-checkpoint', 'ckpt_0000004']);
  assert.equal(r.signal, 'SIGKILL');
  const files = readdirSync(join(out, 'checkpoints'));
  assert.ok(files.some((f) => /^\.ckpt_0000004\.safetensors\.tmp-/.test(f)), `temp file left: ${files}`);
  assert.equal(readCheckpoint(listCheckpoints(join(out, 'checkpoints'))[0]!).meta.step, 2);
  const resumed = clan(['train', '--resume', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming .* \(step 2\)/);
});

test('Ctrl-C (SIGINT) writes a checkpoint and exits 130', async () => {
  const out = join(tmp, 'sigint');
  const child = spawn(process.execPath, [CLAN, 'train', ...TINY, '--iters', '100000', '--set', 'checkpointEvery=100000', '--out', out], { cwd: tmp });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (/ 3\/100000/.test(err) && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 130, err);
  assert.match(err, /clan: interrupted at step \d+; checkpoint .*ckpt_\d+\.safetensors; continue with: clan train --resume/);
  assert.equal(listCheckpoints(join(out, 'checkpoints')).length, 1);
  assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<h1>CLAN — sigint<\/h1>/); // the report of what ran
});

test('demo: SIGINT to the parent reaches every child run; each checkpoints, the demo exits 130', async () => {
  const out = join(tmp, 'demo-sigint');
  const child = spawn(process.execPath, [CLAN, 'demo', '--iters', '100000', '--jobs', '2', '--threads', '1', '--val-limit', '4', '--out', out], { cwd: tmp });
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
    if (/clan seed 0 .* 50\/100000/.test(err) && /adversarial seed 0 .* 50\/100000/.test(err) && !child.killed) child.kill('SIGINT');
  });
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  assert.equal(code, 130, err);
  assert.match(err.trim().split('\n').pop()!, /^clan: demo: interrupted; the (clan|adversarial) seed 0 run kept a checkpoint in /);
  for (const m of ['clan', 'adversarial']) assert.equal(listCheckpoints(join(out, m, 'seed-0', 'checkpoints')).length, 1, m);
  assert.ok(!existsSync(join(out, 'source_only')), 'no new run starts after Ctrl-C');
});

test('eval --run evaluates every checkpoint into eval.csv and marks the best', () => {
  const r = clan(['eval', '--run', join(tmp, 'run'), '--data', 'digitscapes:val', '--limit', '4', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { best_step: number; checkpoints: number; csv: string };
  assert.equal(o.checkpoints, 2);
  const csv = readFileSync(o.csv, 'utf8').trim().split('\n');
  assert.match(csv[0]!, /^step,miou,background,0,1,2,3,4,5,6,7,8,9,best$/);
  assert.equal(csv.length, 3);
  assert.equal(csv.slice(1).filter((l) => l.endsWith(',best')).length, 1);
  assert.ok(csv.some((l) => l.startsWith(`${o.best_step},`) && l.endsWith(',best')));
});

test('demo writes a checkpoint per method and seed, summary.json and a self-contained report.html', () => {
  const out = join(tmp, 'demo');
  const r = clan(['demo', '--iters', '3', '--seeds', '2', '--val-limit', '6', '--jobs', '2', '--threads', '1', '--out', out], {});
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Record<string, {
    target_miou: number; target_miou_std: number; per_seed: number[];
    per_class_iou: { class: string; iou: number | null; per_seed: (number | null)[] }[]; iters: number; checkpoint: string;
  }> & { untrained_target_miou: number };
  for (const k of ['source_only', 'adversarial', 'clan']) {
    const m = s[k]!;
    assert.equal(m.per_seed.length, 2);
    assert.ok(Math.abs(m.target_miou - (m.per_seed[0]! + m.per_seed[1]!) / 2) < 1e-12);
    assert.equal(Object.keys(m.per_class_iou).length, 11);
    // per class: each seed's IoU as its run's final evaluation has it, and their mean
    const finalIou = [0, 1].map((seed) => (JSON.parse(readFileSync(join(out, k, `seed-${seed}`, 'result.json'), 'utf8')) as
      { finalEval: { iou: (number | null)[] } }).finalEval.iou);
    m.per_class_iou.forEach((c, i) => {
      assert.deepEqual(c.per_seed, [finalIou[0]![i], finalIou[1]![i]], `${k} class ${c.class}`);
      if (c.iou !== null) assert.ok(Math.abs(c.iou - (c.per_seed[0]! + c.per_seed[1]!) / 2) < 1e-12, `${k} class ${c.class}`);
    });
    assert.equal(m.iters, 3);
    assert.ok(existsSync(m.checkpoint), m.checkpoint);
  }
  assert.ok(typeof s.untrained_target_miou === 'number');
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /(src|href)=["']https?:/);
  assert.ok((html.match(/<svg/g) ?? []).length >= 5);
  assert.match(r.stdout, /CLAN +target mIoU \d+\.\d\d ± \d+\.\d\d/);
});

test('demo --shared-start: every method of a seed starts from that seed\'s source-only weights; their mIoU in summary.json and printed', () => {
  const out = join(tmp, 'demo-start');
  const r = clan(['demo', '--methods', 'source-only,dacs', '--iters', '2', '--shared-start', '2', '--seeds', '2', '--val-limit', '4',
    '--jobs', '2', '--threads', '1', '--out', out], {});
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as
    { shared_start: { iters: number; target_miou: number; target_miou_std: number; per_seed: number[]; checkpoints: string[] } };
  const start = s.shared_start;
  const result = (seed: number) => JSON.parse(readFileSync(join(out, 'shared-start', `seed-${seed}`, 'result.json'), 'utf8')) as { finalEval: { miou: number } };
  assert.deepEqual(start.per_seed, [result(0).finalEval.miou, result(1).finalEval.miou]);
  assert.ok(Math.abs(start.target_miou - (start.per_seed[0]! + start.per_seed[1]!) / 2) < 1e-12);
  assert.equal(start.iters, 2);
  for (const m of ['source_only', 'dacs']) for (const seed of [0, 1]) {
    const cfg = readFileSync(join(out, m, `seed-${seed}`, 'config.yaml'), 'utf8');
    assert.ok(cfg.includes(start.checkpoints[seed]!), `${m} seed ${seed} starts from ${start.checkpoints[seed]}`);
  }
  const pct = (v: number) => (100 * v).toFixed(2);
  assert.ok(r.stdout.includes(`the shared start (source-only, 2 iterations) target mIoU ${pct(start.target_miou)} ± ${pct(start.target_miou_std)}`), r.stdout);
});

test('demo --texture, --layout and --set reach every run, child processes included; a misspelt --set key stops it at once', () => {
  const out = join(tmp, 'demo-texture');
  const r = clan(['demo', '--iters', '2', '--seeds', '1', '--val-limit', '4', '--methods', 'adversarial,clan', '--jobs', '2', '--threads', '1',
    '--texture', '56789', '--layout', 'row', '--set', 'hyper.adversarial.dFullSize=false', '--out', out], {});
  assert.equal(r.code, 0, r.stderr);
  for (const m of ['adversarial', 'clan']) {
    const cfg = readFileSync(join(out, m, 'seed-0', 'config.yaml'), 'utf8');
    assert.match(cfg, /data: digitscapes:source,layout=row\n/);
    assert.match(cfg, /data: digitscapes:target,texture=56789,layout=row\n/);
    assert.match(cfg, /data: digitscapes:val,texture=56789,layout=row\n/);
    assert.match(cfg, /dFullSize: false/);
  }
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { data: { test: string }; sets: string[] };
  assert.equal(s.data.test, 'digitscapes:test,texture=56789,layout=row');
  assert.deepEqual(s.sets, ['hyper.adversarial.dFullSize=false']);
  assertOneLineError(clan(['demo', '--set', 'hyper.dFullsize=false', '--out', join(tmp, 'demo-bad')]), 2, /unknown key 'hyper\.dFullsize' \(did you mean 'hyper\.adversarial\.dFullSize'\?\)/);
  assertOneLineError(clan(['demo', '--texture', '5a', '--out', join(tmp, 'demo-bad')]), 2, /^clan: demo: --texture expects distinct digits 0-9 \(e\.g\. 56789\), got '5a'$/);
  assertOneLineError(clan(['demo', '--layout', 'rows', '--out', join(tmp, 'demo-bad')]), 2, /^clan: demo: --layout expects one of scatter, row, got 'rows'$/);
});

test('demo: runs in child processes (--jobs 2) and in this process (--jobs 1) give identical results; --first-seed runs chosen seeds', () => {
  type Summary = Record<string, { per_seed: number[]; per_class_iou: Record<string, number | null> }> & { seeds: number[] };
  const read = (dir: string) => JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as Summary;
  const pool = read(join(tmp, 'demo'));                         // the test above: --jobs 2, seeds 0 and 1
  const out = join(tmp, 'demo-serial');
  // seed 1 alone, in this process: the same numbers as seed 1 of the two-seed run in children
  const r = clan(['demo', '--iters', '3', '--seeds', '1', '--first-seed', '1', '--val-limit', '6', '--jobs', '1', '--threads', '1', '--out', out], {});
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(tmp, 'demo', 'clan', 'seed-1', 'result.json')));
  assert.ok(existsSync(join(out, 'clan', 'seed-1', 'checkpoints')) && !existsSync(join(out, 'clan', 'seed-0')), 'seed 1 only');
  assert.ok(!existsSync(join(out, 'clan', 'seed-1', 'result.json')), 'only children write result.json');
  const serial = read(out);
  assert.deepEqual([serial.seeds, pool.seeds], [[1], [0, 1]]);
  for (const k of ['source_only', 'adversarial', 'clan']) assert.equal(serial[k]!.per_seed[0], pool[k]!.per_seed[1], k);
  assertOneLineError(clan(['demo', '--job', 'clan', '--out', out]), 2, /--job expects METHOD:SEED with --job-out DIR, got 'clan'/);
});

test('a folder source with an unlabelled image: an error naming it, or skipped with source.skipBad', async () => {
  const { digitscapesSample } = await import('../data/digitscapes.js');
  const { encodePng } = await import('../report/png.js');
  const root = join(tmp, 'mine');
  mkdirSync(join(root, 'images'), { recursive: true }); mkdirSync(join(root, 'labels'), { recursive: true });
  for (let i = 0; i < 3; i++) {
    const s = digitscapesSample('source', i);
    writeFileSync(join(root, 'images', `a${i}.png`), encodePng(s.rgb, 64, 64));
    if (i < 2) writeFileSync(join(root, 'labels', `a${i}.png`), encodePng(s.label, 64, 64, 1));
  }
  writeFileSync(join(root, 'classes.txt'), ['background', ...'0123456789'].join('\n') + '\n');
  const args = ['train', ...TINY, '--iters', '1', '--source', `folder:${root}`, '--set', 'source.size=[64,64]'];
  assertOneLineError(clan([...args, '--out', join(tmp, 'sb1')]), 1, /a2\.png/);
  const ok = clan([...args, '--set', 'source.skipBad=true', '--out', join(tmp, 'sb2')]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stderr, /a2\.png/);
});
