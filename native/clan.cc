// The addon's core: tensor wrapper and ownership accounting, buffers, RNG, threads, build info.
#include "common.h"
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Logging.h>
#include <dlfcn.h>
#include <mutex>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

namespace clan {

struct AddonData {
  Napi::FunctionReference ctor;
  // Native bytes reported to V8, counted once per storage (views share their base's storage).
  std::unordered_map<void*, std::pair<int64_t, int64_t>> storages;  // impl → (wrappers, bytes)
  int64_t live = 0;             // wrappers holding a tensor
  int64_t finalized = 0;        // tensors freed by the GC safety net instead of dispose()/scopes
  int64_t externalBytes = 0;
  bool tearingDown = false;
};

static AddonData* Data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

// ---------------------------------------------------------------------------------------------- JsTensor
Napi::Function JsTensor::Init(Napi::Env env) { return DefineClass(env, "NativeTensor", {}); }

JsTensor::JsTensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<JsTensor>(info) {}

void JsTensor::Set(Napi::Env env, at::Tensor tensor) {
  AddonData* d = Data(env);
  t = std::move(tensor);
  if (!t.defined()) return;
  d->live++;
  if (t.has_storage()) {
    storageKey_ = t.storage().unsafeGetStorageImpl();
    auto& entry = d->storages[storageKey_];
    if (entry.first++ == 0) {
      // Only host memory is reported to V8: GPU bytes are no pressure on its heap, and reporting them made V8
      // run a full GC every few tensors (measured: a CUDA ResNet-101 forward 6x slower).
      entry.second = t.is_cpu() ? static_cast<int64_t>(t.storage().nbytes()) : 0;
      d->externalBytes += entry.second;
      if (entry.second) Napi::MemoryManagement::AdjustExternalMemory(env, entry.second);
    }
  }
}

void JsTensor::Release(Napi::Env env, bool fromFinalizer) {
  if (!t.defined()) return;
  AddonData* d = Data(env);
  d->live--;
  if (fromFinalizer) d->finalized++;
  if (storageKey_) {
    auto it = d->storages.find(storageKey_);
    if (it != d->storages.end() && --it->second.first == 0) {
      d->externalBytes -= it->second.second;
      if (it->second.second && !d->tearingDown) Napi::MemoryManagement::AdjustExternalMemory(env, -it->second.second);
      d->storages.erase(it);
    }
    storageKey_ = nullptr;
  }
  t = at::Tensor();
}

JsTensor::~JsTensor() {
  if (!t.defined()) return;
  try { Release(Env(), true); } catch (...) {}
}

Napi::Object Wrap(Napi::Env env, at::Tensor t) {
  Napi::Object obj = Data(env)->ctor.New({});
  JsTensor::Unwrap(obj)->Set(env, std::move(t));
  return obj;
}

Napi::Value WrapMany(Napi::Env env, const std::vector<at::Tensor>& ts) {
  Napi::Array a = Napi::Array::New(env, ts.size());
  for (size_t i = 0; i < ts.size(); i++) a.Set(i, Wrap(env, ts[i]));
  return a;
}

// ---------------------------------------------------------------------------------------------- arguments
const at::Tensor& T(const Napi::Value& v, const char* what) {
  if (!v.IsObject()) throw Napi::TypeError::New(v.Env(), std::string("expected a tensor for ") + what);
  Napi::Object o = v.As<Napi::Object>();
  if (!o.InstanceOf(Data(v.Env())->ctor.Value())) throw Napi::TypeError::New(v.Env(), std::string("expected a tensor for ") + what);
  JsTensor* w = JsTensor::Unwrap(o);
  if (!w->t.defined()) throw Napi::Error::New(v.Env(), std::string("tensor used after dispose() (") + what + ")");
  return w->t;
}

at::Tensor OptT(const Napi::Value& v) {
  if (v.IsUndefined() || v.IsNull()) return at::Tensor();
  return T(v, "optional tensor");
}

std::vector<at::Tensor> TList(const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), "expected an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(T(a.Get(i), "list element"));
  return out;
}

std::vector<int64_t> IntList(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(v.Env(), std::string("expected an array of integers for ") + what);
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); i++) out[i] = a.Get(i).As<Napi::Number>().Int64Value();
  return out;
}

at::Scalar Scal(const Napi::Value& v) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  double x = v.As<Napi::Number>().DoubleValue();
  // JS has one number type: integral values become integer scalars so int tensors stay integral
  // (float tensors are unaffected by PyTorch's type promotion either way).
  if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9007199254740992.0) return at::Scalar(static_cast<int64_t>(x));
  return at::Scalar(x);
}

