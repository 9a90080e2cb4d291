// Devices and their settings: pinned memory, synchronisation, cuDNN / TF32 / determinism flags, autocast
// regions (mixed precision), CUDA caching-allocator statistics, GPU properties and library versions.
// Everything here also compiles against a CPU-only libtorch: the CUDA queries then answer "no CUDA".
// CLAN_HAS_CUDA_HEADERS (native/config.js finds cuda_runtime_api.h next to a CUDA libtorch) adds what needs the
// CUDA runtime's own headers: memory statistics and device properties.
#include "common.h"
#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <dlfcn.h>
#ifdef CLAN_HAS_CUDA_HEADERS
#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime_api.h>
#endif

namespace clan {

static void NeedCuda(Napi::Env env, const char* what) {
  if (!at::hasCUDA()) throw Napi::Error::New(env, std::string(what) + " needs CUDA, and this " + BuildName() + " has none");
}

static int CudaIndex(Napi::Env env, const Napi::Value& v) {
  at::Device d = Dev(v);
  if (!d.is_cuda()) throw Napi::Error::New(env, "expected a CUDA device, got '" + d.str() + "'");
  return d.has_index() ? d.index() : 0;
}

// ---------------------------------------------------------------------------------------------- autocast
// PyTorch ≥ 2.4 keys autocast state by device type; 1.13 has separate CPU and GPU entry points.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
static bool AcEnabled(at::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
static void AcSetEnabled(at::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
static at::ScalarType AcDtype(at::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
static void AcSetDtype(at::DeviceType t, at::ScalarType s) { at::autocast::set_autocast_dtype(t, s); }
#else
static bool AcEnabled(at::DeviceType t) { return t == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
static void AcSetEnabled(at::DeviceType t, bool on) {
  if (t == at::kCUDA) at::autocast::set_enabled(on); else at::autocast::set_cpu_enabled(on);
}
static at::ScalarType AcDtype(at::DeviceType t) {
  return t == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
static void AcSetDtype(at::DeviceType t, at::ScalarType s) {
  if (t == at::kCUDA) at::autocast::set_autocast_gpu_dtype(s); else at::autocast::set_autocast_cpu_dtype(s);
}
#endif

static at::DeviceType AcType(const Napi::Value& v) {
  at::DeviceType t = Dev(v).type();
  if (t != at::kCUDA && t != at::kCPU) throw Napi::Error::New(v.Env(), "autocast supports cpu and cuda devices");
  return t;
}

#ifdef CLAN_HAS_CUDA_HEADERS
static Napi::Object StatObject(Napi::Env env, int idx) {
  // Index 0 of each stat array is the aggregate over small and large pools (StatType::AGGREGATE).
  auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(idx));
  Napi::Object o = Napi::Object::New(env);
  o.Set("allocated", Napi::Number::New(env, static_cast<double>(s.allocated_bytes[0].current)));
  o.Set("peakAllocated", Napi::Number::New(env, static_cast<double>(s.allocated_bytes[0].peak)));
  o.Set("reserved", Napi::Number::New(env, static_cast<double>(s.reserved_bytes[0].current)));
  o.Set("peakReserved", Napi::Number::New(env, static_cast<double>(s.reserved_bytes[0].peak)));
  return o;
}
#endif

void RegisterDevice(Napi::Env env, Napi::Object exports) {
  // --- host ↔ device copies
  CLAN_FN(toDeviceAsync, 3)  // (tensor, device, nonBlocking): non-blocking only overlaps when the source is pinned
    const at::Tensor& t = T(info[0]);
    return Wrap(env, t.to(t.options().device(Dev(info[1])), info[2].ToBoolean(), false)); CLAN_END;
  CLAN_FN(pinMemory, 1) NeedCuda(env, "pinned memory"); return Wrap(env, T(info[0]).pin_memory()); CLAN_END;
  CLAN_FN(isPinned, 1) return Napi::Boolean::New(env, at::hasCUDA() && T(info[0]).is_pinned()); CLAN_END;

  // --- backend flags (torch.backends.cudnn.benchmark / .deterministic / .allow_tf32, cuda.matmul.allow_tf32)
  CLAN_FN(setBackendFlags, 1)  // ({cudnnBenchmark?, cudnnDeterministic?, allowTF32Cudnn?, allowTF32Cublas?})
    Napi::Object o = info[0].As<Napi::Object>();
    auto& ctx = at::globalContext();
    if (o.Has("cudnnBenchmark")) ctx.setBenchmarkCuDNN(o.Get("cudnnBenchmark").ToBoolean());
    if (o.Has("cudnnDeterministic")) ctx.setDeterministicCuDNN(o.Get("cudnnDeterministic").ToBoolean());
    if (o.Has("allowTF32Cudnn")) ctx.setAllowTF32CuDNN(o.Get("allowTF32Cudnn").ToBoolean());
    if (o.Has("allowTF32Cublas")) ctx.setAllowTF32CuBLAS(o.Get("allowTF32Cublas").ToBoolean());
    return env.Undefined(); CLAN_END;
  CLAN_FN(getBackendFlags, 0)
    auto& ctx = at::globalContext();
    Napi::Object o = Napi::Object::New(env);
    o.Set("cudnnBenchmark", ctx.benchmarkCuDNN());
    o.Set("cudnnDeterministic", ctx.deterministicCuDNN());
    o.Set("allowTF32Cudnn", ctx.allowTF32CuDNN());
    o.Set("allowTF32Cublas", ctx.allowTF32CuBLAS());
    return o; CLAN_END;

  // --- autocast: enter returns the previous [enabled, dtype index] for exit to restore (nested regions work)
  CLAN_FN(autocastEnter, 2)  // (device, dtype index)
    at::DeviceType t = AcType(info[0]);
    Napi::Array prev = Napi::Array::New(env, 2);
    prev.Set(0u, Napi::Boolean::New(env, AcEnabled(t)));
    prev.Set(1u, Napi::Number::New(env, DTIndex(AcDtype(t))));
    AcSetEnabled(t, true);
    AcSetDtype(t, DT(info[1]));
    at::autocast::increment_nesting();
    return prev; CLAN_END;
  CLAN_FN(autocastExit, 3)  // (device, previous enabled, previous dtype index)
    at::DeviceType t = AcType(info[0]);
    // Leaving the outermost region drops the cast copies of the weights, as torch.autocast.__exit__ does.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    AcSetEnabled(t, info[1].ToBoolean());
    int prevDt = info[2].As<Napi::Number>().Int32Value();
    if (prevDt >= 0) AcSetDtype(t, DT(info[2]));
    return env.Undefined(); CLAN_END;
  CLAN_FN(autocastEnabled, 1) return Napi::Boolean::New(env, AcEnabled(AcType(info[0]))); CLAN_END;

  // --- CUDA queries
  CLAN_FN(cudaSynchronize, 1) NeedCuda(env, "cuda synchronize"); torch::cuda::synchronize(CudaIndex(env, info[0])); return env.Undefined(); CLAN_END;
  CLAN_FN(cudaVersions, 0)  // runtime and cuDNN as libtorch reports them; NCCL from the loaded library, if any
    Napi::Object o = Napi::Object::New(env);
    const auto& hooks = at::detail::getCUDAHooks();
    bool cuda = at::hasCUDA();
    o.Set("cuda", cuda ? Napi::Value(Napi::Number::New(env, static_cast<double>(hooks.versionCUDART()))) : env.Null());
    o.Set("cudnn", cuda && at::globalContext().hasCuDNN() ? Napi::Value(Napi::Number::New(env, static_cast<double>(hooks.versionCuDNN()))) : env.Null());
    Napi::Value nccl = env.Null();
    if (void* lib = dlopen("libnccl.so.2", RTLD_LAZY | RTLD_NOLOAD)) {  // only if libtorch_cuda already loaded it
      using VerFn = int (*)(int*);
      if (auto fn = reinterpret_cast<VerFn>(dlsym(lib, "ncclGetVersion"))) { int v = 0; if (fn(&v) == 0) nccl = Napi::Number::New(env, v); }
      dlclose(lib);
    }
    o.Set("nccl", nccl);
    o.Set("headers", Napi::Boolean::New(env,
#ifdef CLAN_HAS_CUDA_HEADERS
      true
#else
      false
#endif
    ));
    return o; CLAN_END;
#ifdef CLAN_HAS_CUDA_HEADERS
  CLAN_FN(cudaDeviceInfo, 1)  // (device) → name, compute capability, memory, multiprocessors
    NeedCuda(env, "cuda device info");
    int idx = CudaIndex(env, info[0]);
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, idx) != cudaSuccess) throw Napi::Error::New(env, "cudaGetDeviceProperties failed for cuda:" + std::to_string(idx));
    const cudaDeviceProp* p = &prop;
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", std::string(p->name));
    o.Set("major", Napi::Number::New(env, p->major));
    o.Set("minor", Napi::Number::New(env, p->minor));
    o.Set("totalMemory", Napi::Number::New(env, static_cast<double>(p->totalGlobalMem)));
    o.Set("multiprocessors", Napi::Number::New(env, p->multiProcessorCount));
    return o; CLAN_END;
  CLAN_FN(cudaMemoryStats, 1) NeedCuda(env, "cuda memory stats"); return StatObject(env, CudaIndex(env, info[0])); CLAN_END;
  CLAN_FN(cudaResetPeakMemoryStats, 1)
    NeedCuda(env, "cuda memory stats");
    c10::cuda::CUDACachingAllocator::resetPeakStats(static_cast<c10::DeviceIndex>(CudaIndex(env, info[0])));
    return env.Undefined(); CLAN_END;
  CLAN_FN(cudaEmptyCache, 0) NeedCuda(env, "cuda empty cache"); c10::cuda::CUDACachingAllocator::emptyCache(); return env.Undefined(); CLAN_END;
#endif
}

}  // namespace clan
