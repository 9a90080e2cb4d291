// Prints compiler/linker flags for binding.gyp: `node native/config.js cflags|ldflags|libs|includes|report`.
// libtorch comes from $LIBTORCH (a libtorch folder with include/ and lib/, e.g. a CUDA build of PyTorch 2.x)
// or from Debian/Ubuntu's libtorch-dev. Kept dependency-free: it runs before `npm ci` has finished.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

function findDebian() {
  const inc = '/usr/include/ATen/ATen.h';
  if (!existsSync(inc)) return null;
  const libdirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib'];
  const libdir = libdirs.find((d) => existsSync(join(d, 'libtorch_cpu.so')));
  if (!libdir) return null;
  return { root: '/usr', includes: ['/usr/include/torch/csrc/api/include'], libdir,
    cmake: join(libdir, 'cmake/Torch/TorchConfig.cmake'), rpath: false };
}

function findLibtorch(root) {
  if (!existsSync(join(root, 'include/ATen/ATen.h')) || !existsSync(join(root, 'lib'))) {
    throw new Error(`LIBTORCH=${root} is not a libtorch folder: expected ${root}/include/ATen/ATen.h and ${root}/lib/`);
  }
  return { root, includes: [join(root, 'include'), join(root, 'include/torch/csrc/api/include')],
    libdir: join(root, 'lib'), cmake: join(root, 'share/cmake/Torch/TorchConfig.cmake'), rpath: true };
}

export function locate() {
  return process.env.LIBTORCH ? findLibtorch(process.env.LIBTORCH) : findDebian();
}

function abiFlag(cmake) {
  // TorchConfig.cmake sets TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0|1": we must compile with the same ABI.
  if (!existsSync(cmake)) return '-D_GLIBCXX_USE_CXX11_ABI=1';
  const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(cmake, 'utf8'));
  return `-D_GLIBCXX_USE_CXX11_ABI=${m ? m[1] : '1'}`;
}

function libs(t) {
  const have = new Set(readdirSync(t.libdir));
  const out = [`-L${t.libdir}`];
  if (t.rpath) out.push(`-Wl,-rpath,${t.libdir}`);
  out.push('-ltorch', '-ltorch_cpu', '-lc10');
  // CUDA builds: the CUDA kernels register themselves at load time, so force the link even though no
  // symbol of ours references them (otherwise --as-needed drops them and CUDA silently disappears).
  const cuda = ['torch_cuda', 'c10_cuda'].filter((l) => have.has(`lib${l}.so`));
  if (cuda.length) out.push('-Wl,--no-as-needed', ...cuda.map((l) => `-l${l}`), '-Wl,--as-needed');
  out.push('-ldl');
  return out;
}

const isMain = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isMain) {
  const t = locate();
  const what = process.argv[2];
  if (!t) {
    if (what === 'report') { console.log('libtorch: not found'); process.exit(1); }
    process.exit(1);
  }
  if (what === 'includes') console.log(t.includes.join(' '));
  else if (what === 'cflags') console.log([abiFlag(t.cmake), '-std=c++17', '-Wno-unused-parameter', '-Wno-deprecated-declarations'].join(' '));
  else if (what === 'libs') console.log(libs(t).join(' '));
  else if (what === 'report') console.log(JSON.stringify(t));
  else { console.error('usage: node native/config.js includes|cflags|libs|report'); process.exit(2); }
}
