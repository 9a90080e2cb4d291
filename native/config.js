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

// A CUDA libtorch: libtorch_cuda.so beside libtorch_cpu.so. The addon then links it (see libs) and says so
// (`clan doctor --json`: cudaBuild), whether or not a GPU is visible on this machine.
export function isCudaBuild(t) { return existsSync(join(t.libdir, 'libtorch_cuda.so')); }

// Where a CUDA libtorch's companions keep their headers: CUDA_HOME if set, the pip 'nvidia' packages beside a Python
// torch (nvidia/cu13/include, nvidia/nccl/include, …: the versions that torch was built with), the toolkit, the system.
function headerDirs(t) {
  const nv = join(dirname(t.root), 'nvidia');
  const pip = existsSync(nv) ? readdirSync(nv).sort().map((d) => join(nv, d, 'include')) : [];
  return [process.env.CUDA_HOME && join(process.env.CUDA_HOME, 'include'), ...pip, '/usr/local/cuda/include', '/usr/include']
    .filter(Boolean);
}
const findHeader = (t, h) => headerDirs(t).find((d) => existsSync(join(d, h))) ?? null;

// The folders holding these headers, or null when one is missing.
function foldersFor(t, headers) {
  const dirs = headers.map((h) => findHeader(t, h));
  return dirs.includes(null) ? null : dirs.filter((d, i) => dirs.indexOf(d) === i);
}

// The CUDA runtime's headers, so the addon can read the CUDA allocator's statistics and device properties
// (CLAN_WITH_CUDA); null on a CPU libtorch or when they are not installed.
export function cudaIncludes(t) { return isCudaBuild(t) ? foldersFor(t, ['cuda_runtime_api.h', 'crt/host_config.h']) : null; }

// NCCL's header and those of the CUDA libraries that ProcessGroupNCCL.hpp includes, when libtorch ships that header:
// the addon then binds ProcessGroupNCCL (CLAN_WITH_NCCL). CLAN_NO_NCCL=1 leaves it out.
export function ncclIncludes(t) {
  if (process.env.CLAN_NO_NCCL === '1') return null;  // a build without NCCL on purpose (scripts/gpu-check.sh's fallback)
  const pg = t.includes.some((d) => existsSync(join(d, 'torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp')));
  return pg && isCudaBuild(t) ? foldersFor(t, ['cuda_runtime_api.h', 'crt/host_config.h', 'nccl.h', 'cusparse.h', 'cublas_v2.h', 'cublasLt.h', 'cusolverDn.h']) : null;
}

// The C++ standard libtorch's headers ask for: ATen.h says `#error C++20 or later …` under `__cplusplus < 202002L`
// from PyTorch 2.14 (C++17 before; Debian's 1.13 has no such line and builds as C++17). CLAN_CXX_STD=17|20 overrides.
export function cxxStd(t) {
  const env = process.env.CLAN_CXX_STD;
  if (env === '17' || env === '20') return `c++${env}`;
  const aten = t.includes.map((d) => join(d, 'ATen/ATen.h')).find(existsSync);
  const m = aten ? /__cplusplus\s*<\s*(\d{6})L/.exec(readFileSync(aten, 'utf8')) : null;
  return m && Number(m[1]) >= 202002 ? 'c++20' : 'c++17';
}

// Everything the compiler needs, one place (binding.gyp and native/build.js both read it). libtorch's and CUDA's
// headers come in as system headers (-isystem), so the compiler's warnings are about our code only.
export function cflags(t) {
  const cuda = cudaIncludes(t);
  return [`-D_GLIBCXX_USE_CXX11_ABI=${cxx11Abi(t)}`, `-std=${cxxStd(t)}`, ...includes(t).map((d) => `-isystem${d}`),
    ...(isCudaBuild(t) ? ['-DCLAN_CUDA_BUILD'] : []), ...(cuda ? ['-DCLAN_WITH_CUDA'] : []), ...(ncclIncludes(t) ? ['-DCLAN_WITH_NCCL'] : []),
    '-Wno-unused-parameter'];
}

export function includes(t) {
  const extra = [...(cudaIncludes(t) ?? []), ...(ncclIncludes(t) ?? [])];
  return [...t.includes, ...extra.filter((d, i) => extra.indexOf(d) === i && !t.includes.includes(d))];
}

export function libs(t) {
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
  if (what === 'includes') console.log(includes(t).join(' '));
  else if (what === 'cflags') console.log(cflags(t).join(' '));
  else if (what === 'libs') console.log(libs(t).join(' '));
  else if (what === 'report') {
    console.log(JSON.stringify({ ...t, cxx11Abi: cxx11Abi(t), cxxStd: cxxStd(t), cudaBuild: isCudaBuild(t), cudaIncludes: cudaIncludes(t),
      ncclIncludes: ncclIncludes(t) }));
  }
  else { console.error('usage: node native/config.js includes|cflags|libs|report'); process.exit(2); }
}
