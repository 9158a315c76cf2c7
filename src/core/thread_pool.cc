#include "core/thread_pool.h"

#include <algorithm>

namespace detinfer {

namespace {

// One spin-wait step: tells the core this is a busy-wait loop (frees pipeline resources for the
// sibling hyper-thread, saves power) without giving up the time slice.
inline void CpuRelax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// How long a worker spins on the generation counter before sleeping in atomic::wait. Decode
// issues many short parallel regions back to back; spinning briefly avoids paying a futex
// wake-up for each while still sleeping when the engine is idle.
constexpr int kSpinIterations = 20000;

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  // Workers start from generation 0, captured here rather than read when the thread gets
  // going: a worker scheduled late would otherwise read a generation already bumped by the
  // first Run() and sleep through that job (harmless now that Run() never waits for it, but
  // it would give up its share of the work).
  shares_ = std::make_unique<Share[]>(static_cast<size_t>(std::max(num_threads, 1)));
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { WorkerLoop(i, 0); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.store(~uint64_t{0}, std::memory_order_release);  // a value no job uses
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

int ThreadPool::HardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

constexpr int kCountBits = 24;
constexpr uint64_t kCountMask = (uint64_t{1} << kCountBits) - 1;
constexpr int64_t kMaxBatch = int64_t{1} << (kCountBits - 1);

namespace {

constexpr uint64_t ShareWord(uint64_t tag, int64_t first, int64_t end) {
  return (tag & 0xffff) << (2 * kCountBits) | static_cast<uint64_t>(first) << kCountBits |
         static_cast<uint64_t>(end);
}

// Claims one task of `share` for the job `tag`, from the front or the back; -1 when none is left.
int64_t Claim(std::atomic<uint64_t>& share, uint64_t tag, bool from_back) {
  uint64_t v = share.load(std::memory_order_acquire);
  for (;;) {
    const int64_t first = static_cast<int64_t>((v >> kCountBits) & kCountMask);
    const int64_t end = static_cast<int64_t>(v & kCountMask);
    if ((v >> (2 * kCountBits)) != (tag & 0xffff) || first >= end) return -1;
    const uint64_t next = from_back ? v - 1 : v + (uint64_t{1} << kCountBits);
    if (share.compare_exchange_weak(v, next, std::memory_order_acq_rel,
                                    std::memory_order_acquire)) {
      return from_back ? end - 1 : first;
    }
    // v now holds the current word
  }
}

}  // namespace

void ThreadPool::DrainTasks(int slot, uint64_t tag) {
  const int n = num_threads();
  for (;;) {
    int64_t task = Claim(shares_[size_t(slot)].word, tag, /*from_back=*/false);
    for (int i = 1; task < 0 && i < n; ++i) {
      task = Claim(shares_[size_t((slot + i) % n)].word, tag, /*from_back=*/true);
    }
    if (task < 0) return;
    job_fn_(job_ctx_, job_base_ + task);
    done_.fetch_add(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::Run(int64_t num_tasks, TaskFn fn, void* ctx) {
  for (int64_t base = 0; base < num_tasks; base += kMaxBatch) {
    RunBatch(base, std::min(kMaxBatch, num_tasks - base), fn, ctx);
  }
}

void ThreadPool::RunBatch(int64_t base, int64_t count, TaskFn fn, void* ctx) {
  job_fn_ = fn;
  job_ctx_ = ctx;
  job_base_ = base;
  done_.store(0, std::memory_order_relaxed);
  const uint64_t tag = ++jobs_run_ & 0xffff;
  // Publishes the job (release: the fields above are visible to whoever claims a task). Shares
  // are equal contiguous ranges, the caller's first.
  const int n = num_threads();
  for (int s = 0; s < n; ++s) {
    shares_[size_t(s)].word.store(ShareWord(tag, count * s / n, count * (s + 1) / n),
                                  std::memory_order_release);
  }
  generation_.store(tag, std::memory_order_release);
  generation_.notify_all();
  DrainTasks(0, tag);
  // Every task is claimed; wait for those other threads are still running.
  int spins = 0;
  while (done_.load(std::memory_order_acquire) != count) {
    if (++spins < kSpinIterations) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::WorkerLoop(int slot, uint64_t seen) {
  for (;;) {
    int spins = 0;
    uint64_t now;
    while ((now = generation_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        CpuRelax();
      } else {
        generation_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    DrainTasks(slot, now);
  }
}

}  // namespace detinfer
