// Data-parallel communication through PyTorch's own engine (c10d): a TCPStore rendezvous and the process's default
// group, with allreduce (sum), broadcast, allgather, barrier and asynchronous work handles. As torch.distributed's
// default group does, a group can hold two backends: NCCL for CUDA tensors (one process per GPU, the group's
// device is cuda:LOCAL_RANK) and Gloo for CPU tensors. Without Gloo, CPU tensors travel through the group's GPU.
// Every wait has the group's timeout and every failure is one line: a dead peer, a timeout or a port in use never
// hangs Node or prints a C++ backtrace. Gloo is compiled in where its headers are (Debian: libgloo-dev; not with
// -DCLAN_NO_GLOO), NCCL where native/config.js found nccl.h beside a CUDA libtorch (CLAN_WITH_NCCL).
#include "common.h"
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#if !defined(CLAN_NO_GLOO) && __has_include(<gloo/config.h>) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>)
#define CLAN_HAS_GLOO 1
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1  // the header's own guard: libtorch was built with Gloo (Debian's and PyTorch's are)
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(CLAN_WITH_NCCL) && defined(CLAN_HAS_CUDA_HEADERS) && __has_include(<torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>)
#define CLAN_HAS_NCCL 1
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL 1  // likewise: PyTorch's CUDA builds have NCCL
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <c10/cuda/CUDAFunctions.h>
#endif
#if defined(CLAN_HAS_GLOO) || defined(CLAN_HAS_NCCL)
#define CLAN_HAS_DIST 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/custom_function.h>
#endif

namespace clan {

#ifdef CLAN_HAS_DIST
namespace {
#if TORCH_VERSION_MAJOR >= 2
using PG = ::c10d::Backend;        // PyTorch 2.x: one Backend per device type inside a ProcessGroup
#else
using PG = ::c10d::ProcessGroup;   // 1.13: the backends are process groups themselves
#endif
using WorkPtr = c10::intrusive_ptr<::c10d::Work>;

struct Group {
  c10::intrusive_ptr<::c10d::TCPStore> store;
  c10::intrusive_ptr<PG> gloo;  // CPU tensors (CUDA tensors too when NCCL is absent)
  c10::intrusive_ptr<PG> nccl;  // CUDA tensors on `device`
  at::Device device{at::kCPU};  // the group's GPU (NCCL), where CPU tensors are staged when Gloo is absent
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};
std::unique_ptr<Group> g;  // the process's one group (torch's default group)

// A collective in flight: its work, and for tensors staged through the GPU, the copies to write back after it.
struct Flight {
  WorkPtr work;
  std::vector<at::Tensor> staged, dest;
};
std::map<int, Flight> pending;  // async work by id
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

void Wait(Napi::Env env, const WorkPtr& w, const char* what) {
  try {
    w->wait(g->timeout);  // NCCL: blocks this thread until the GPU finished it (or the timeout), as Gloo does
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("distributed ") + what + " failed on rank " + std::to_string(g->rank) + ": " + Clean(e.what()));
  }
}

// The backend for these tensors, and whether they must be staged through the group's GPU (an NCCL-only group).
std::pair<PG*, bool> Route(const std::vector<at::Tensor>& ts) {
  const bool cuda = !ts.empty() && ts[0].is_cuda();
  if (cuda) return {g->nccl ? g->nccl.get() : g->gloo.get(), false};
  return g->gloo ? std::make_pair(g->gloo.get(), false) : std::make_pair(g->nccl.get(), true);
}

// Starts `op` on the tensors' backend; staged tensors are copied to the GPU first and back in Finish.
template <class Op>
Flight Start(std::vector<at::Tensor> ts, Op op) {
  auto [pg, staged] = Route(ts);
  Flight f;
  if (staged) {
    f.dest = ts;
    for (auto& t : ts) t = t.to(g->device);
    f.staged = ts;
  }
  f.work = op(*pg, ts);
  return f;
}

void Finish(Napi::Env env, Flight& f, const char* what) {
  Wait(env, f.work, what);
  for (size_t i = 0; i < f.dest.size(); i++) f.dest[i].copy_(f.staged[i]);
}

#ifdef CLAN_HAS_GLOO
std::shared_ptr<::gloo::transport::Device> MakeDevice(const std::string& host, const std::string& iface) {
  if (!iface.empty()) return ::c10d::ProcessGroupGloo::createDeviceForInterface(iface);
  if (host == "localhost" || host.rfind("127.", 0) == 0) return ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return ::c10d::ProcessGroupGloo::createDefaultDevice();
}
c10::intrusive_ptr<PG> MakeGloo(const c10::intrusive_ptr<::c10d::Store>& store, const std::string& host, const std::string& iface) {
  auto opts = ::c10d::ProcessGroupGloo::Options::create(g->timeout);
  opts->devices.push_back(MakeDevice(host, iface));
  opts->threads = 2;
  return c10::make_intrusive<::c10d::ProcessGroupGloo>(store, g->rank, g->size, opts);
}
#endif

#ifdef CLAN_HAS_NCCL
c10::intrusive_ptr<PG> MakeNccl(const c10::intrusive_ptr<::c10d::Store>& store, int cudaIndex) {
  // A blocking wait makes a timeout or a peer's failure an exception of wait() (one line), instead of the watchdog
  // tearing the process down; the user's own setting wins.
  setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(cudaIndex));  // this process's GPU (torch.cuda.set_device)
  g->device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(cudaIndex));
  auto opts = ::c10d::ProcessGroupNCCL::Options::create();
  opts->timeout = g->timeout;
  auto pg = c10::make_intrusive<::c10d::ProcessGroupNCCL>(store, g->rank, g->size, opts);
