// Data-parallel communication through PyTorch's own engine (c10d): a TCPStore rendezvous and one Gloo process
// group per process (the default group of torch.distributed), with allreduce (sum), broadcast, allgather, barrier
// and asynchronous work handles. Every wait has a timeout and every failure is one line: a dead peer, a timeout
// or a port in use never hangs Node or prints a C++ backtrace. Compiled in when the gloo headers are present
// (Debian: libgloo-dev); otherwise, or with -DCLAN_NO_GLOO, each call says so.
#include "common.h"
#include <chrono>
#include <map>
#include <memory>
#if !defined(CLAN_NO_GLOO) && __has_include(<gloo/config.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define CLAN_HAS_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1  // the header's own guard: libtorch was built with Gloo (Debian's and PyTorch's are)
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/custom_function.h>
#endif

namespace clan {

#ifdef CLAN_HAS_GLOO
namespace {
struct Group {
  c10::intrusive_ptr<::c10d::TCPStore> store;
  c10::intrusive_ptr<::c10d::ProcessGroupGloo> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};
std::unique_ptr<Group> g;                                          // the process's one group (torch's default group)
std::map<int, c10::intrusive_ptr<::c10d::Work>> pending;           // async work by id
int nextWork = 1;

Group& Need(Napi::Env env) {
  if (!g) throw Napi::Error::New(env, "distributed: not initialised (call init first)");
  return *g;
}

// Gloo's messages carry a source location prefix "[../gloo/…cc:123] "; keep the sentence.
std::string Clean(const std::string& m) {
  std::string s = m;
  if (!s.empty() && s[0] == '[') { auto e = s.find("] "); if (e != std::string::npos) s = s.substr(e + 2); }
  auto nl = s.find('\n');
  return nl == std::string::npos ? s : s.substr(0, nl);
}

void Wait(Napi::Env env, const c10::intrusive_ptr<::c10d::Work>& w, const char* what) {
  try {
    w->wait(g->timeout);
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("distributed ") + what + " failed on rank " + std::to_string(g->rank) + ": " + Clean(e.what()));
  }
}

std::shared_ptr<::gloo::transport::Device> MakeDevice(const std::string& host, const std::string& iface) {
  if (!iface.empty()) return ::c10d::ProcessGroupGloo::createDeviceForInterface(iface);
  if (host == "localhost" || host.rfind("127.", 0) == 0) return ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return ::c10d::ProcessGroupGloo::createDefaultDevice();
}
// Sum a small tensor across ranks, synchronously (inside forward/backward of SyncBN).
void AllreduceNow(at::Tensor& t) {
  std::vector<at::Tensor> v{t};
  g->pg->allreduce(v, ::c10d::AllreduceOptions())->wait(g->timeout);
}

// Synchronised batch norm (torch.nn.SyncBatchNorm's math, training mode): the batch statistics are over every
// rank's batch (sum, sum of squares and count all-reduced, in double), and the backward all-reduces Σdy and
// Σdy·(x − μ) so that each rank's input gradient is the exact gradient of the whole batch. Weight and bias
// gradients stay local: data-parallel averaging sums them like every other parameter.
struct SyncBN : public torch::autograd::Function<SyncBN> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w, const at::Tensor& b,
                            at::Tensor rm, at::Tensor rv, double momentum, double eps) {
    const int64_t C = x.size(1);
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); d++) dims.push_back(d);
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = C;
    at::Tensor xd = x.to(at::kDouble);
    at::Tensor stats = at::cat({xd.sum(dims), (xd * xd).sum(dims), at::full({1}, static_cast<double>(x.numel() / C), xd.options())});
    AllreduceNow(stats);
    const double M = stats[2 * C].item<double>();
    at::Tensor mean = stats.slice(0, 0, C) / M;
    at::Tensor var = (stats.slice(0, C, 2 * C) / M - mean * mean).clamp_min(0);
    at::Tensor invstd = (var + eps).rsqrt();
    {
      at::NoGradGuard ng;
      if (rm.defined()) rm.mul_(1 - momentum).add_(mean.to(rm.scalar_type()) * momentum);
      if (rv.defined()) rv.mul_(1 - momentum).add_((var * (M / std::max(M - 1, 1.0))).to(rv.scalar_type()) * momentum);
    }
    at::Tensor meanF = mean.to(x.scalar_type()).view(shape), invF = invstd.to(x.scalar_type()).view(shape);
    at::Tensor y = (x - meanF) * invF;
    if (w.defined()) y = y * w.view(shape);
    if (b.defined()) y = y + b.view(shape);
    ctx->save_for_backward({x, w, meanF, invF});
    ctx->saved_data["M"] = M;
    ctx->saved_data["wgrad"] = w.defined() && w.requires_grad();
    ctx->saved_data["bgrad"] = b.defined() && b.requires_grad();
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &w = saved[1], &mean = saved[2], &invstd = saved[3];
    const double M = ctx->saved_data["M"].toDouble();
    at::Tensor dy = grads[0];
    const int64_t C = x.size(1);
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); d++) dims.push_back(d);
    at::Tensor xmu = x - mean;
    at::Tensor sumDy = dy.sum(dims), sumDyXmu = (dy * xmu).sum(dims);
    at::Tensor inv1 = invstd.view({C});
    at::Tensor gw = ctx->saved_data["wgrad"].toBool() ? sumDyXmu * inv1 : at::Tensor();
    at::Tensor gb = ctx->saved_data["bgrad"].toBool() ? sumDy.clone() : at::Tensor();
    at::Tensor both = at::cat({sumDy, sumDyXmu}).to(at::kDouble);
    AllreduceNow(both);
    at::Tensor meanDy = (both.slice(0, 0, C) / M).to(x.scalar_type()).view_as(mean);
    at::Tensor meanDyXmu = (both.slice(0, C, 2 * C) / M).to(x.scalar_type()).view_as(mean);
    at::Tensor scale = w.defined() ? invstd * w.view_as(mean) : invstd;
    at::Tensor dx = (dy - meanDy - xmu * invstd * invstd * meanDyXmu) * scale;
    return {dx, gw, gb, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};
}  // namespace
#endif

