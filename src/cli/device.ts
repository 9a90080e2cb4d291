// --device for the commands that run a network: checked against the build (one line naming the flag and the
// build when CUDA is asked of a CPU-only libtorch), cuDNN autotuning on for CUDA (fixed input sizes).
import * as torch from '../torch/index.js';
import { UsageError } from '../util/errors.js';
import { DEVICE_PATTERN } from '../util/device.js';

export function cliDevice(cmd: string, value: string | undefined): torch.Device {
  const v = value ?? 'cpu';
  if (!DEVICE_PATTERN.test(v)) throw new UsageError(`${cmd}: --device expects cpu, cuda or cuda:N, got '${v}'`);
  const device = torch.parseDevice(v, `${cmd}: --device`);
  if (torch.isCuda(device)) torch.setBackendFlags({ cudnnBenchmark: true });
  return device;
}
