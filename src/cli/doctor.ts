// `clan doctor`: what the engine runs on — libtorch, the BLAS really loaded, OpenBLAS kernel, threads, CUDA,
// PyTorch for comparisons — with loud warnings and the fix where a setting costs speed.
import { readFileSync } from 'node:fs';
import { parse, type Command } from './args.js';
import { torchVersion } from '../util/python.js';

export interface DoctorReport {
  /** cuda: a GPU is usable now; cudaBuild: the addon was compiled against a CUDA libtorch (with or without a GPU). */
  libtorch: string; build: string; cuda: boolean; cudaBuild: boolean; cudaDevices: number; threads: number; ompWaitPolicy: string | null;
  blas: string; blasLibrary: string | null; openblasCore: string | null; openblasCoretypeEnv: string | null;
  pytorch: string | null; warnings: string[];
  distributed: string[];   // c10d backends compiled in (gloo, nccl)
  /** CUDA builds: library versions (null when absent) and each visible GPU. */
  cudaVersion: string | null; cudnnVersion: string | null; ncclVersion: string | null;
  gpus: { name: string; computeCapability: string; memoryGb: number; multiprocessors: number }[];
}

/** The libblas/openblas shared object actually mapped into this process. */
function loadedBlas(): string | null {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8').split('\n');
    const hit = maps.map((l) => l.split(/\s+/)[5] ?? '').find((p) => /lib(open)?blas[^/]*\.so/.test(p));
    return hit ?? null;
  } catch { return null; }
}

/** What doctor says without the addon: the reason (with the fix) as its warning, PyTorch still looked for. */
function noAddonReport(reason: string): DoctorReport {
  return { libtorch: 'not built', build: '-', cuda: false, cudaBuild: false, cudaDevices: 0, threads: 0, ompWaitPolicy: process.env.OMP_WAIT_POLICY ?? null,
    blas: '-', blasLibrary: null, openblasCore: null, openblasCoretypeEnv: process.env.OPENBLAS_CORETYPE ?? null, pytorch: torchVersion(),
    warnings: [reason], distributed: [], cudaVersion: null, cudnnVersion: null, ncclVersion: null, gpus: [] };
}

