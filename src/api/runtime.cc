#include "detinfer/runtime.h"

#include <string>

#include "core/isa.h"

namespace detinfer {

Result<Runtime> MakeRuntime(int threads, NameStyle style) {
  if (threads < 0) {
    return Status::InvalidArgument(SettingName("threads", style) +
                                   " must be >= 1 (0: every hardware thread), got " +
                                   std::to_string(threads));
  }
  Runtime rt;
  DETINFER_ASSIGN_OR_RETURN(rt.ctx.isa, SelectIsaFromEnvironment(DetectCpuFeatures()));
  const int n = threads == 0 ? ThreadPool::HardwareThreads() : threads;
  if (n > 1) rt.pool = std::make_unique<ThreadPool>(n);
  rt.ctx.pool = rt.pool.get();
  return rt;
}

}  // namespace detinfer
