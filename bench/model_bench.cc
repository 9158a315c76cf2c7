// Model-level throughput on the 110M shape: decode (tg128: 128 tokens one at a time after a
// one-token prompt) and prefill (pp512: one 512-token forward), for every weight format of
// kBenchFormats at 2 threads (f32 and bf16 also at 1); and load time (memory map + validation, then packing) of that model's file.
// Counters: tok/s, and for decode the weight bytes streamed per second ("GB") and the read probe
// measured right before and after it ("probe_GB/s"), which the summary divides (the decode
// roofline).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <vector>

#include "bench_common.h"
#include "bench_model.h"
#include "core/storage_format.h"
#include "model/gguf_writer.h"
#include "model/loader.h"
#include "model/random_init.h"
#include "model/weight_recipe.h"

namespace detinfer::bench {

const Transformer& Bench110MFormat(int format) {
  static std::unique_ptr<Transformer> model;
  static int current = -1;
  if (!model || current != format) {
    model.reset();
    const WeightRecipe recipe = ParseWeightRecipe(kBenchFormats[format]).value();
    auto w = InitRandomModel(Bench110MConfig(), 1, recipe);
    ThreadPool pool(2);
    auto t = Transformer::Create(std::move(w).value(), KernelContext{BenchIsa(), &pool});
    model = std::make_unique<Transformer>(std::move(t).value());
    current = format;
  }
  return *model;
}

const Transformer& Bench110M(DType dtype) {
  for (int f = 0; f < kNumBenchFormats; ++f) {
    if (kBenchFormats[f] == DTypeName(dtype)) return Bench110MFormat(f);
  }
  return Bench110MFormat(0);
}

namespace {

// Bytes of weights one decode step reads: every matrix once, as stored (the embedding row is
// negligible).
double WeightBytesPerToken(const Transformer& m) {
  const ModelWeights& w = m.weights();
  double bytes = double(StorageBytes(w.lm_head.dtype, w.lm_head.numel()));
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      bytes += double(StorageBytes(t->dtype, t->numel()));
    }
  }
  return bytes;
}

// Multiply-adds per token of the matrices (2 FLOPs each).
double MatmulFlopsPerToken() {
  const ModelConfig c = Bench110MConfig();
  const double per_layer = double(c.dim) * double(c.n_heads * c.head_dim) * 2 +
                           double(c.dim) * double(c.n_kv_heads * c.head_dim) * 2 +
                           3.0 * double(c.dim) * double(c.ffn_dim);
  return 2.0 * (per_layer * double(c.n_layers) + double(c.vocab_size) * double(c.dim));
}

}  // namespace

Result<PagedKvCache> WarmDecodeCache(const Transformer& m, const KernelContext& ctx, int steps) {
  DETINFER_ASSIGN_OR_RETURN(PagedKvCache cache, m.NewCache(steps + 1));
  // One prefill over every position the decode will write, then the sequence is dropped: its
  // blocks go back to the free list, written.
  std::vector<int32_t> tokens(static_cast<size_t>(steps));
  for (int i = 0; i < steps; ++i) tokens[size_t(i)] = (i * 7919 + 13) % 32000;
  std::vector<float> logits;
  DETINFER_RETURN_IF_ERROR(cache.AddSequence(0));
  const Segment seg{0, 0, tokens, false};
  DETINFER_RETURN_IF_ERROR(m.Forward(ctx, cache, std::span<const Segment>(&seg, 1), &logits));
  DETINFER_RETURN_IF_ERROR(cache.FreeSequence(0));
  return cache;
}

void DecodeSteps(const Transformer& m, const KernelContext& ctx, PagedKvCache& cache, int steps,
                 benchmark::State& state) {
  std::vector<float> logits;
  Status s = cache.AddSequence(0);
  int32_t tok = 1;
  for (int p = 0; s.ok() && p < steps; ++p) {
    const Segment seg{0, p, std::span<const int32_t>(&tok, 1), false};
    s = m.Forward(ctx, cache, std::span<const Segment>(&seg, 1), &logits);
    tok = static_cast<int32_t>((p * 7919 + 13) % 32000);
  }
  if (s.ok()) s = cache.FreeSequence(0);  // its blocks stay written for the next pass
  if (!s.ok()) state.SkipWithError(s.ToString().c_str());
}

