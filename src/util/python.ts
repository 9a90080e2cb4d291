// Finding PyTorch for comparisons: $CLAN_PYTHON, else Debian's /usr/bin/python3 (a bare `python3` on PATH may be
// another interpreter without torch).
import { spawnSync } from 'node:child_process';

export const INSTALL_TORCH = 'PyTorch not found: install it with `apt-get install -y python3-torch` (Debian/Ubuntu), or set CLAN_PYTHON to a python with torch';

export function pythonPath(): string { return process.env.CLAN_PYTHON || '/usr/bin/python3'; }

/** "<version> <interpreter>" or null when torch cannot be imported. */
export function torchVersion(): string | null {
  const py = pythonPath();
  const r = spawnSync(py, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 || !r.stdout) return null;
  return `${r.stdout.trim()} ${py}`;
}
