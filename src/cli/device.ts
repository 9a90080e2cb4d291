// --device for the commands that run a network: checked against the build (one line naming the flag and the
// build when CUDA is asked of a CPU-only libtorch), cuDNN autotuning on for CUDA (fixed input sizes).
import * as torch from '../torch/index.js';
import { UsageError } from '../util/errors.js';
import { DEVICE_PATTERN } from '../util/device.js';
import { boolFlag, intFlag, str, type Parsed } from './args.js';

export function cliDevice(cmd: string, value: string | undefined): torch.Device {
  const v = value ?? 'cpu';
  if (!DEVICE_PATTERN.test(v)) throw new UsageError(`${cmd}: --device expects cpu, cuda or cuda:N, got '${v}'`);
  const device = torch.parseDevice(v, `${cmd}: --device`);
  if (torch.isCuda(device)) torch.setBackendFlags({ cudnnBenchmark: true });
  return device;
}

/** The engine flags (args.ts ENGINE_OPTIONS) applied: --threads N, --pointwise-onednn; returns the --device. */
export function engineFlags(cmd: string, p: Parsed): torch.Device {
  if (str(p, 'threads')) torch.setNumThreads(intFlag(cmd, 'threads', str(p, 'threads'), 1, 1, 4096, 'threads of one process'));
  if (boolFlag(p, 'pointwise-onednn')) torch.setPointwiseOnednn(true);
  return cliDevice(cmd, str(p, 'device'));
}