// JS passes a dtype as its index here. The names are DTYPES in src/torch/dtype.ts, in the same order: the addon
// exports them as __dtypes and src/torch/native.test.ts checks the two lists (and each type's bytes) agree.
static const struct { at::ScalarType type; const char* name; } kTypes[] = {
  {at::kFloat, "float32"}, {at::kDouble, "float64"}, {at::kHalf, "float16"}, {at::kBFloat16, "bfloat16"},
  {at::kLong, "int64"}, {at::kInt, "int32"}, {at::kByte, "uint8"}, {at::kBool, "bool"},
};
static constexpr int kNumTypes = sizeof(kTypes) / sizeof(kTypes[0]);

at::ScalarType DT(const Napi::Value& v) {
  int i = v.As<Napi::Number>().Int32Value();
  if (i < 0 || i >= kNumTypes) throw Napi::RangeError::New(v.Env(), "bad dtype index");
  return kTypes[i].type;
}

int DTIndex(at::ScalarType s) {
  for (int i = 0; i < kNumTypes; i++) if (kTypes[i].type == s) return i;
  return -1;
}

// Compiled against a CUDA libtorch (native/config.js: libtorch_cuda.so linked), whether or not a GPU is visible now.
bool CudaBuild() {
#ifdef CLAN_CUDA_BUILD
  return true;
#else
  return false;
#endif
}

std::string BuildName() {
  const char* kind = at::hasCUDA() ? " (CUDA)" : CudaBuild() ? " (CUDA build, no GPU visible)" : " (CPU only)";
  return std::string("libtorch ") + std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH) + kind;
}

at::Device Dev(const Napi::Value& v) {
  std::string s = v.As<Napi::String>().Utf8Value();
  at::Device d(s);  // parses "cpu", "cuda", "cuda:1"; throws c10::Error on junk
  if (d.is_cuda() && !at::hasCUDA()) {
    throw Napi::Error::New(v.Env(), "device '" + s + "' requested but this " + BuildName() +
                                        (CudaBuild() ? " sees no GPU (check the NVIDIA driver and CUDA_VISIBLE_DEVICES)" : " has no CUDA support"));
  }
  return d;
}

std::string DevString(const at::Device& d) { return d.str(); }

// ---------------------------------------------------------------------------------------------- module
// Every binding goes through here (CLAN_FN): exports.__signatures records name → arity, which
// src/torch/native.test.ts compares with the `Native` interface in src/torch/native.ts.
void Register(Napi::Env env, Napi::Object exports, const char* name, int arity, Napi::Function::Callback fn) {
  Napi::Object sigs = exports.Get("__signatures").As<Napi::Object>();
  if (sigs.Has(name)) throw Napi::Error::New(env, std::string("binding '") + name + "' is registered twice");
  sigs.Set(name, Napi::Number::New(env, arity));
  exports.Set(name, Napi::Function::New(env, fn));
}

