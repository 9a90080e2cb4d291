// `npm test`: node's test runner over dist/ (or the paths given), one file at a time. The parity fixtures of
// Debian's libtorch 1.13 were recorded with OpenBLAS's Haswell kernels (docs/method.md §9.1, docs/speed.md), and
// OpenBLAS picks its kernels by CPU: on a CPU it does not know (a virtual Xeon here) it falls back to 'Prescott'
// (SSE3), whose sums lie 3e-2 from the records after three parity steps. So, unless OPENBLAS_CORETYPE is set
// already, the tests hold OpenBLAS to Haswell wherever the CPU has its AVX2 and FMA.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const env = { ...process.env };
if (env.OPENBLAS_CORETYPE === undefined) {
  let cpu = '';
  try { cpu = readFileSync('/proc/cpuinfo', 'utf8'); } catch { /* not Linux: OpenBLAS chooses */ }
  if (/\bavx2\b/.test(cpu) && /\bfma\b/.test(cpu)) env.OPENBLAS_CORETYPE = 'Haswell';
}
const paths = process.argv.slice(2);
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...(paths.length ? paths : ['dist/'])], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