#if TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 3
  pg->setBoundDeviceId(g->device);  // communicators on this GPU only; no "guessing device" warning
#endif
  return pg;
}
#endif

// Sum a small tensor across ranks, synchronously (inside forward/backward of SyncBN).
void AllreduceNow(at::Tensor& t) {
  Flight f = Start({t}, [](PG& pg, std::vector<at::Tensor>& v) { return pg.allreduce(v, ::c10d::AllreduceOptions()); });
  f.work->wait(g->timeout);
  if (!f.dest.empty()) f.dest[0].copy_(f.staged[0]);
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

// init(masterAddr, masterPort, rank, worldSize, timeoutMs, socketInterface, backend, cudaIndex): rank 0 hosts the
// store. backend "gloo": Gloo alone; "nccl": NCCL on cuda:cudaIndex, plus Gloo for CPU tensors where compiled in.
void Init(Napi::Env env, const Args& info) {
  if (g) throw Napi::Error::New(env, "distributed: already initialised");
  const std::string host = info[0].As<Napi::String>().Utf8Value(), iface = info[5].As<Napi::String>().Utf8Value();
  const std::string backend = info[6].As<Napi::String>().Utf8Value();
  const int port = info[1].As<Napi::Number>().Int32Value();
  [[maybe_unused]] const int cudaIndex = info[7].As<Napi::Number>().Int32Value();
  g = std::make_unique<Group>();
  g->rank = info[2].As<Napi::Number>().Int32Value();
  g->size = info[3].As<Napi::Number>().Int32Value();
  g->timeout = std::chrono::milliseconds(info[4].As<Napi::Number>().Int64Value());
  const std::string who = " failed on rank " + std::to_string(g->rank) + ": ";
  ::c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(port);
  so.isServer = g->rank == 0;
  so.numWorkers = static_cast<std::size_t>(g->size);
  so.waitWorkers = false;
  so.timeout = g->timeout;
  try {
    g->store = c10::make_intrusive<::c10d::TCPStore>(host, so);
  } catch (const std::exception& e) {
    g.reset();
    throw Napi::Error::New(env, "distributed: rendezvous at " + host + ":" + std::to_string(port) + who + Clean(e.what()));
  }
  try {
#ifdef CLAN_HAS_NCCL
    if (backend == "nccl") g->nccl = MakeNccl(c10::make_intrusive<::c10d::PrefixStore>("nccl", g->store), cudaIndex);
#endif
#ifdef CLAN_HAS_GLOO
    c10::intrusive_ptr<::c10d::Store> store = g->store;
    if (backend == "nccl") store = c10::make_intrusive<::c10d::PrefixStore>("gloo", g->store);
    g->gloo = MakeGloo(store, host, iface);
#endif
  } catch (const std::exception& e) {
    const std::string msg = "distributed: connecting the " + std::to_string(g->size) + " ranks (" + backend + ")" + who + Clean(e.what());
    g.reset();
    throw Napi::Error::New(env, msg);
  }
  if (!g->gloo && !g->nccl) {
    g.reset();
    throw Napi::Error::New(env, "distributed: backend '" + backend + "' is not compiled into this addon");
  }
}

void Destroy() {
  pending.clear();
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
  if (g && g->nccl) g->nccl->shutdown();  // a clean end, as destroy_process_group: no "not destroyed" warning
#endif
  g.reset();
}
}  // namespace
#else
static Napi::Value NoDist(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(), "distributed: this addon was built without gloo or NCCL (install libgloo-dev and rebuild: npm run build:native)");
}
#endif

