// KernelContext: what every kernel call needs besides its operands.
#ifndef DETINFER_KERNELS_CONTEXT_H_
#define DETINFER_KERNELS_CONTEXT_H_

#include "core/isa.h"
#include "core/thread_pool.h"

namespace detinfer {

struct KernelContext {
  Isa isa = Isa::kScalar;
  // Null means: run on the calling thread only. The pool's size never changes a result
  // (SPEC §A6); it only changes who computes which task.
  ThreadPool* pool = nullptr;

  // Runs fn(task) for task in [0, n), on the pool when there is one.
  template <typename Fn>
  void ParallelFor(int64_t n, Fn&& fn) const {
    if (pool != nullptr) {
      pool->ParallelFor(n, fn);
    } else {
      for (int64_t t = 0; t < n; ++t) fn(t);
    }
  }
  int num_threads() const { return pool ? pool->num_threads() : 1; }
};

}  // namespace detinfer

#endif  // DETINFER_KERNELS_CONTEXT_H_
