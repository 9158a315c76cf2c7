// Matmul throughput at decode (M = 1, 8) and prefill (M = 64, 512) shapes of 110M-to-8B
// models, with f32 and bf16 weights, and the block formats at M = 1 and 512. Counters: GFLOP/s (2*M*N*K per call) and weight GB/s
// (packed weight bytes per call).
#include <benchmark/benchmark.h>

#include <vector>

#include "bench_common.h"
#include "kernels/matmul.h"
#include "kernels/matmul_backward.h"

namespace detinfer::bench {

namespace {

constexpr size_t kMatmulColdBytes = size_t{256} << 20;

void BM_Matmul(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const DType dtype = static_cast<DType>(state.range(3));
  const int threads = static_cast<int>(state.range(4));
  std::vector<float> x(static_cast<size_t>(m * k)), y(static_cast<size_t>(m * n));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 97) * 0.01f - 0.5f;
  std::vector<float> wf(static_cast<size_t>(n * k));
  for (size_t i = 0; i < wf.size(); ++i) wf[i] = static_cast<float>(i % 89) * 0.002f - 0.09f;
  std::vector<uint16_t> wh(wf.size());  // 16 bits per weight: room for every stored format
  TensorView wv = TensorView::Contiguous(wf.data(), DType::kF32, {n, k});
  if (dtype != DType::kF32) {
    ConvertFromF32(wf.data(), dtype, wh.data(), wf.size());
    wv = TensorView::Contiguous(wh.data(), dtype, {n, k});
  }
  // Enough copies of the weights that together they overflow the last-level cache several
  // times: each call then streams its weights from DRAM, as decode of a real model does
  // (one matrix of 4096x4096 bf16 would otherwise sit in the 32 MiB L3 and flatter the figure).
  std::vector<PackedMatrix> copies;
  size_t total = 0;
  while (total < kMatmulColdBytes && copies.size() < 64) {
    auto packed = PackedMatrix::Pack(wv);
    if (!packed.ok()) {
      state.SkipWithError(packed.status().ToString().c_str());
      return;
    }
    total += packed->bytes();
    copies.push_back(std::move(packed).value());
  }
  ThreadPool pool(threads);
  KernelContext ctx{BenchIsa(), &pool};
  const TensorView xv = TensorView::Contiguous(x.data(), DType::kF32, {m, k});
  const TensorView yv = TensorView::Contiguous(y.data(), DType::kF32, {m, n});
  size_t next = 0;
  for (auto _ : state) {
    Status s = Matmul(ctx, xv, copies[next], nullptr, yv);
    next = (next + 1) % copies.size();
    benchmark::DoNotOptimize(y.data());
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.counters["GFLOP"] = benchmark::Counter(2.0 * double(m) * double(n) * double(k) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB"] = benchmark::Counter(double(copies[0].bytes()) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(std::string(DTypeName(dtype)));
}

void MatmulArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N", "dtype", "threads"});
  for (int64_t dtype : {int64_t(DType::kF32), int64_t(DType::kBF16)}) {
    for (auto [k, n] : {std::pair<int64_t, int64_t>{768, 768}, {768, 2048}, {2048, 768}, {4096, 4096}}) {
      for (int64_t m : {1, 8, 64, 512}) b->Args({m, k, n, dtype, 2});
    }
  }
  // One thread, for the scaling figure.
  b->Args({1, 4096, 4096, int64_t(DType::kBF16), 1});
  // The block formats (kernels/qmatmul.h) at decode and prefill.
  for (DType d : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (int64_t m : {1, 512}) b->Args({m, 4096, 4096, int64_t(d), 2});
  }
  b->Args({512, 4096, 4096, int64_t(DType::kF32), 1});
  // One thread, weights hot in L2 (768 x 768, 0.3-0.6 MB): the block-format tile's own cost at
  // decode (1 row) and one full VNNI tile (4 rows), without the memory system, whose bandwidth
  // moves by half within minutes on the machines this runs on.
  for (DType d : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (int64_t m : {1, 4}) b->Args({m, 768, 768, int64_t(d), 1});
  }
}

// Training shapes (M = 512 tokens, small square weights, hot in cache as in a training step):
// the two backward gradients (matmul_backward.h) and, for reference, the forward on the same
// shape. GFLOP/s = 2*M*N*K per call; compare with BM_ProbeFmaPeak at the same thread count.
enum class TrainOp : int64_t { kForward = 0, kBackwardInput = 1, kBackwardWeight = 2 };

void BM_MatmulTraining(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  const auto op = static_cast<TrainOp>(state.range(3));
  const int threads = static_cast<int>(state.range(4));
  std::vector<float> x(static_cast<size_t>(m * k)), y(static_cast<size_t>(m * n)),
      w(static_cast<size_t>(n * k)), dw(w.size(), 0.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 97) * 0.01f - 0.5f;
  for (size_t i = 0; i < y.size(); ++i) y[i] = static_cast<float>(i % 83) * 0.001f - 0.04f;
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 89) * 0.002f - 0.09f;
  ThreadPool pool(threads);
  KernelContext ctx{BenchIsa(), &pool};
  const TensorView xv = TensorView::Contiguous(x.data(), DType::kF32, {m, k});
  const TensorView yv = TensorView::Contiguous(y.data(), DType::kF32, {m, n});
  const TensorView wv = TensorView::Contiguous(w.data(), DType::kF32, {n, k});
  const TensorView dwv = TensorView::Contiguous(dw.data(), DType::kF32, {n, k});
  auto packed = PackedMatrix::Pack(wv);
  if (!packed.ok()) {
    state.SkipWithError(packed.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    Status s;
    switch (op) {
      case TrainOp::kForward: s = Matmul(ctx, xv, *packed, nullptr, yv); break;
      case TrainOp::kBackwardInput: s = MatmulBackwardInput(ctx, yv, wv, xv); break;
      case TrainOp::kBackwardWeight: s = MatmulBackwardWeight(ctx, yv, xv, dwv); break;
    }
    benchmark::DoNotOptimize(x.data());
    benchmark::DoNotOptimize(dw.data());
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.counters["GFLOP"] = benchmark::Counter(2.0 * double(m) * double(n) * double(k) * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
  static const char* const kNames[] = {"forward", "backward_input", "backward_weight"};
  state.SetLabel(kNames[static_cast<int>(op)]);
}

void MatmulTrainingArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "K", "N", "op", "threads"});
  for (int64_t threads : {1, 2}) {
    for (int64_t kn : {128, 256, 512}) {
      for (int64_t op = 0; op < 3; ++op) b->Args({512, kn, kn, op, threads});
    }
  }
}

}  // namespace

BENCHMARK(BM_MatmulTraining)->Apply(MatmulTrainingArgs)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Matmul)->Apply(MatmulArgs)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace detinfer::bench
