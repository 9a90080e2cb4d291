// Prints compiler/linker flags for binding.gyp: `node native/config.js cflags|ldflags|libs|includes|report`.
// libtorch comes from $LIBTORCH (a libtorch folder with include/ and lib/, e.g. a CUDA build of PyTorch 2.x)
// or from Debian/Ubuntu's libtorch-dev. Kept dependency-free: it runs before `npm ci` has finished.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execFileSync } from 'node:child_process';

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

// The C++ ABI libtorch was built with; we must compile with the same one. In order: CLAN_CXX11_ABI=0|1; the
// torch package's own answer when LIBTORCH is a Python torch folder (torch._C._GLIBCXX_USE_CXX11_ABI);
// TORCH_CXX_FLAGS in TorchConfig.cmake; else 1 (every libtorch since PyTorch 2.7, and Debian's).
export function cxx11Abi(t) {
  if (process.env.CLAN_CXX11_ABI === '0' || process.env.CLAN_CXX11_ABI === '1') return process.env.CLAN_CXX11_ABI;
  if (existsSync(join(t.root, '__init__.py'))) {
    for (const py of [process.env.CLAN_PYTHON, 'python3'].filter(Boolean)) {
      try {
        const code = `import sys; sys.path.insert(0, ${JSON.stringify(dirname(t.root))}); import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))`;
        const out = execFileSync(py, ['-c', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
        if (out === '0' || out === '1') return out;
      } catch { /* try the next way */ }
    }
  }
  if (existsSync(t.cmake)) {
    const m = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(t.cmake, 'utf8'));
    if (m) return m[1];
  }
  return '1';
}

// A CUDA libtorch: the folder holding cuda_runtime_api.h (CUDA_HOME, the toolkit, or the pip 'nvidia' packages
// beside a Python torch), so the addon can read the CUDA allocator's statistics and device properties.
export function cudaInclude(t) {
  if (!existsSync(join(t.libdir, 'libtorch_cuda.so'))) return null;
  const site = dirname(t.root);
  const nv = join(site, 'nvidia');
  const pip = existsSync(nv) ? readdirSync(nv).map((d) => join(nv, d, 'include')) : [];
  const dirs = [process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'include'), '/usr/local/cuda/include', ...pip, '/usr/include'];
  return dirs.filter(Boolean).find((d) => existsSync(join(d, 'cuda_runtime_api.h'))) ?? null;
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
  const cuda = cudaInclude(t);
  if (what === 'includes') console.log([...t.includes, ...(cuda ? [cuda] : [])].join(' '));
  else if (what === 'cflags') console.log([`-D_GLIBCXX_USE_CXX11_ABI=${cxx11Abi(t)}`, ...(cuda ? ['-DCLAN_WITH_CUDA'] : []), '-std=c++17', '-Wno-unused-parameter', '-Wno-deprecated-declarations'].join(' '));
  else if (what === 'libs') console.log(libs(t).join(' '));
  else if (what === 'report') console.log(JSON.stringify({ ...t, cxx11Abi: cxx11Abi(t), cudaInclude: cuda }));
  else { console.error('usage: node native/config.js includes|cflags|libs|report'); process.exit(2); }
}
