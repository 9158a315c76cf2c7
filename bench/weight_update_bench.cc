// Weight-update latency on the 110M shape (bf16), beside BM_ModelLoad (loading the same file
// into a fresh model): Engine::UpdateWeightsFromDisk from that GGUF file (load, check against
// the serving model tensor by tensor, repack, hash, swap) and Engine::UpdateWeightsFromTensors
// with every tensor in memory under its Hugging Face name (check, copy, repack, hash, swap), on
// 2 threads. The target: an update no slower than loading the file.
#include <benchmark/benchmark.h>

#include <filesystem>

#include "bench_common.h"
#include "bench_model.h"
#include "core/storage_format.h"
#include "core/thread_pool.h"
#include "engine/engine.h"
#include "model/arch.h"
#include "model/gguf_writer.h"
#include "model/random_init.h"
#include "model/tensor_roles.h"

namespace detinfer::bench {
namespace {

// state.range(0): 0 = from the GGUF file, 1 = from tensors in memory.
void BM_WeightUpdate(benchmark::State& state) {
  const bool from_disk = state.range(0) == 0;
  const std::string path =
      (std::filesystem::temp_directory_path() / "detinfer-bench-110m-bf16-update.gguf").string();
  auto next = InitRandomModel(Bench110MConfig(), 2, DType::kBF16);
  if (!next.ok()) return state.SkipWithError("cannot make the new weights");
  if (from_disk && !WriteGguf(*next, path).ok()) {
    return state.SkipWithError("cannot write the benchmark model");
  }
  std::vector<NamedTensor> tensors;
  for (const auto& [role, layer] : ListFileRoles(next->config)) {
    const TensorView& v = *MutableViewOf(*next, role, layer);
    tensors.push_back({HfTensorName(next->config.arch, role, layer), v.dtype,
                       std::vector<int64_t>(v.shape, v.shape + v.rank),
                       std::span(static_cast<const uint8_t*>(v.data),
                                 StorageBytes(v.dtype, v.numel()))});
  }
  ThreadPool pool(2);
  const KernelContext ctx{BenchIsa(), &pool};
  auto first = InitRandomModel(Bench110MConfig(), 1, DType::kBF16);
  if (!first.ok()) return state.SkipWithError("cannot make the served weights");
  auto served = Transformer::Create(std::move(first).value(), ctx);
  if (!served.ok()) return state.SkipWithError("cannot build the served model");
  auto engine = Engine::Create(*served, ctx, EngineOptions{});
  if (!engine.ok()) return state.SkipWithError("cannot create the engine");
  for (auto _ : state) {
    const Status st = from_disk ? (*engine)->UpdateWeightsFromDisk(path)
                                : (*engine)->UpdateWeightsFromTensors(tensors);
    if (!st.ok()) return state.SkipWithError(st.ToString().c_str());
  }
  if (from_disk) std::filesystem::remove(path);
}

}  // namespace

BENCHMARK(BM_WeightUpdate)
    ->ArgName("from_tensors")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace detinfer::bench
