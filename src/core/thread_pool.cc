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
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(0); });
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

void ThreadPool::DrainTasks(uint64_t tag) {
  uint64_t v = claim_.load(std::memory_order_acquire);
  for (;;) {
    const uint64_t next = v & kCountMask, count = (v >> kCountBits) & kCountMask;
    if ((v >> (2 * kCountBits)) != (tag & 0xffff) || next >= count) return;
    if (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
      continue;  // v now holds the current word
    }
    job_fn_(job_ctx_, job_base_ + static_cast<int64_t>(next));
    done_.fetch_add(1, std::memory_order_acq_rel);
    v = claim_.load(std::memory_order_acquire);
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
  // Publishes the job (release: the fields above are visible to whoever claims a task).
  claim_.store((tag << (2 * kCountBits)) | (static_cast<uint64_t>(count) << kCountBits),
               std::memory_order_release);
  generation_.store(tag, std::memory_order_release);
  generation_.notify_all();
  DrainTasks(tag);
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

void ThreadPool::WorkerLoop(uint64_t seen) {
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
    DrainTasks(now);
  }
}

}  // namespace detinfer
