// The compute runtime every detinfer user builds first: the thread pool and the kernel context
// (instruction-set path, threads) that loading, packing and running a model take.
#ifndef DETINFER_PUBLIC_RUNTIME_H_
#define DETINFER_PUBLIC_RUNTIME_H_

#include <memory>

#include "core/status.h"
#include "core/thread_pool.h"
#include "detinfer/names.h"
#include "kernels/context.h"

namespace detinfer {

struct Runtime {
  std::unique_ptr<ThreadPool> pool;  // null with one thread
  KernelContext ctx;                 // ctx.pool is pool.get()
};

// `threads` workers (0: every hardware thread) on the instruction-set path DETINFER_ISA names
// (default: the best the CPU has; core/isa.h). Neither changes a bit of any output (SPEC §A6,
// §A7), only the speed. Errors name `threads` in `style`.
Result<Runtime> MakeRuntime(int threads, NameStyle style = NameStyle::kFlag);

}  // namespace detinfer

#endif  // DETINFER_PUBLIC_RUNTIME_H_
