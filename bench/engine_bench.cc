// Engine benchmarks on the 110M model (bf16 weights):
//  - decode throughput vs concurrency 1, 4, 16, 32 (total generated tokens per second): batching
//    decode tokens turns the weight stream into a matmul, so throughput should grow with it;
//  - time to first token of a 1024-token prompt vs the share of it already in the prefix cache
//    (0, 25, 50, 75, 100%), cold (prefix cache off) and warm;
//  - prefill throughput vs chunk size C in {16, 32, 64, 128, 256} (a 512-token prompt).
#include <benchmark/benchmark.h>

#include <chrono>

#include "bench_common.h"
#include "bench_model.h"
#include "engine/engine.h"

namespace detinfer::bench {

namespace {

Request MakePrompt(const std::string& id, int64_t n, uint64_t salt, int32_t max_new) {
  Request r;
  r.id = id;
  for (int64_t i = 0; i < n; ++i) {
    r.prompt.push_back(static_cast<int32_t>((uint64_t(i) * 7919u + salt * 104729u + 13u) % 32000u));
  }
  r.max_new_tokens = max_new;
  return r;
}

void BM_EngineDecodeConcurrency(benchmark::State& state) {
  const int64_t concurrency = state.range(0);
  const Transformer& m = Bench110M(DType::kBF16);
  ThreadPool pool(2);
  const KernelContext ctx{BenchIsa(), &pool};
  const int32_t new_tokens = 32;
  int64_t generated = 0;
  for (auto _ : state) {
    EngineOptions opts;
    opts.kv_capacity_tokens = concurrency * 64;
    auto e = Engine::Create(m, ctx, opts);
    std::vector<Request> reqs;
    for (int64_t i = 0; i < concurrency; ++i) {
      std::string id = "r";
      id += std::to_string(i);
      reqs.push_back(MakePrompt(id, 16, static_cast<uint64_t>(i), new_tokens));
    }
    for (const RequestResult& r : (*e)->Generate(reqs)) {
      if (!r.status.ok()) state.SkipWithError(r.status.ToString().c_str());
      generated += static_cast<int64_t>(r.tokens.size());
    }
  }
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(generated), benchmark::Counter::kIsRate);
}

// Time to first token of the second request; the first one (same first `overlap`% of tokens)
// ran before it, so with the prefix cache on its blocks are there to reuse.
void BM_EngineTimeToFirstToken(benchmark::State& state) {
  const int64_t overlap_pct = state.range(0);
  const bool warm = state.range(1) != 0;
  const Transformer& m = Bench110M(DType::kBF16);
  ThreadPool pool(2);
  const KernelContext ctx{BenchIsa(), &pool};
  const int64_t n = 1024;
  double ttft = 0;
  for (auto _ : state) {
    state.PauseTiming();
    EngineOptions opts;
    opts.prefix_cache = warm;
    opts.kv_capacity_tokens = 4 * n;
    opts.step_token_budget = n + 1;
    opts.chunk_size = n;
    auto e = Engine::Create(m, ctx, opts);
    Request first = MakePrompt("first", n, 1, 1);
    (void)(*e)->Generate({first});
    Request second = MakePrompt("second", n, 2, 1);
    const int64_t shared = n * overlap_pct / 100;
    std::copy(first.prompt.begin(), first.prompt.begin() + shared, second.prompt.begin());
    state.ResumeTiming();
    const auto t0 = std::chrono::steady_clock::now();
    const RequestResult r = (*e)->Generate({second})[0];  // max_new_tokens 1: ends at the first
    ttft += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!r.status.ok()) state.SkipWithError(r.status.ToString().c_str());
  }
  state.counters["ttft_ms"] = ttft / static_cast<double>(state.iterations());
}

void BM_EnginePrefillChunk(benchmark::State& state) {
  const int64_t chunk = state.range(0);
  const Transformer& m = Bench110M(DType::kBF16);
  ThreadPool pool(2);
  const KernelContext ctx{BenchIsa(), &pool};
  const int64_t n = 512;
  for (auto _ : state) {
    EngineOptions opts;
    opts.chunk_size = chunk;
    opts.prefix_cache = false;
    opts.kv_capacity_tokens = n + 16;
    auto e = Engine::Create(m, ctx, opts);
    const RequestResult r = (*e)->Generate({MakePrompt("p", n, 3, 1)})[0];
    if (!r.status.ok()) state.SkipWithError(r.status.ToString().c_str());
  }
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(n),
                                               benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_EngineDecodeConcurrency)->ArgName("concurrency")->Arg(1)->Arg(4)->Arg(16)->Arg(32)
    ->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3);
BENCHMARK(BM_EngineTimeToFirstToken)->ArgNames({"overlap_pct", "warm"})
    ->ArgsProduct({{0, 25, 50, 75, 100}, {0, 1}})
    ->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3);
BENCHMARK(BM_EnginePrefillChunk)->ArgName("chunk")->Arg(16)->Arg(32)->Arg(64)->Arg(128)->Arg(256)
    ->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3);

}  // namespace detinfer::bench
