// libtorch's own operator profiler (the legacy autograd profiler that torch.autograd.profiler wraps): every ATen op
// and autograd node run between profilerStart and profilerStop, written by libtorch as a Chrome trace (a JSON array
// of {"name", "ph": "X", "ts", "dur", "tid"} events, microseconds) when the recorder is destroyed.
// src/torch/profiler.ts reads it back into a per-op table.
#include "common.h"
#include <memory>
#if __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#define CLAN_HAS_PROFILER 1
#endif

namespace clan {

#ifdef CLAN_HAS_PROFILER
static std::unique_ptr<torch::autograd::profiler::RecordProfile> g_profile;
#endif

void RegisterProfile(Napi::Env env, Napi::Object exports) {
#ifdef CLAN_HAS_PROFILER
  CLAN_FN(profilerStart, 1)
    if (g_profile) throw Napi::Error::New(env, "the profiler is already running (profilerStop first)");
    g_profile = std::make_unique<torch::autograd::profiler::RecordProfile>(info[0].As<Napi::String>().Utf8Value());
    return env.Undefined(); CLAN_END;
  CLAN_FN(profilerStop, 0)
    if (!g_profile) throw Napi::Error::New(env, "the profiler is not running");
    g_profile.reset();  // the destructor stops recording and writes the trace file
    return env.Undefined(); CLAN_END;
#else  // a libtorch without the legacy profiler's header: same bindings, one clear error
  CLAN_FN(profilerStart, 1) (void)info; throw Napi::Error::New(env, "this " + BuildName() + " has no legacy op profiler"); CLAN_END;
  CLAN_FN(profilerStop, 0) throw Napi::Error::New(env, "this " + BuildName() + " has no legacy op profiler"); CLAN_END;
#endif
}

}  // namespace clan
