// ThreadPool: runs independent tasks on a fixed set of threads.
//
// Why results cannot depend on the thread count (SPEC §A6): a task is the unit of work the
// kernels define (e.g. "output columns 64..127 of this matmul"), every task writes outputs no
// other task writes, and a task's arithmetic never depends on which thread runs it or on how
// many threads exist. Threads only decide *who* computes a task, never *how*. Tasks are claimed
// dynamically (an atomic counter), which balances load without affecting any bit.
#ifndef DETINFER_CORE_THREAD_POOL_H_
#define DETINFER_CORE_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <vector>

namespace detinfer {

class ThreadPool {
 public:
  // num_threads counts the calling thread: ThreadPool(1) starts no worker.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task) once for every task in [0, num_tasks) and returns when all have run.
  // Not reentrant: fn must not call ParallelFor on the same pool.
  template <typename Fn>
  void ParallelFor(int64_t num_tasks, Fn&& fn) {
    if (num_tasks <= 0) return;
    if (workers_.empty() || num_tasks == 1) {
      for (int64_t t = 0; t < num_tasks; ++t) fn(t);
      return;
    }
    // Fn may be deduced as an lvalue reference (KernelContext passes its fn by name).
    using F = std::remove_reference_t<Fn>;
    Run(num_tasks, [](void* ctx, int64_t t) { (*static_cast<F*>(ctx))(t); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

  // The hardware's thread count (at least 1).
  static int HardwareThreads();

 private:
  using TaskFn = void (*)(void*, int64_t);
  void Run(int64_t num_tasks, TaskFn fn, void* ctx);
  // `seen` is the generation the worker starts from (see the constructor).
  void WorkerLoop(uint64_t seen);
  void DrainTasks();

  std::vector<std::thread> workers_;
  // The current job. Written by the caller before `generation_` is bumped, read by workers
  // after they observe the bump.
  TaskFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  int64_t job_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> workers_busy_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace detinfer

#endif  // DETINFER_CORE_THREAD_POOL_H_
