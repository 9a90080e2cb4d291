// Exit codes across every command (README "Commands"): 2 for a usage error — an unknown flag, a flag value that is not
// what the flag takes, a bad --set —, 1 for a runtime error — a file that does not exist or cannot be used —, each with
// one line on stderr. The command list comes from `clan --help`, so a new command is walked too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../util/paths.js';

const CLAN = join(packageRoot(), 'bin', 'clan.js');
const run = (args: string[]) => spawnSync(process.execPath, [CLAN, ...args], { encoding: 'utf8', timeout: 120_000, cwd: tmpdir() });

test('every command: an unknown flag, a bad flag value → exit 2; a missing file → exit 1; one stderr line each', () => {
  const dir = mkdtempSync(join(tmpdir(), 'clan-exit-'));
  try {
    const commands = [...run(['--help']).stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]!);
    assert.deepEqual(commands, ['demo', 'train', 'selftrain', 'eval', 'predict', 'export', 'serve', 'report', 'convert', 'bench', 'doctor']);
    const none = join(dir, 'none');
    // [arguments, expected exit code] per command: a bad value (2), then a runtime error (1) where the command has files
    const cases: Record<string, [string[], number][]> = {
      demo: [[['--seeds', 'x'], 2], [['--texture', '5x'], 2], [['--set', 'hyper.dFullsize=false'], 2]],
      train: [[['--preset', 'nope'], 2], [['--preset', 'cpu', '--iters', '1e300'], 2], [['--preset', 'cpu', '--iters', '9007199254740993'], 2],
        [['--preset', 'cpu', '--batch-size', '100000000'], 2], [['--preset', 'cpu', '--method', 'clam'], 2], [['--preset', 'cpu', '--set', 'iters=abc'], 2],
        [['--config', join(none, 'c.yaml')], 1]],
      selftrain: [[['--from', none, '--rounds', '0'], 2], [['--from', none], 1]],
      eval: [[['--checkpoint', none, '--data', 'digitscapes:val', '--protocol', '7'], 2], [['--checkpoint', none, '--data', 'digitscapes:val'], 1]],
      predict: [[['--checkpoint', none, '--input', none, '--out', dir, '--engine', 'tpu'], 2], [['--checkpoint', none, '--input', none, '--out', dir], 1]],
      export: [[[none, join(dir, 'm.onnx'), '--opset', '5'], 2], [[none, join(dir, 'm.onnx')], 1]],
      serve: [[[dir, '--port', '70000'], 2], [[none], 1]],
      report: [[[none, '--samples', '-1'], 2], [[none], 1]],
      convert: [[[none, join(dir, 'w.safetensors'), '--to', 'onnx'], 2], [[none, join(dir, 'w.safetensors')], 1]],
      bench: [[['warp'], 2], [['step', '--backbone', 'resnet7'], 2]],
      doctor: [[['--verbose'], 2]],
    };
    const wrong: string[] = [];
    for (const cmd of commands) {
      for (const [args, code] of [[['--no-such-flag'], 2] as [string[], number], ...(cases[cmd] ?? [])]) {
        const r = run([cmd, ...args]);
        const lines = r.stderr.split('\n').filter((l) => l.trim());
        if (r.status !== code || lines.length !== 1 || !lines[0]!.startsWith('clan: ')) {
          wrong.push(`clan ${cmd} ${args.join(' ')}: exit ${r.status} (expected ${code}), stderr: ${r.stderr.trim().slice(0, 300)}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
