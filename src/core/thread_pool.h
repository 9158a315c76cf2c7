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
  void RunBatch(int64_t base, int64_t count, TaskFn fn, void* ctx);
  // `seen` is the generation the worker starts from (see the constructor).
  void WorkerLoop(uint64_t seen);
  // Claims and runs tasks of the job whose tag is `tag` until none is left.
  void DrainTasks(uint64_t tag);

  std::vector<std::thread> workers_;
  // The current job. Written by the caller before it publishes the job's claim word, read by a
  // thread only after it has claimed one of the job's tasks: the caller cannot move on to
  // another job before every claimed task is done, so these never change under a reader.
  TaskFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  int64_t job_base_ = 0;
  // The claim word: job tag (16 bits) | task count (24 bits) | next task (24 bits). A thread
  // claims task i by a compare-and-swap from i to i + 1 under the tag it was woken for, so a
  // worker that wakes late, after its job is over, finds another tag (or no task left) and
  // touches nothing; and the caller never waits for workers that did not take part.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_{0};  // tasks of the current job finished
  uint64_t jobs_run_ = 0;         // caller only
  std::atomic<uint64_t> generation_{0};  // wakes workers
  std::atomic<bool> stop_{false};
};

}  // namespace detinfer

#endif  // DETINFER_CORE_THREAD_POOL_H_
