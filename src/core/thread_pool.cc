#include "core/thread_pool.h"

#include <immintrin.h>

namespace detinfer {

namespace {
// How long a worker spins on the generation counter before sleeping in atomic::wait. Decode
// issues many short parallel regions back to back; spinning briefly avoids paying a futex
// wake-up for each while still sleeping when the engine is idle.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (auto& w : workers_) w.join();
}

int ThreadPool::HardwareThreads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

void ThreadPool::DrainTasks() {
  for (;;) {
    const int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (t >= job_tasks_) return;
    job_fn_(job_ctx_, t);
  }
}

void ThreadPool::Run(int64_t num_tasks, TaskFn fn, void* ctx) {
  job_fn_ = fn;
  job_ctx_ = ctx;
  job_tasks_ = num_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  workers_busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);  // publishes the job
  generation_.notify_all();
  DrainTasks();
  // Wait until every worker has left DrainTasks, so the job's state may be reused.
  int spins = 0;
  while (workers_busy_.load(std::memory_order_acquire) != 0) {
    if (++spins < kSpinIterations) {
      _mm_pause();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::WorkerLoop() {
  // Generation 0 is the pool's state at construction. Starting from a fresh load instead would
  // lose a job (or the destructor's stop) published before this thread got to run: the thread
  // would then wait for a bump that never comes and Run/~ThreadPool would hang. A worker can be
  // at most one generation behind, since Run waits for every worker before returning.
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t now;
    while ((now = generation_.load(std::memory_order_acquire)) == seen) {
      if (++spins < kSpinIterations) {
        _mm_pause();
      } else {
        generation_.wait(seen, std::memory_order_acquire);
      }
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    DrainTasks();
    workers_busy_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace detinfer
