// Pieces shared by the detinfer subcommands: flag groups, id lists, the kernel context.
#ifndef DETINFER_TOOLS_CLI_COMMON_H_
#define DETINFER_TOOLS_CLI_COMMON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "kernels/context.h"

namespace CLI { class App; }

namespace detinfer::cli {

// "1,2,3" -> {1, 2, 3}; errors name the flag and the bad item.
Result<std::vector<int32_t>> ParseIds(const std::string& flag, const std::string& text);

// --threads N and DETINFER_ISA: a kernel context and the pool behind it.
struct Runtime {
  std::unique_ptr<ThreadPool> pool;
  KernelContext ctx;
};
Result<Runtime> MakeRuntime(int threads);

// The engine flags of `generate` and `score`.
struct EngineFlags {
  int threads = 0;  // 0: all hardware threads
  std::string kv_dtype = "f32";
  int64_t chunk = 64;
  int64_t block = 16;
  int64_t kv_capacity = 0;  // 0: room for the model's whole context, 8 sequences
  bool no_prefix_cache = false;
  bool no_cache = false;
};
void AddEngineFlags(CLI::App* cmd, EngineFlags* flags);
Result<EngineOptions> ToEngineOptions(const EngineFlags& flags, int64_t context_len);
// --kv-dtype: f32, bf16 or f16 (a weight block format is refused, naming the flag).
Result<DType> ParseKvDType(const std::string& name);

// Prints "detinfer: <message>" on stderr and returns the exit code for a failed command.
int Fail(const Status& status);

}  // namespace detinfer::cli

#endif  // DETINFER_TOOLS_CLI_COMMON_H_