[[maybe_unused]] static Napi::Value NoGloo(Napi::Env env) {
  throw Napi::Error::New(env, "distributed: this addon was built without the gloo headers (install libgloo-dev and rebuild: npm run build:native)");
}

void RegisterDist(Napi::Env env, Napi::Object exports) {
  // ["gloo"] where compiled in; NCCL would join on a CUDA build (not bound yet).
  CLAN_FN(distBackends, 0)
    Napi::Array a = Napi::Array::New(env);
#ifdef CLAN_HAS_GLOO
    a.Set(0u, Napi::String::New(env, "gloo"));
#endif
    return a;
  CLAN_END;
  // init(masterAddr, masterPort, rank, worldSize, timeoutMs, socketInterface): rank 0 hosts the store.
  CLAN_FN(distInit, 6)
#ifdef CLAN_HAS_GLOO
    if (g) throw Napi::Error::New(env, "distributed: already initialised");
    auto grp = std::make_unique<Group>();
    std::string host = info[0].As<Napi::String>().Utf8Value();
    int port = info[1].As<Napi::Number>().Int32Value();
    grp->rank = info[2].As<Napi::Number>().Int32Value();
    grp->size = info[3].As<Napi::Number>().Int32Value();
    grp->timeout = std::chrono::milliseconds(info[4].As<Napi::Number>().Int64Value());
    ::c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = grp->rank == 0;
    so.numWorkers = static_cast<std::size_t>(grp->size);
    so.waitWorkers = false;
    so.timeout = grp->timeout;
    try {
      grp->store = c10::make_intrusive<::c10d::TCPStore>(host, so);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, "distributed: rendezvous at " + host + ":" + std::to_string(port) + " failed on rank " +
                                      std::to_string(grp->rank) + ": " + Clean(e.what()));
    }
    auto opts = ::c10d::ProcessGroupGloo::Options::create(grp->timeout);
    opts->devices.push_back(MakeDevice(host, info[5].As<Napi::String>().Utf8Value()));
    opts->threads = 2;
    try {
      grp->pg = c10::make_intrusive<::c10d::ProcessGroupGloo>(grp->store, grp->rank, grp->size, opts);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, "distributed: connecting the " + std::to_string(grp->size) + " ranks failed on rank " +
                                      std::to_string(grp->rank) + ": " + Clean(e.what()));
    }
    g = std::move(grp);
    return env.Undefined();
#else
    return NoGloo(env);
#endif
  CLAN_END;
  CLAN_FN(distDestroy, 0)
