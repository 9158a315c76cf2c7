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
  // Workers start from generation 0, captured here rather than read when the thread gets
  // going: a worker scheduled late would otherwise read a generation already bumped by the
  // first Run(), never join that job, and leave Run() waiting on workers_busy_ forever.
  for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(0); });
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

void ThreadPool::WorkerLoop(uint64_t seen) {
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
