// `npm install` of clan runs this. With libtorch it compiles the addon (node-gyp rebuild) and fails loudly if that
// fails. Without libtorch the install still succeeds, with one note: an inference-only user runs exported ONNX
// models (`clan predict --engine onnx`) through onnxruntime-node and needs no libtorch; every command that needs the
// addon says so in one line. `npm run build:native` (native/check.js) is the strict variant for developers.
import { spawnSync } from 'node:child_process';
import { locate } from './config.js';

let t = null;
let why = 'no LIBTORCH set and no /usr/include/ATen/ATen.h';
try { t = locate(); } catch (e) { why = e.message; }
if (!t) {
  console.error(`clan: libtorch not found (${why}): the libtorch addon was not built; ONNX inference ` +
    '(clan predict --engine onnx) works, training and evaluation need libtorch: apt-get install -y libtorch-dev ' +
    'libopenblas0-openmp, then npm rebuild clan');
  process.exit(0);
}
const r = spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit', shell: process.platform === 'win32' });
if (r.error) { console.error(`clan: cannot run node-gyp: ${r.error.message}`); process.exit(1); }
process.exit(r.status ?? 1);