#ifdef CLAN_HAS_GLOO
    pending.clear();
    g.reset();
#endif
    return env.Undefined();
  CLAN_END;
  // allreduceStart(tensors): sum in place across ranks, asynchronously; returns a work id for distWait.
  CLAN_FN(distAllreduceStart, 1)
#ifdef CLAN_HAS_GLOO
    Need(env);
    std::vector<at::Tensor> ts = TList(info[0]);
    int id = nextWork++;
    pending[id] = g->pg->allreduce(ts, ::c10d::AllreduceOptions());
    return Napi::Number::New(env, id);
#else
    return NoGloo(env);
#endif
  CLAN_END;
  CLAN_FN(distWait, 1)
#ifdef CLAN_HAS_GLOO
    Need(env);
    int id = info[0].As<Napi::Number>().Int32Value();
    auto it = pending.find(id);
    if (it == pending.end()) throw Napi::Error::New(env, "distributed: no pending work " + std::to_string(id));
    auto w = it->second;
    pending.erase(it);
    Wait(env, w, "allreduce");
    return env.Undefined();
#else
    return NoGloo(env);
#endif
  CLAN_END;
  CLAN_FN(distBroadcast, 2)
#ifdef CLAN_HAS_GLOO
    Need(env);
    std::vector<at::Tensor> ts = TList(info[0]);
    ::c10d::BroadcastOptions o;
    o.rootRank = info[1].As<Napi::Number>().Int32Value();
    Wait(env, g->pg->broadcast(ts, o), "broadcast");
    return env.Undefined();
#else
    return NoGloo(env);
#endif
  CLAN_END;
  // allgather(tensor) → one tensor per rank, in rank order.
  CLAN_FN(distAllgather, 1)
#ifdef CLAN_HAS_GLOO
    Need(env);
    std::vector<at::Tensor> in{T(info[0])};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < g->size; r++) out[0].push_back(at::empty_like(in[0]));
    Wait(env, g->pg->allgather(out, in, ::c10d::AllgatherOptions()), "allgather");
    return WrapMany(env, out[0]);
#else
    return NoGloo(env);
#endif
  CLAN_END;
  CLAN_FN(distBarrier, 0)
#ifdef CLAN_HAS_GLOO
    Need(env);
    Wait(env, g->pg->barrier(::c10d::BarrierOptions()), "barrier");
    return env.Undefined();
#else
    return NoGloo(env);
#endif
  CLAN_END;
  // syncBatchNorm(x, weight?, bias?, runningMean?, runningVar?, momentum, eps): training-mode BN over all ranks.
  CLAN_FN(distSyncBatchNorm, 7)
#ifdef CLAN_HAS_GLOO
    Need(env);
    try {
      return Wrap(env, SyncBN::apply(T(info[0]), OptT(info[1]), OptT(info[2]), OptT(info[3]), OptT(info[4]),
                                     info[5].As<Napi::Number>().DoubleValue(), info[6].As<Napi::Number>().DoubleValue()));
    } catch (const c10::Error& e) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("distributed sync batch norm failed on rank ") + std::to_string(g->rank) + ": " + Clean(e.what()));
    }
#else
    return NoGloo(env);
#endif
  CLAN_END;
  // The store, for small host-side facts (who is still alive after a failure): set, and check for keys.
  CLAN_FN(distStoreSet, 2)
#ifdef CLAN_HAS_GLOO
    Need(env);
    std::string v = info[1].As<Napi::String>().Utf8Value();
    try { g->store->set(info[0].As<Napi::String>().Utf8Value(), std::vector<uint8_t>(v.begin(), v.end())); } catch (const std::exception& e) {
      throw Napi::Error::New(env, "distributed: the store (on rank 0) is unreachable: " + Clean(e.what()));
    }
    return env.Undefined();
#else
    return NoGloo(env);
#endif
  CLAN_END;
  CLAN_FN(distStoreCheck, 1)
#ifdef CLAN_HAS_GLOO
    Need(env);
    try { return Napi::Boolean::New(env, g->store->check({info[0].As<Napi::String>().Utf8Value()})); } catch (const std::exception& e) {
      throw Napi::Error::New(env, "distributed: the store (on rank 0) is unreachable: " + Clean(e.what()));
    }
#else
    return NoGloo(env);
#endif
  CLAN_END;
}

}  // namespace clan
