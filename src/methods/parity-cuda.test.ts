// The CLAN iteration on CUDA against the same iteration in PyTorch CUDA (tools/reference/clan_parity.py --device
// cuda, run here when $CLAN_PYTHON/python3 has a CUDA torch, or read from $CLAN_CUDA_REFERENCE). TF32 off and
// deterministic cuDNN on both sides; GPU kernels still sum in other orders than the CPU's, so losses and weight
// deltas are compared to 1e-3 relative. Skipped (and says why) without a GPU.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { packageRoot } from '../util/paths.js';
import { pythonPath } from '../cli/python.js';
import { checkClanParity } from './testing.js';

const skip = torch.cudaDeviceCount() > 0 ? false : `no CUDA device in this build (${torch.buildInfo().build})`;

test('CUDA: CLAN iteration equals PyTorch CUDA over 3 steps (losses, Δw, BN stats, optimizer state within 1e-3)', { skip }, (t) => {
  let refDir = process.env.CLAN_CUDA_REFERENCE ?? '';
  if (!refDir) {
    refDir = mkdtempSync(join(tmpdir(), 'clan-parity-cuda-'));
    t.after(() => rmSync(refDir, { recursive: true, force: true }));
    const r = spawnSync(pythonPath(), [join(packageRoot(), 'tools/reference/clan_parity.py'), '--device', 'cuda', '--out', refDir, '--tf32', '0'],
      { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) { t.skip(`no PyTorch CUDA reference: ${pythonPath()} failed (${(r.stderr || String(r.error)).trim().split('\n').pop()})`); return; }
  }
  if (!existsSync(join(refDir, 'expected.json'))) { t.skip(`no expected.json in ${refDir}`); return; }
  const before = torch.getBackendFlags();
  torch.setBackendFlags({ allowTF32Cudnn: false, allowTF32Cublas: false, cudnnDeterministic: true, cudnnBenchmark: false });
  try {
    const { worstLoss, worstDelta } = checkClanParity({ device: 'cuda', refDir, lossTol: 1e-3, deltaTol: 1e-3, bnTol: 1e-3, stateTol: 1e-3 });
    t.diagnostic(`CUDA vs PyTorch CUDA: worst relative loss error ${worstLoss.toExponential(2)}, worst ‖Δours − Δref‖/‖Δref‖ ${worstDelta.toExponential(2)}`);
  } finally { torch.setBackendFlags(before); }
});
