// `npm ci` runs this before compiling the addon: when libtorch is missing it prints the exact fix and fails.
import { locate } from './config.js';

let t = null;
let err = null;
try { t = locate(); } catch (e) { err = e; }
if (!t) {
  const lines = [
    err ? `clan: ${err.message}` : 'clan: libtorch was not found (no LIBTORCH set and no /usr/include/ATen/ATen.h).',
    'Install it (Debian 12 / Ubuntu 24.04):',
    '  sudo apt-get install -y libtorch-dev libopenblas0-openmp',
    'or point LIBTORCH at a libtorch folder with include/ and lib/ (e.g. a CUDA build).',
  ];
  console.error(lines.join('\n'));
  process.exit(1);
}