static void RegisterCore(Napi::Env env, Napi::Object exports) {
  CLAN_FN(dispose, 1) JsTensor* w = JsTensor::Unwrap(info[0].As<Napi::Object>()); w->Release(env, false); return env.Undefined(); CLAN_END;
  CLAN_FN(isDisposed, 1) return Napi::Boolean::New(env, !JsTensor::Unwrap(info[0].As<Napi::Object>())->t.defined()); CLAN_END;
  CLAN_FN(stats, 0)
    AddonData* d = Data(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("live", Napi::Number::New(env, static_cast<double>(d->live)));
    o.Set("finalized", Napi::Number::New(env, static_cast<double>(d->finalized)));
    o.Set("externalBytes", Napi::Number::New(env, static_cast<double>(d->externalBytes)));
    o.Set("storages", Napi::Number::New(env, static_cast<double>(d->storages.size())));
    return o;
  CLAN_END;

  // --- metadata
  CLAN_FN(shape, 1) auto s = T(info[0]).sizes(); Napi::Array a = Napi::Array::New(env, s.size());
    for (size_t i = 0; i < s.size(); i++) { a.Set(i, Napi::Number::New(env, static_cast<double>(s[i]))); } return a; CLAN_END;
  CLAN_FN(strides, 1) auto s = T(info[0]).strides(); Napi::Array a = Napi::Array::New(env, s.size());
    for (size_t i = 0; i < s.size(); i++) { a.Set(i, Napi::Number::New(env, static_cast<double>(s[i]))); } return a; CLAN_END;
  CLAN_FN(dtype, 1) return Napi::Number::New(env, DTIndex(T(info[0]).scalar_type())); CLAN_END;
  CLAN_FN(device, 1) return Napi::String::New(env, DevString(T(info[0]).device())); CLAN_END;
  CLAN_FN(requiresGrad, 1) return Napi::Boolean::New(env, T(info[0]).requires_grad()); CLAN_END;
  CLAN_FN(setRequiresGrad, 2) T(info[0]).set_requires_grad(info[1].ToBoolean()); return env.Undefined(); CLAN_END;
  CLAN_FN(isLeaf, 1) return Napi::Boolean::New(env, T(info[0]).is_leaf()); CLAN_END;
  CLAN_FN(sameStorage, 2)
    const at::Tensor& a = T(info[0]); const at::Tensor& b = T(info[1]);
    return Napi::Boolean::New(env, a.unsafeGetTensorImpl() == b.unsafeGetTensorImpl()); CLAN_END;

  // --- autograd
  CLAN_FN(grad, 1) at::Tensor g = T(info[0]).grad(); return g.defined() ? Napi::Value(Wrap(env, g)) : env.Null(); CLAN_END;
  CLAN_FN(gradIs, 2)  // is info[1] still the tensor held as info[0].grad? (keeps the TS grad wrapper stable)
    at::Tensor g = T(info[0]).grad();
    return Napi::Boolean::New(env, g.defined() && g.unsafeGetTensorImpl() == T(info[1]).unsafeGetTensorImpl()); CLAN_END;
  CLAN_FN(setGrad, 2) T(info[0]).mutable_grad() = OptT(info[1]); return env.Undefined(); CLAN_END;
  CLAN_FN(backward, 3)
    at::Tensor g = OptT(info[1]);
    bool retain = info[2].ToBoolean();
    T(info[0]).backward(g, retain, false);
    return env.Undefined(); CLAN_END;
  CLAN_FN(setGradEnabled, 1) at::GradMode::set_enabled(info[0].ToBoolean()); return env.Undefined(); CLAN_END;
  CLAN_FN(isGradEnabled, 0) return Napi::Boolean::New(env, at::GradMode::is_enabled()); CLAN_END;

  // --- host buffers. TS validates length and dtype first; these checks are the last line of defence.
  CLAN_FN(fromBuffer, 3)
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    auto shape = IntList(info[1], "shape");
    at::ScalarType st = DT(info[2]);
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
    size_t nbytes = t.numel() * t.element_size();
    if (ta.ByteLength() != nbytes) throw Napi::RangeError::New(env, "buffer byte length does not match shape and dtype");
    if (nbytes) std::memcpy(t.data_ptr(), static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), nbytes);
    return Wrap(env, t); CLAN_END;
  // Zero-copy: the tensor aliases the JS buffer and holds a reference to it, so the buffer outlives the tensor.
  // Safe only while the caller does not transfer/detach that ArrayBuffer (documented in tensor.ts).
  CLAN_FN(fromBufferShared, 3)
    Napi::TypedArray ta = info[0].As<Napi::TypedArray>();
    auto shape = IntList(info[1], "shape");
    at::ScalarType st = DT(info[2]);
    int64_t n = 1; for (auto s : shape) n *= s;
    if (ta.ByteLength() != static_cast<size_t>(n) * at::elementSize(st)) throw Napi::RangeError::New(env, "buffer byte length does not match shape and dtype");
    auto* ref = new Napi::Reference<Napi::ArrayBuffer>(Napi::Persistent(ta.ArrayBuffer()));
    void* ptr = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
    at::Tensor t = at::from_blob(ptr, shape, [ref](void*) { delete ref; }, at::TensorOptions().dtype(st));
    return Wrap(env, t); CLAN_END;
  CLAN_FN(toBuffer, 1)
    at::Tensor t = T(info[0]).detach().to(at::kCPU).contiguous();
    size_t nbytes = t.numel() * t.element_size();
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, nbytes);
    if (nbytes) std::memcpy(ab.Data(), t.data_ptr(), nbytes);
    return ab; CLAN_END;
  CLAN_FN(item, 1)
    at::Tensor t = T(info[0]);
    if (t.numel() != 1) throw Napi::Error::New(env, "item() needs a tensor with one element, got " + std::to_string(t.numel()));
    if (t.scalar_type() == at::kBool) return Napi::Boolean::New(env, t.item<bool>());
    return Napi::Number::New(env, t.item<double>()); CLAN_END;

  // --- RNG: the default CPU generator (seeded together with CUDA's by manual_seed)
  CLAN_FN(manualSeed, 1) at::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value())); return env.Undefined(); CLAN_END;
  // seeds the CPU generator alone (manual_seed also seeds CUDA's): forkRng's stream of its own
  CLAN_FN(seedCpu, 1)
    auto gen = at::detail::getDefaultCPUGenerator();
    { std::lock_guard<std::mutex> lock(gen.mutex()); gen.set_current_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value())); }
    return env.Undefined(); CLAN_END;
  CLAN_FN(getRngState, 0)
    auto gen = at::detail::getDefaultCPUGenerator();
    at::Tensor s;
    { std::lock_guard<std::mutex> lock(gen.mutex()); s = gen.get_state(); }
    Napi::Buffer<uint8_t> b = Napi::Buffer<uint8_t>::Copy(env, s.data_ptr<uint8_t>(), s.numel());
    return b; CLAN_END;
  CLAN_FN(setRngState, 1)
    Napi::Uint8Array u = info[0].As<Napi::Uint8Array>();
    at::Tensor s = at::empty({static_cast<int64_t>(u.ByteLength())}, at::kByte);
    std::memcpy(s.data_ptr(), u.Data(), u.ByteLength());
    auto gen = at::detail::getDefaultCPUGenerator();
    { std::lock_guard<std::mutex> lock(gen.mutex()); gen.set_state(s); }
    return env.Undefined(); CLAN_END;

  // --- threads and build information
  CLAN_FN(setNumThreads, 1) at::set_num_threads(info[0].As<Napi::Number>().Int32Value()); return env.Undefined(); CLAN_END;
  CLAN_FN(getNumThreads, 0) return Napi::Number::New(env, at::get_num_threads()); CLAN_END;
  CLAN_FN(buildInfo, 0)
    Napi::Object o = Napi::Object::New(env);
    o.Set("version", std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH));
    o.Set("build", BuildName());
    o.Set("cuda", at::hasCUDA());
    o.Set("cudaBuild", CudaBuild());
    o.Set("config", at::show_config());
    o.Set("parallel", at::get_parallel_info());
    // OpenBLAS exports these; with the reference BLAS they are absent (doctor warns: 8x slower ResNet steps).
    using StrFn = char* (*)();
    auto corename = reinterpret_cast<StrFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    auto cfg = reinterpret_cast<StrFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"));
    o.Set("openblasCore", corename ? Napi::Value(Napi::String::New(env, corename())) : env.Null());
    o.Set("openblasConfig", cfg ? Napi::Value(Napi::String::New(env, cfg())) : env.Null());
    return o; CLAN_END;
  CLAN_FN(cudaDeviceCount, 0) return Napi::Number::New(env, at::hasCUDA() ? static_cast<double>(at::detail::getCUDAHooks().getNumGPUs()) : 0.0); CLAN_END;
}