void RegisterDist(Napi::Env env, Napi::Object exports) {
  // The backends compiled in: "gloo", "nccl".
  CLAN_FN(distBackends, 0)
    Napi::Array a = Napi::Array::New(env);
#ifdef CLAN_HAS_GLOO
    a.Set(a.Length(), Napi::String::New(env, "gloo"));
#endif
#ifdef CLAN_HAS_NCCL
    a.Set(a.Length(), Napi::String::New(env, "nccl"));
#endif
    return a;
  CLAN_END;
#ifdef CLAN_HAS_DIST
  CLAN_FN(distInit, 8) Init(env, info); return env.Undefined(); CLAN_END;
  CLAN_FN(distDestroy, 0) Destroy(); return env.Undefined(); CLAN_END;
  // allreduceStart(tensors): sum in place across ranks, asynchronously; returns a work id for distWait.
  CLAN_FN(distAllreduceStart, 1)
    Need(env);
    int id = nextWork++;
    pending[id] = Start(TList(info[0]), [](PG& pg, std::vector<at::Tensor>& v) { return pg.allreduce(v, ::c10d::AllreduceOptions()); });
    return Napi::Number::New(env, id);
  CLAN_END;
  CLAN_FN(distWait, 1)
    Need(env);
    int id = info[0].As<Napi::Number>().Int32Value();
    auto it = pending.find(id);
    if (it == pending.end()) throw Napi::Error::New(env, "distributed: no pending work " + std::to_string(id));
    Flight f = std::move(it->second);
    pending.erase(it);
    Finish(env, f, "allreduce");
    return env.Undefined();
  CLAN_END;
  CLAN_FN(distBroadcast, 2)
    Need(env);
    ::c10d::BroadcastOptions o;
    o.rootRank = info[1].As<Napi::Number>().Int32Value();
    Flight f = Start(TList(info[0]), [&](PG& pg, std::vector<at::Tensor>& v) { return pg.broadcast(v, o); });
    Finish(env, f, "broadcast");
    return env.Undefined();
  CLAN_END;
  // allgather(tensor) → one tensor per rank, in rank order, on the input's device.
  CLAN_FN(distAllgather, 1)
    Need(env);
    const at::Tensor& t = T(info[0]);
    auto [pg, staged] = Route({t});
    std::vector<at::Tensor> in{staged ? t.to(g->device) : t};
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < g->size; r++) out[0].push_back(at::empty_like(in[0]));
    Wait(env, pg->allgather(out, in, ::c10d::AllgatherOptions()), "allgather");
    if (staged) for (auto& o : out[0]) o = o.to(t.device());
    return WrapMany(env, out[0]);
  CLAN_END;
  CLAN_FN(distBarrier, 0)
    Need(env);
    ::c10d::BarrierOptions o;
    if (!g->gloo) o.device_ids = {g->device.index()};
    Wait(env, (g->gloo ? g->gloo : g->nccl)->barrier(o), "barrier");
    return env.Undefined();
  CLAN_END;
  // syncBatchNorm(x, weight?, bias?, runningMean?, runningVar?, momentum, eps): training-mode BN over all ranks.
  CLAN_FN(distSyncBatchNorm, 7)
    Need(env);
    try {
      return Wrap(env, SyncBN::apply(T(info[0]), OptT(info[1]), OptT(info[2]), OptT(info[3]), OptT(info[4]),
                                     info[5].As<Napi::Number>().DoubleValue(), info[6].As<Napi::Number>().DoubleValue()));
    } catch (const c10::Error& e) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("distributed sync batch norm failed on rank ") + std::to_string(g->rank) + ": " + Clean(e.what()));
    }
  CLAN_END;
  // The store, for small host-side facts (who is still alive after a failure): set, and check for keys.
  CLAN_FN(distStoreSet, 2)
    Need(env);
    std::string v = info[1].As<Napi::String>().Utf8Value();
    try { g->store->set(info[0].As<Napi::String>().Utf8Value(), std::vector<uint8_t>(v.begin(), v.end())); } catch (const std::exception& e) {
      throw Napi::Error::New(env, "distributed: the store (on rank 0) is unreachable: " + Clean(e.what()));
    }
    return env.Undefined();
  CLAN_END;
  CLAN_FN(distStoreCheck, 1)
    Need(env);
    try { return Napi::Boolean::New(env, g->store->check({info[0].As<Napi::String>().Utf8Value()})); } catch (const std::exception& e) {
      throw Napi::Error::New(env, "distributed: the store (on rank 0) is unreachable: " + Clean(e.what()));
    }
  CLAN_END;
#else
  const std::pair<const char*, int> names[] = {{"distInit", 8}, {"distDestroy", 0}, {"distAllreduceStart", 1}, {"distWait", 1},
    {"distBroadcast", 2}, {"distAllgather", 1}, {"distBarrier", 0}, {"distSyncBatchNorm", 7}, {"distStoreSet", 2}, {"distStoreCheck", 1}};
  for (const auto& [name, arity] : names) Register(env, exports, name, arity, NoDist);
#endif
}

}  // namespace clan
