// Memory budgets (infer/cost.ts, CLAN_MEMORY_BUDGET_MB): the estimator against hand-computed values; a 13376² PNG
// (under the decode limit) refused by `clan predict` and `clan eval` in one line before it is decoded, the child's peak
// RSS measured; a 4000² one predicted in column bands under 2 GB (it took 4.9 GB before); `clan train` refused before
// any step; a bad value of the variable in one line; `clan train --dry-run` prints the config and the plan.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { packageRoot } from '../util/paths.js';
import { limit } from '../util/limits.js';
import { ConfigError } from '../util/errors.js';
import { writePlausibleWeights } from '../deploy/deploy.testing.js';
import {
  BASE_BYTES, EVAL_PER_PIXEL, INFER_PER_FEATURE, INFER_PER_PIXEL, INFER_PER_PARAM, PREDICT_PER_PIXEL, TRAIN_PER_FEATURE, TRAIN_PER_PARAM,
  TRAIN_PER_PIXEL, WHOLE_MAPS, BANDED_BYTES, checkBudget, featureFloats, inferenceBytes, networkInput, trainBytes, wideBytes,
} from '../infer/cost.js';

const CLAN = join(packageRoot(), 'bin', 'clan.js');
const tmp = mkdtempSync(join(tmpdir(), 'clan-budget-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const MiB = 2 ** 20;

/** `clan ARGS` under /usr/bin/time: exit code, stdout, stderr without time's line, peak RSS in bytes (VmHWM). */
function clan(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('/usr/bin/time', ['-f', 'peak-kb %M', process.execPath, CLAN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 300_000,
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', ...env } });
  const lines = r.stderr.split('\n');
  const at = lines.findIndex((l) => l.startsWith('peak-kb '));
  const peak = Number(lines[at]!.slice(8)) * 1024;
  const stderr = lines.filter((l, i) => i !== at && !l.startsWith('Command exited with non-zero status')).join('\n').trim();
  return { code: r.status, stdout: r.stdout, stderr, peak };
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8); head.writeUInt32BE(data.length, 0); head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An all-zero 1-bit PNG of side×side (gray, or palette black/white for labels): a few KB for 179 M pixels. */
function zeroPng(side: number, palette = false): Buffer {
  const ihdr = Buffer.alloc(13); ihdr.writeUInt32BE(side, 0); ihdr.writeUInt32BE(side, 4); ihdr[8] = 1; ihdr[9] = palette ? 3 : 0;
  const raw = new Uint8Array(side * (1 + Math.ceil(side / 8)));                    // filter byte 0 + packed bits per row
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
    ...(palette ? [chunk('PLTE', Uint8Array.of(0, 0, 0, 255, 255, 255))] : []), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', new Uint8Array(0))]);
}

test('the estimator: feature floats from the backbone shape, bytes from the fitted constants (hand-computed)', () => {
  // resnet101: stem 3·64/2² = 48; stages 3·22·64/4², 4·22·128/8², 23·22·256/8², 3·22·512/8² = 264, 176, 2024, 528
  assert.equal(featureFloats('resnet101'), 48 + 264 + 176 + 2024 + 528);
  // micro (width 4): 3 + 5.5 + 2.75 + 5.5 + 11
  assert.equal(featureFloats('micro'), 27.75);
  // resnet18 (basic, 7p per block, 2 blocks a stage): 48 + 2·448/16 + 2·896/64 + 2·1792/64 + 2·3584/64
  assert.equal(featureFloats('resnet18'), 48 + 56 + 28 + 56 + 112);
  // predict of a 13376² image, micro (208,252 parameters), 19 classes, model input 1024×512: banded, no [K, H, W] map
  const P = 1024 * 512; const px = 13376 * 13376;
  const predict = inferenceBytes({ command: 'predict', backbone: 'micro', params: 208_252, classes: 19, input: [1024, 512], image: [13376, 13376] });
  assert.equal(predict,
    BASE_BYTES + INFER_PER_PARAM * 208_252 + (INFER_PER_PIXEL + INFER_PER_FEATURE * 27.75) * P + PREDICT_PER_PIXEL * px + BANDED_BYTES
    + 4 * 3 * 19 * 65 * 13376);                          // wide: x1, x2, x1 + x2 at the logits' height (512 / 8 + 1) and W
  assert.equal(wideBytes('micro', 19, [1024, 512], 13376), 198_232_320);
  assert.equal(wideBytes('mit-b0', 19, [1024, 512], 100), 4 * 57 * 129 * 100);            // MiT's logits at stride 4
  // measured 2268 MB (2026-12, one thread, 257 s); was 286 B/px (51 GB) before the bands, 31 B/px while the PNGs were whole
  assert.ok(predict > 2268 * MiB && predict < 2900 * MiB, `${predict / MiB} MB`);
  // 1400² (37 Mi floats of 19 classes) stays whole: six [K, H, W] float maps
  const whole = inferenceBytes({ command: 'predict', backbone: 'micro', params: 0, classes: 19, input: [1024, 512], image: [1400, 1400] });
  assert.equal(whole - BASE_BYTES - (INFER_PER_PIXEL + INFER_PER_FEATURE * 27.75) * P,
    PREDICT_PER_PIXEL * 1400 ** 2 + 4 * WHOLE_MAPS * 19 * 1400 ** 2);
  const evalSmall = inferenceBytes({ command: 'eval', backbone: 'micro', params: 0, classes: 19, input: [1024, 512], image: [100, 100], augmented: true });
  // 100² unbanded, slide/multi-scale: 1.5 maps of eval's whole path and 3 of the probabilities (rounding of the large terms aside)
  const rest = evalSmall - BASE_BYTES - (INFER_PER_PIXEL + INFER_PER_FEATURE * 27.75) * P;
  assert.ok(Math.abs(rest - (EVAL_PER_PIXEL * 1e4 + 4 * 1.5 * 19e4 + 4 * 3 * 19e4)) < 1e-3, String(rest));
  // training: per domain (TRAIN_PER_PIXEL + TRAIN_PER_FEATURE·F)·P·batch, the parameters, the largest decoded image (16 B/px, 2 workers)
  const train = trainBytes({ backbone: 'micro', params: 1000, batch: 2, workers: 2, source: [64, 32], target: [32, 32], largest: [100, 50] });
  assert.equal(train,
    BASE_BYTES + TRAIN_PER_PARAM * 1000 + (TRAIN_PER_PIXEL + TRAIN_PER_FEATURE * 27.75) * (2048 + 1024) * 2 + 16 * 5000 * 2);
  // the largest pass of a multi-scale spec: ratio 1.5 of 1024×512 on a 2048×1024 image is 1536×768
  assert.deepEqual(networkInput({ mode: 'whole', scales: [0.5, 1.5] }, [2048, 1024], [1024, 512]), [1536, 768]);
  assert.deepEqual(networkInput(undefined, [9999, 9999], [1024, 512]), [1024, 512]);
  assert.throws(() => checkBudget('predict: x.png', 3000 * MiB, 'downscale the image', { CLAN_MEMORY_BUDGET_MB: '2000' }),
    { name: 'BudgetError', message: 'predict: x.png needs about 3000 MB of memory, over the budget of 2000 MB: downscale the image, or raise CLAN_MEMORY_BUDGET_MB (MB) if the machine has it' });
  checkBudget('fits', 2000 * MiB, '', { CLAN_MEMORY_BUDGET_MB: '2000' });
});

test('CLAN_MEMORY_BUDGET_MB: a positive integer; anything else is one line, from the library and the command line', () => {
  assert.equal(limit('memoryBudgetMB', { CLAN_MEMORY_BUDGET_MB: '1_500' }), 1500);
  assert.throws(() => limit('memoryBudgetMB', { CLAN_MEMORY_BUDGET_MB: '2GB' }), (e: Error) => e instanceof ConfigError && /^CLAN_MEMORY_BUDGET_MB=2GB: expected a positive integer \(default \d+\)$/.test(e.message));
  const r = clan(['train', '--preset', 'cpu', '--backbone', 'micro', '--dry-run', '--out', join(tmp, 'bad-env')], { CLAN_MEMORY_BUDGET_MB: '-3' });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^clan: CLAN_MEMORY_BUDGET_MB=-3: expected a positive integer \(default \d+\)$/);
});

/** A checkpoint (converted micro weights, 19 classes, eval 1024×512) and a 13376² image under the decode limit. */
const ckpt = join(tmp, 'micro.safetensors');
writePlausibleWeights(ckpt, 'micro', 19, 5);
const BIG = 13376;

test('a 13376² PNG of a few KB: clan predict and clan eval refuse it in one line before decoding or writing, the child under 2 GB', () => {
  // a folder: a.png (64², sorted first) and big.png; nothing is written, not even a.png's outputs
  const img = join(tmp, 'inputs');
  mkdirSync(img);
  writeFileSync(join(img, 'a.png'), zeroPng(64));
  writeFileSync(join(img, 'big.png'), zeroPng(BIG));
  const data = join(tmp, 'bigset');
  mkdirSync(join(data, 'images'), { recursive: true }); mkdirSync(join(data, 'labels'));
  writeFileSync(join(data, 'images', 'a.png'), zeroPng(BIG));
  writeFileSync(join(data, 'labels', 'a.png'), zeroPng(BIG, true));
  const budget = { CLAN_MEMORY_BUDGET_MB: '1800' };
  const p = clan(['predict', '--checkpoint', ckpt, '--input', img, '--out', join(tmp, 'pred'), '--threads', '1'], budget);
  assert.equal(p.code, 1, p.stderr);
  assert.match(p.stderr, /^clan: predict: \S+big\.png \(13376x13376\) needs about \d+ MB of memory, over the budget of 1800 MB: downscale the image, or raise CLAN_MEMORY_BUDGET_MB \(MB\) if the machine has it$/);
  assert.ok(p.peak < 2 * 2 ** 30, `predict peak ${p.peak / MiB} MB`);
  assert.ok(!existsSync(join(tmp, 'pred', 'a_label.png')) && !existsSync(join(tmp, 'pred', 'big_label.png')));
  // the ONNX engine (no libtorch; 20 B per pixel on the host) is refused the same way
  const onnx = join(tmp, 'micro.onnx');
  assert.equal(clan(['export', ckpt, onnx]).code, 0);
  const o = clan(['predict', '--engine', 'onnx', '--model', onnx, '--input', img, '--out', join(tmp, 'pred-onnx'), '--threads', '1'], budget);
  assert.equal(o.code, 1, o.stderr);
  assert.match(o.stderr, /^clan: predict: \S+big\.png \(13376x13376\) needs about \d+ MB of memory, over the budget of 1800 MB: downscale the image/);
  assert.ok(o.peak < 2 * 2 ** 30, `predict --engine onnx peak ${o.peak / MiB} MB`);
  assert.ok(!existsSync(join(tmp, 'pred-onnx', 'a_label.png')));
  // eval's estimate is smaller (no PNGs to write: about 1.6 GB); a budget of 1200 MB refuses it
  const e = clan(['eval', '--checkpoint', ckpt, '--data', `folder:${data}`, '--threads', '1'], { CLAN_MEMORY_BUDGET_MB: '1200' });
  assert.equal(e.code, 1, e.stderr);
  assert.match(e.stderr, /^clan: eval: folder:\S+ \(largest image 13376x13376, network input 1024x512\) needs about \d+ MB of memory, over the budget of 1200 MB: give a smaller --size WxH, downscale the images, or raise CLAN_MEMORY_BUDGET_MB/);
  assert.ok(e.peak < 2 * 2 ** 30, `eval peak ${e.peak / MiB} MB`);
});

test('a 4000² PNG (4.9 GB before the column bands) is predicted under 2 GB', () => {
  const img = join(tmp, 'four.png');
  writeFileSync(img, zeroPng(4000));
  const p = clan(['predict', '--checkpoint', ckpt, '--input', img, '--out', join(tmp, 'four'), '--threads', '1']);
  assert.equal(p.code, 0, p.stderr);
  assert.deepEqual(readdirSync(join(tmp, 'four')).sort(), ['four_color.png', 'four_disagreement.png', 'four_label.png', 'four_overlay.png']);
  assert.ok(p.peak < 2 * 2 ** 30, `predict peak ${p.peak / MiB} MB`);
});

test('clan train over the budget is refused in one line naming CLAN_MEMORY_BUDGET_MB, before any step or checkpoint', () => {
  const out = join(tmp, 'refused');
  const r = clan(['train', '--preset', 'cpu', '--backbone', 'micro', '--iters', '3', '--threads', '1', '--out', out], { CLAN_MEMORY_BUDGET_MB: '50' });
  assert.equal(r.code, 1, r.stderr);
  const last = r.stderr.split('\n').pop()!;
  assert.match(last, /^clan: train: micro, batch 8, source 64x64, target 64x64 needs about \d+ MB of memory, over the budget of 50 MB: lower --batch-size or the crops \(--set source\.size=\[W,H\] --set target\.size=\[W,H\]\), or raise CLAN_MEMORY_BUDGET_MB \(MB\) if the machine has it$/);
  assert.ok(!existsSync(join(out, 'checkpoints')) && !existsSync(join(out, 'metrics.jsonl')));
});

test('clan train --dry-run: config.yaml and the plan with the iterations and the estimate; exit 0, no run folder', () => {
  const out = join(tmp, 'dry');
  const r = clan(['train', '--preset', 'cpu', '--backbone', 'micro', '--iters', '7', '--batch-size', '2', '--out', out, '--dry-run'], { CLAN_MEMORY_BUDGET_MB: '4000' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# config\.yaml\nmethod: clan\nbackbone: micro\n/);
  assert.match(r.stdout, /\niters: 7\nbatchSize: 2\n/);
  assert.match(r.stdout, /\niterations {2}7\nbatch {7}2 per domain\n/);
  assert.match(r.stdout, /\nsource {6}digitscapes:source: 2000 images, read at 64x64, flips\n/);
  assert.match(r.stdout, /\nmemory {6}estimate \d+ MB of the budget 4000 MB \(CLAN_MEMORY_BUDGET_MB\): fits\n/);
  assert.ok(!existsSync(out), 'no run folder');
  const over = clan(['train', '--preset', 'cpu', '--backbone', 'micro', '--out', out, '--dry-run'], { CLAN_MEMORY_BUDGET_MB: '50' });
  assert.equal(over.code, 0);
  assert.match(over.stdout, /\nmemory {6}estimate \d+ MB of the budget 50 MB \(CLAN_MEMORY_BUDGET_MB\): over it, the run would be refused\n/);
  assert.ok(!existsSync(out));
});
