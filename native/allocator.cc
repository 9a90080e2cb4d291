// The caching CPU allocator libtorch allocates host tensors with, and its two bindings (allocatorStats, emptyCache).
#include "common.h"
#include <c10/core/CPUAllocator.h>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>

namespace clan {

// A size-keyed caching CPU allocator. Why: libtorch allocates with posix_memalign; with glibc's dynamic mmap
// threshold and V8's own mallocs interleaved, a training loop that frees and re-allocates the same large
// activations grows RSS without bound (measured: +1 MB per bilinear upsample of 1 MB, +3.5 MB per probe-net
// step). Reusing freed blocks of the same size keeps RSS at the working set and skips page faults.
// Measured on speed too: glibc hands big activations back to the kernel and they page-fault again on every step,
// so `clan bench step` ran at a ratio (CLAN time / PyTorch time) of 0.45–0.74 against PyTorch as shipped and ≈1.0
// against a PyTorch run with MALLOC_MMAP_THRESHOLD_ raised. This allocator is why we match the tuned number.
// Blocks below kMinCached go straight to malloc; the cache is capped (CLAN_CPU_CACHE_MB, default 4096) and
// emptied by emptyCache(). CLAN_CPU_ALLOCATOR=default keeps libtorch's own allocator.
class CachingCPUAllocator final : public at::Allocator {
 public:
  static constexpr size_t kMinCached = 64 * 1024;
  static constexpr size_t kAlign = 64;

  at::DataPtr allocate(size_t n) CLAN_ALLOCATE_CONST override {
    size_t size = Round(n);
    void* p = nullptr;
    if (size >= kMinCached) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        hits_++;
      }
    }
    if (!p) {
      if (posix_memalign(&p, kAlign, size ? size : kAlign) != 0) throw std::bad_alloc();
      std::lock_guard<std::mutex> lock(mu_);
      misses_++;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      sizes_[p] = size;
    }
    // context == data, as libtorch's raw_allocate() requires (mkldnn uses it)
    return at::DataPtr(p, p, &Free, at::Device(at::DeviceType::CPU));
  }
  at::DeleterFnPtr raw_deleter() const override { return &Free; }
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  static void Free(void* p) { Instance().Release(p); }
  void Release(void* p) {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    size_t size = it == sizes_.end() ? 0 : it->second;
    if (it != sizes_.end()) sizes_.erase(it);
    if (size >= kMinCached) {
      if (cached_ + size <= limit_) {
        free_[size].push_back(p);
        cached_ += size;
        return;
      }
    }
    std::free(p);
  }
  void EmptyCache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : free_) for (void* p : kv.second) std::free(p);
    free_.clear();
    cached_ = 0;
  }
  static CachingCPUAllocator& Instance() {
    static CachingCPUAllocator* a = new CachingCPUAllocator();  // never destroyed: tensors may outlive statics
    return *a;
  }
  size_t cached() { std::lock_guard<std::mutex> lock(mu_); return cached_; }
  mutable std::mutex mu_;
  mutable std::map<size_t, std::vector<void*>> free_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable size_t cached_ = 0, limit_ = size_t(4096) << 20;
  mutable uint64_t hits_ = 0, misses_ = 0;
 private:
  static size_t Round(size_t n) {
    size_t q = n < (size_t(1) << 20) ? 4096 : 65536;  // coarse buckets so near-equal sizes share blocks
    return n < kMinCached ? (n + kAlign - 1) / kAlign * kAlign : (n + q - 1) / q * q;
  }
};

void InstallAllocator() {
  auto& a = CachingCPUAllocator::Instance();
  if (const char* mb = std::getenv("CLAN_CPU_CACHE_MB")) a.limit_ = size_t(std::strtoull(mb, nullptr, 10)) << 20;
  if (const char* off = std::getenv("CLAN_CPU_ALLOCATOR"); off && std::string(off) == "default") return;
  c10::SetCPUAllocator(&a, /*priority=*/200);
}

void RegisterAllocator(Napi::Env env, Napi::Object exports) {
  CLAN_FN(allocatorStats, 0)
    auto& a = CachingCPUAllocator::Instance();
    Napi::Object o = Napi::Object::New(env);
    std::lock_guard<std::mutex> lock(a.mu_);
    o.Set("cachedBytes", Napi::Number::New(env, static_cast<double>(a.cached_)));
    o.Set("hits", Napi::Number::New(env, static_cast<double>(a.hits_)));
    o.Set("misses", Napi::Number::New(env, static_cast<double>(a.misses_)));
    return o; CLAN_END;
  CLAN_FN(emptyCache, 0) CachingCPUAllocator::Instance().EmptyCache(); return env.Undefined(); CLAN_END;
}

}  // namespace clan
