// The CLAN iteration on CUDA against the same iteration in PyTorch CUDA (tools/reference/clan_parity.py --device
// cuda, run here when $CLAN_PYTHON/python3 has a CUDA torch, or read from $CLAN_CUDA_REFERENCE). TF32 off and
// deterministic cuDNN on both sides; GPU kernels still sum in other orders, so losses and the first two steps'
// weight deltas are compared to 1e-3 relative, step 3 to its measured conditioning. Skipped (and says why) without a GPU.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { packageRoot } from '../util/paths.js';
import { pythonPath } from '../util/python.js';
import { checkClanParity } from './methods.testing.js';

const skip = torch.cudaDeviceCount() > 0 ? false : `no CUDA device in this build (${torch.buildInfo().build})`;

/** Runs tools/reference/clan_parity.py on `device` into a temp folder; null (and why) when it cannot. */
function liveReference(t: { after: (fn: () => void) => void }, device: string): { dir: string } | { why: string } {
  const dir = mkdtempSync(join(tmpdir(), `clan-parity-${device}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync(pythonPath(), [join(packageRoot(), 'tools/reference/clan_parity.py'), '--device', device, '--out', dir, '--tf32', '0'],
    { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) return { why: `no PyTorch ${device} reference: ${pythonPath()} failed (${(r.stderr || String(r.error)).trim().split('\n').pop()})` };
  return { dir };
}

// The committed fixtures come from PyTorch 1.13 on the CPU. Against another libtorch (e.g. PyTorch 2.x's, on the
// GPU machine) the fair CPU reference is that version's PyTorch: CLAN_PARITY_LIVE=1 makes it here (gpu-check does).
test('CPU: CLAN iteration equals the PyTorch CPU of the same python as this libtorch (CLAN_PARITY_LIVE=1)',
  { skip: process.env.CLAN_PARITY_LIVE === '1' ? false : 'set CLAN_PARITY_LIVE=1 to compare against a live PyTorch run' }, (t) => {
    const ref = liveReference(t, 'cpu');
    if ('why' in ref) { t.skip(ref.why); return; }
    const { worstLoss, worstDelta } = checkClanParity({ device: 'cpu', refDir: ref.dir, lossTol: 1e-5, deltaTol: [1e-4, 1e-4, 1e-4], bnTol: 1e-5, stateTol: [1e-4, 1e-4, 1e-4] });
    t.diagnostic(`CPU vs live PyTorch CPU: worst relative loss error ${worstLoss.toExponential(2)}, worst ‖Δours − Δref‖/‖Δref‖ ${worstDelta.toExponential(2)}`);
  });

test('CUDA: CLAN iteration equals PyTorch CUDA over 3 steps (losses, Δw, BN stats, optimizer state within 1e-3)', { skip }, (t) => {
  let refDir = process.env.CLAN_CUDA_REFERENCE ?? '';
  if (!refDir) {
    const ref = liveReference(t, 'cuda');
    if ('why' in ref) { t.skip(ref.why); return; }
    refDir = ref.dir;
  }
  if (!existsSync(join(refDir, 'expected.json'))) { t.skip(`no expected.json in ${refDir}`); return; }
  const before = torch.getBackendFlags();
  torch.setBackendFlags({ allowTF32Cudnn: false, allowTF32Cublas: false, cudnnDeterministic: true, cudnnBenchmark: false });
  try {
    // Steps 1–2 to 1e-3. Step 3 (CLAN's weighting switches on, lr ×100) moves by up to 3.6e-2 in PyTorch itself
    // when its inputs change at float32 rounding level (tools/reference/parity_sensitivity.py), which is what a GPU's
    // other summation order amounts to: measured on an H200, ours vs PyTorch CUDA at step 3 was 6.3e-3 at worst.
    const tol = [1e-3, 1e-3, 5e-2];
    const { worstLoss, worstDelta } = checkClanParity({ device: 'cuda', refDir, lossTol: 1e-3, deltaTol: tol, bnTol: 1e-3, stateTol: tol });
    t.diagnostic(`CUDA vs PyTorch CUDA: worst relative loss error ${worstLoss.toExponential(2)}, worst ‖Δours − Δref‖/‖Δref‖ ${worstDelta.toExponential(2)}`);
  } finally { torch.setBackendFlags(before); }
});
