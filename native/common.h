// Shared by the translation units: the JS tensor wrapper, argument helpers and the registration macro.
// The binding stays thin: argument conversion, one libtorch call, result wrapping, error translation.
#pragma once
#include <napi.h>
#include "compat.h"
#include <string>
#include <vector>

// GCC 13 warns that `const at::Tensor& a = T(info[0])` may dangle because info[0] is a temporary; T returns a
// reference into the JsTensor the JS object owns, which outlives the call, so the warning is wrong here.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 13
#pragma GCC diagnostic ignored "-Wdangling-reference"
#endif

namespace clan {

// Owns one at::Tensor. `dispose()` drops it early; the destructor (a GC finalizer) is only a safety net and
// counts how many tensors it had to free, so tests can assert that scopes freed everything.
class JsTensor : public Napi::ObjectWrap<JsTensor> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit JsTensor(const Napi::CallbackInfo& info);
  ~JsTensor() override;
  void Set(Napi::Env env, at::Tensor t);
  void Release(Napi::Env env, bool fromFinalizer);
  at::Tensor t;
 private:
  void* storageKey_ = nullptr;
};

Napi::Object Wrap(Napi::Env env, at::Tensor t);
Napi::Value WrapMany(Napi::Env env, const std::vector<at::Tensor>& ts);
const at::Tensor& T(const Napi::Value& v, const char* what = "tensor");
at::Tensor OptT(const Napi::Value& v);  // undefined/null → undefined tensor
std::vector<at::Tensor> TList(const Napi::Value& v);
std::vector<int64_t> IntList(const Napi::Value& v, const char* what = "list");
at::Scalar Scal(const Napi::Value& v);
at::ScalarType DT(const Napi::Value& v);
int DTIndex(at::ScalarType s);
at::Device Dev(const Napi::Value& v);
std::string DevString(const at::Device& d);

void RegisterOps(Napi::Env env, Napi::Object exports);
void RegisterDevice(Napi::Env env, Napi::Object exports);
void RegisterDist(Napi::Env env, Napi::Object exports);       // dist.cc: c10d store + Gloo process group
void RegisterAllocator(Napi::Env env, Napi::Object exports);  // allocator.cc: allocatorStats, emptyCache
void RegisterProfile(Napi::Env env, Napi::Object exports);    // profile.cc: libtorch's op profiler → Chrome trace
void InstallAllocator();  // allocator.cc: the caching CPU allocator becomes libtorch's (once per addon load)
void Register(Napi::Env env, Napi::Object exports, const char* name, int arity, Napi::Function::Callback fn);
std::string BuildName();  // "libtorch 2.11.0 (CUDA)" / "… (CUDA build, no GPU visible)" / "… (CPU only)"
bool CudaBuild();         // compiled against a CUDA libtorch (CLAN_CUDA_BUILD)

// Every binding runs inside this: libtorch errors become JS errors with the message only
// (what_without_backtrace: no C++ frames), never an abort of the Node process.
template <class F>
Napi::Value Guard(const Napi::CallbackInfo& info, F&& f) {
  Napi::Env env = info.Env();
  try {
    return f(env);
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, std::string("libtorch: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("libtorch: ") + e.what());
  }
}

// A binding's arguments. `arity` is how many it reads; reading past it throws, so the arity a binding declares
// (exported in __signatures and checked against src/torch/native.ts by native.test.ts) covers every read.
class Args {
 public:
  Args(const Napi::CallbackInfo& info, int arity, const char* name) : info_(info), arity_(arity), name_(name) {}
  Napi::Value operator[](int i) const {
    if (i >= arity_) {
      throw Napi::Error::New(info_.Env(), std::string(name_) + " reads argument " + std::to_string(i) + " but is registered with arity " +
                                              std::to_string(arity_) + " (native/*.cc CLAN_FN)");
    }
    return info_[i];
  }
 private:
  const Napi::CallbackInfo& info_;
  int arity_;
  const char* name_;
};

// CLAN_FN(name, arity) body CLAN_END registers exports.name, taking `arity` JS arguments as info[0 … arity-1].
#define CLAN_FN(name, arity) Register(env, exports, #name, arity, [](const Napi::CallbackInfo& cb) -> Napi::Value { \
    const Args info(cb, arity, #name); return Guard(cb, [&](Napi::Env env) -> Napi::Value {
#define CLAN_END }); })

}  // namespace clan
