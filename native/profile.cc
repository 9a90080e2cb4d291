// libtorch's own operator profiler (the legacy autograd profiler that torch.autograd.profiler wraps): every ATen op
// and autograd node run between profilerStart and profilerStop, written by libtorch as a Chrome trace (a JSON array
// of {"name", "ph": "X", "ts", "dur", "tid"} events, microseconds) when the recorder is destroyed.
// src/torch/profiler.ts reads it back into a per-op table.
#include "common.h"
#include <torch/csrc/autograd/profiler_legacy.h>
#include <memory>

namespace clan {

static std::unique_ptr<torch::autograd::profiler::RecordProfile> g_profile;

void RegisterProfile(Napi::Env env, Napi::Object exports) {
  CLAN_FN(profilerStart, 1)
    if (g_profile) throw Napi::Error::New(env, "the profiler is already running (profilerStop first)");
    g_profile = std::make_unique<torch::autograd::profiler::RecordProfile>(info[0].As<Napi::String>().Utf8Value());
    return env.Undefined(); CLAN_END;
  CLAN_FN(profilerStop, 0)
    if (!g_profile) throw Napi::Error::New(env, "the profiler is not running");
    g_profile.reset();  // the destructor stops recording and writes the trace file
    return env.Undefined(); CLAN_END;
}

}  // namespace clan