namespace {

void BM_ModelDecode(benchmark::State& state) {
  const int format = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const Transformer& m = Bench110MFormat(format);
  ThreadPool pool(threads);
  const KernelContext ctx{BenchIsa(), &pool};
  const int steps = 128;
  const double bytes = steps * WeightBytesPerToken(m);
  auto cache = WarmDecodeCache(m, ctx, steps);
  if (!cache.ok()) {
    state.SkipWithError(cache.status().ToString().c_str());
    return;
  }
  const double probe_before = ReadProbeGbs(pool, 3);
  double seconds = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    DecodeSteps(m, ctx, *cache, steps, state);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const double probe_after = ReadProbeGbs(pool, 3);
  state.counters["tok/s"] = benchmark::Counter(steps, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB"] = benchmark::Counter(bytes * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  // The read probe right before and after (not timed): the roofline's denominator.
  const double probe = (probe_before + probe_after) / 2;
  state.counters["probe_GB/s"] = probe;
  // The roofline ratio of this repetition against its own probes. The summary takes the median
  // of these paired ratios, not the ratio of the medians: this machine's bandwidth moves by
  // tens of percent within seconds (other tenants share it), so a pass is comparable only with
  // the probe taken around it.
  const double passes = double(state.iterations());
  state.counters["vs_probe"] = seconds > 0 && probe > 0 ? bytes * passes / seconds * 1e-9 / probe : 0.0;
  state.SetLabel(kBenchFormats[format]);
}

void BM_ModelPrefill(benchmark::State& state) {
  const int format = static_cast<int>(state.range(0));
  const int threads = static_cast<int>(state.range(1));
  const Transformer& m = Bench110MFormat(format);
  ThreadPool pool(threads);
  const KernelContext ctx{BenchIsa(), &pool};
  const int n = 512;
  std::vector<int32_t> tokens(n);
  for (int i = 0; i < n; ++i) tokens[size_t(i)] = (i * 7919 + 13) % 32000;
  std::vector<float> logits;
  for (auto _ : state) {
    auto cache = m.NewCache(n);
    (void)cache->AddSequence(0);
    const Segment seg{0, 0, tokens, false};
    Status s = m.Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &logits);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  state.counters["tok/s"] = benchmark::Counter(n, benchmark::Counter::kIsIterationInvariantRate);
  // Matmul FLOPs only (2 per weight per token), the figure set beside the FMA peak.
  const double flops = MatmulFlopsPerToken() * n;
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(kBenchFormats[format]);
}

// Load time of the 110M model from a GGUF file: LoadModel (map + validate every tensor) and
// Transformer::Create (repacking the matrices into 16-column panels) on 2 threads, the
// machine's cores, as `detinfer` does with its default --threads.
void BM_ModelLoad(benchmark::State& state) {
  const std::string path =
      (std::filesystem::temp_directory_path() / "detinfer-bench-110m-bf16.gguf").string();
  {
    auto w = InitRandomModel(Bench110MConfig(), 1, DType::kBF16);
    if (!WriteGguf(*w, path).ok()) state.SkipWithError("cannot write the benchmark model");
  }
  ThreadPool pool(2);
  const KernelContext ctx{BenchIsa(), &pool};
  double map_s = 0, pack_s = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto w = LoadModel(path);
    const auto t1 = std::chrono::steady_clock::now();
    auto t = Transformer::Create(std::move(w).value(), ctx);
    const auto t2 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(t);
    map_s += std::chrono::duration<double>(t1 - t0).count();
    pack_s += std::chrono::duration<double>(t2 - t1).count();
  }
  state.counters["map_validate_ms"] = 1e3 * map_s / double(state.iterations());
  state.counters["pack_ms"] = 1e3 * pack_s / double(state.iterations());
  std::filesystem::remove(path);
}

// Every format at 2 threads (the machine's cores); f32 and bf16 also at 1.
void FormatArgs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"format", "threads"});
  for (int64_t f = 0; f < kNumBenchFormats; ++f) {
    if (f < 2) b->Args({f, 1});
    b->Args({f, 2});
  }
}

// The lowest and highest repetition beside the median: how far the machine moved meanwhile.
double Lowest(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::min_element(v.begin(), v.end()); }
double Highest(const std::vector<double>& v) { return v.empty() ? 0.0 : *std::max_element(v.begin(), v.end()); }

}  // namespace

BENCHMARK(BM_ModelDecode)->Apply(FormatArgs)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1)
    ->ComputeStatistics("min", Lowest)->ComputeStatistics("max", Highest);
BENCHMARK(BM_ModelPrefill)->Apply(FormatArgs)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK(BM_ModelLoad)->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace detinfer::bench