export async function doctorReport(): Promise<DoctorReport> {
  let torch: typeof import('../torch/index.js');
  try { torch = await import('../torch/index.js'); } catch (e) { // the addon loads with the module
    if (e instanceof Error && /addon is not built|^cannot load /.test(e.message)) return noAddonReport(e.message);
    throw e;
  }
  const info = torch.buildInfo();
  const lib = loadedBlas();
  const warnings: string[] = [];
  const mkl = /BLAS_INFO=mkl/.test(info.config);  // PyTorch's own builds link MKL into libtorch_cpu
  const blas = info.openblasCore ? `OpenBLAS (${info.openblasConfig ?? ''})`.trim() : mkl ? 'MKL (linked into libtorch)'
    : lib && /\/blas\/libblas/.test(lib) ? 'reference BLAS (netlib)' : lib ? `unknown (${lib})` : 'none found';
  if (!info.openblasCore && !mkl) {
    warnings.push('libtorch is using the reference BLAS: a ResNet-101 step runs 8x slower (measured 24.0 s vs 2.86 s). Fix: apt-get install -y libopenblas0-openmp');
  }
  const coretype = process.env.OPENBLAS_CORETYPE ?? null;
  if (coretype && info.openblasCore && /avx512/i.test(readFileSync('/proc/cpuinfo', 'utf8'))) {
    warnings.push(`OPENBLAS_CORETYPE=${coretype} forces OpenBLAS kernel '${info.openblasCore}' on an AVX-512 machine: GEMM runs about half speed (122 vs 247 GFLOP/s measured on one core). Unset it unless your OpenBLAS build needs it.`);
  }
  const wait = process.env.OMP_WAIT_POLICY ?? null;
  if (wait !== 'PASSIVE') warnings.push('OMP_WAIT_POLICY is not PASSIVE: idle OpenMP threads spin and slow other work on the machine (the clan launcher sets it)');
  const v = torch.cudaVersions();
  const nGpu = torch.cudaDeviceCount();
  const gpus = v.headers ? Array.from({ length: nGpu }, (_, i) => {
    const d = torch.cudaDeviceInfo(`cuda:${i}`);
    return { name: d.name, computeCapability: `${d.major}.${d.minor}`, memoryGb: Math.round(d.totalMemory / 2 ** 30 * 10) / 10, multiprocessors: d.multiprocessors };
  }) : [];
  const backends = torch.dist.distBackends();
  if (!backends.includes('gloo')) warnings.push('data-parallel training on the CPU is unavailable: the addon was built without the gloo headers. Fix: apt-get install -y libgloo-dev, then npm run build:native');
  if (info.cudaBuild && !backends.includes('nccl')) warnings.push('data-parallel on GPUs is unavailable over NCCL: nccl.h (and the CUDA headers) were not found when the addon was built. Fix: pip install nvidia-nccl-cu13 beside torch, or set CUDA_HOME to a CUDA toolkit with NCCL, then rebuild');
  if (info.cudaBuild && !info.cuda) warnings.push(`this CUDA build sees no GPU: check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES (${process.env.CUDA_VISIBLE_DEVICES === undefined ? 'unset' : `'${process.env.CUDA_VISIBLE_DEVICES}'`})`);
  if (info.cuda && nGpu > 0 && !v.headers) warnings.push('the addon was built without the CUDA runtime headers: no GPU names or memory statistics. Fix: set CUDA_HOME and rebuild (npm ci)');
  return {
    cudaVersion: torch.formatVersion('cuda', v.cuda), cudnnVersion: torch.formatVersion('cudnn', v.cudnn), ncclVersion: torch.formatVersion('nccl', v.nccl), gpus,
    libtorch: info.version, build: info.build, cuda: info.cuda, cudaBuild: info.cudaBuild, cudaDevices: nGpu,
    threads: torch.getNumThreads(), ompWaitPolicy: wait, blas, blasLibrary: lib, openblasCore: info.openblasCore,
    openblasCoretypeEnv: coretype, pytorch: torchVersion(), distributed: backends, warnings,
  };
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'show libtorch, BLAS, threads, CUDA and PyTorch availability',
  usage: `usage: clan doctor [--json]

Prints what the engine runs on: libtorch version and build, the BLAS library actually loaded and the OpenBLAS
kernel in use, intra-op threads, OMP_WAIT_POLICY, CUDA (GPUs, compute capability, CUDA, cuDNN and NCCL
versions; whether the addon is a CUDA build even when no GPU is visible), the data-parallel backends (c10d:
gloo, nccl), and whether PyTorch is available for comparisons
($CLAN_PYTHON or /usr/bin/python3). Warnings name the fix.

  --json     print one JSON object on stdout`,
  async run(argv) {
    const { values } = parse('doctor', argv, { json: { type: 'boolean' } });
    if (values.help) { console.log(this.usage); return 0; }
    const r = await doctorReport();
    const ok = r.libtorch !== 'not built'; // without the engine: the report, then exit 1
    if (values.json) { console.log(JSON.stringify(r)); return ok ? 0 : 1; }
    const pytorch: [string, string] = ['PyTorch', r.pytorch ?? 'not found (apt-get install -y python3-torch, or set CLAN_PYTHON)'];
    const rows: [string, string][] = !ok ? [['libtorch', r.libtorch], ['OPENBLAS_CORETYPE', r.openblasCoretypeEnv ?? '(unset)'],
      ['OMP_WAIT_POLICY', r.ompWaitPolicy ?? '(unset)'], pytorch] : [
      ['libtorch', `${r.libtorch} — ${r.build}`], ['BLAS', r.blas], ['BLAS library', r.blasLibrary ?? '-'],
      ['OpenBLAS kernel', r.openblasCore ?? '-'], ['OPENBLAS_CORETYPE', r.openblasCoretypeEnv ?? '(unset)'],
      ['threads', String(r.threads)], ['OMP_WAIT_POLICY', r.ompWaitPolicy ?? '(unset)'],
      ['CUDA', r.cuda ? `yes (${r.cudaDevices} device(s)); CUDA ${r.cudaVersion ?? '?'}, cuDNN ${r.cudnnVersion ?? '-'}, NCCL ${r.ncclVersion ?? '-'}`
        : r.cudaBuild ? 'CUDA build, but no GPU is visible (see the warning)' : 'no (CPU-only build)'],
      ...r.gpus.map((g, i): [string, string] => [`GPU cuda:${i}`, `${g.name}, compute capability ${g.computeCapability}, ${g.memoryGb} GiB, ${g.multiprocessors} SMs`]),
      ['distributed', r.distributed.length ? `${r.distributed.join(', ')} (c10d; clan train --nproc-per-node N)` : 'none (built without gloo or NCCL)'],
      pytorch,
    ];
    for (const [k, v] of rows) console.log(`${k.padEnd(18)} ${v}`);
    for (const w of r.warnings) console.log(`WARNING: ${w}`);
    return ok ? 0 : 1;
  },
};
