// ThreadPool: runs independent tasks on a fixed set of threads.
//
// Why results cannot depend on the thread count (SPEC §A6): a task is the unit of work the
// kernels define (e.g. "output columns 64..127 of this matmul"), every task writes outputs no
// other task writes, and a task's arithmetic never depends on which thread runs it or on how
// many threads exist. Threads only decide *who* computes a task, never *how*. Tasks are claimed
// dynamically, which balances load without affecting any bit: each thread owns a contiguous
// share of the tasks and takes them from the front, in order (a thread streaming a weight keeps
// streaming it, its prefetches running ahead into its own next task); a thread whose share is
// done takes the others' from the back, one task at a time, so all finish within about a task
// of each other however unevenly the threads were scheduled.
#ifndef DETINFER_CORE_THREAD_POOL_H_
#define DETINFER_CORE_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <memory>
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
  // `seen` is the generation the worker starts from (see the constructor); `slot` its share.
  void WorkerLoop(int slot, uint64_t seen);
  // Claims and runs tasks of the job whose tag is `tag` until none is left: those of `slot`
  // from the front, then the other slots' from the back.
  void DrainTasks(int slot, uint64_t tag);

  // A thread's share of the current job: job tag (16 bits) | first task left (24 bits) | end
  // (24 bits). A task is claimed by a compare-and-swap that moves the first task up (the owner)
  // or the end down (another thread) under the tag the claimer was woken for, so a worker that
  // wakes late, after its job is over, finds another tag (or no task left) and touches nothing;
  // and the caller never waits for workers that did not take part. One cache line each: the
  // owner's claims must not contend with the other threads'.
  struct alignas(64) Share {
    std::atomic<uint64_t> word{0};
  };

  std::vector<std::thread> workers_;
  std::unique_ptr<Share[]> shares_;  // [num_threads()]: 0 the caller, i worker i
  // The current job. Written by the caller before it publishes the job's shares, read by a
  // thread only after it has claimed one of the job's tasks: the caller cannot move on to
  // another job before every claimed task is done, so these never change under a reader.
  TaskFn job_fn_ = nullptr;
  void* job_ctx_ = nullptr;
  int64_t job_base_ = 0;
  std::atomic<int64_t> done_{0};  // tasks of the current job finished
  uint64_t jobs_run_ = 0;         // caller only
  std::atomic<uint64_t> generation_{0};  // wakes workers
  std::atomic<bool> stop_{false};
};

}  // namespace detinfer

#endif  // DETINFER_CORE_THREAD_POOL_H_