static void KeepData(Napi::Env, AddonData*) {}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Never freed: ObjectWrap finalizers may still run during environment teardown and need it.
  auto* d = new AddonData();
  env.SetInstanceData<AddonData, KeepData>(d);
  d->ctor = Napi::Persistent(JsTensor::Init(env));
  exports.Set("NativeTensor", d->ctor.Value());
  Napi::Array dtypes = Napi::Array::New(env, kNumTypes);
  for (int i = 0; i < kNumTypes; i++) dtypes.Set(i, Napi::String::New(env, kTypes[i].name));
  exports.Set("__dtypes", dtypes);
  exports.Set("__signatures", Napi::Object::New(env));
  napi_add_env_cleanup_hook(env, [](void* p) { static_cast<AddonData*>(p)->tearingDown = true; }, d);
  InstallAllocator();
#if TORCH_VERSION_MAJOR >= 2
  // NNPACK: Debian's 1.13 is built without it, PyTorch's wheels with it, and where its start-up check fails
  // ("Could not initialize NNPACK! Reason: Unsupported hardware.") libtorch logs that line again and again. Off, as
  // on 1.13, so every build picks the same CPU convolutions; CLAN_NNPACK=1 keeps it on.
  if (const char* nn = std::getenv("CLAN_NNPACK"); !nn || std::string(nn) != "1") at::globalContext().setUserEnabledNNPACK(false);
  // c10's own logging (2.x wheels do not use glog): take TORCH_CPP_LOG_LEVEL from the environment, as `import torch`
  // does, so c10d's warnings follow the same switch as in PyTorch (bin/clan.js sets ERROR unless the user chose).
  c10::initLogging();
#endif
  RegisterCore(env, exports);
  RegisterAllocator(env, exports);
  RegisterOps(env, exports);
  RegisterDevice(env, exports);
  RegisterDist(env, exports);
  RegisterProfile(env, exports);
  return exports;
}

}  // namespace clan

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return clan::Init(env, exports); }
NODE_API_MODULE(clan_native, InitAll)
