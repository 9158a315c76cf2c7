// Mixture-of-experts decode (issue #18's roofline figure): a random Qwen3-MoE-shaped model
// scaled to this machine — dim 512, 8 layers, 8/4 heads of 64, 64 experts of ffn 256 with 8
// used per token, vocab 32000, bf16 — decoding 64 tokens one at a time. The experts (403 MB)
// far exceed the caches, so each token streams its 8 experts per layer from memory. Counter
// "GB": the bytes a token must read (attention, router, the 8 active experts of every layer,
// the head) times tok/s, which the summary sets beside the read probe.
#include <benchmark/benchmark.h>

#include <memory>

#include "bench_common.h"
#include "bench_model.h"
#include "core/storage_format.h"
#include "model/random_init.h"
#include "model/transformer.h"

namespace detinfer::bench {
namespace {

ModelConfig MoeBenchConfig() {
  ModelConfig c;
  c.arch = Arch::kQwen3Moe;
  c.dim = 512;
  c.n_layers = 8;
  c.n_heads = 8;
  c.n_kv_heads = 4;
  c.head_dim = 64;
  c.ffn_dim = 256;
  c.expert_ffn_dim = 256;
  c.n_experts = 64;
  c.n_experts_used = 8;
  c.moe_renormalize = true;
  c.qk_norm = true;
  c.vocab_size = 32000;
  c.max_seq_len = 1024;
  c.rope_theta = 1000000.0;
  c.norm_eps = 1e-6f;
  return c;
}

const Transformer& MoeModel() {
  static std::unique_ptr<Transformer> model;
  if (!model) {
    auto w = InitRandomModel(MoeBenchConfig(), 1, DType::kBF16);
    ThreadPool pool(2);
    auto t = Transformer::Create(std::move(w).value(), KernelContext{BenchIsa(), &pool});
    model = std::make_unique<Transformer>(std::move(t).value());
  }
  return *model;
}

// What one decode step must read: every dense matrix, the router, n_experts_used / n_experts
// of each stacked expert tensor (the embedding row is negligible).
double ActiveBytesPerToken(const Transformer& m) {
  const ModelWeights& w = m.weights();
  const ModelConfig& c = w.config;
  const auto bytes = [](const TensorView& t) { return double(StorageBytes(t.dtype, t.numel())); };
  double total = bytes(w.lm_head);
  const double used = double(c.n_experts_used) / double(c.n_experts);
  for (const LayerWeights& l : w.layers) {
    total += bytes(l.wq) + bytes(l.wk) + bytes(l.wv) + bytes(l.wo) + bytes(l.router);
    total += used * (bytes(l.experts_gate) + bytes(l.experts_up) + bytes(l.experts_down));
  }
  return total;
}

void BM_MoeDecode(benchmark::State& state) {
  const Transformer& m = MoeModel();
  ThreadPool pool(static_cast<int>(state.range(0)));
  const KernelContext ctx{BenchIsa(), &pool};
  const int steps = 64;
  auto cache = WarmDecodeCache(m, ctx, steps);
  if (!cache.ok()) {
    state.SkipWithError(cache.status().ToString().c_str());
    return;
  }
  const double probe_before = ReadProbeGbs(pool, 3);
  for (auto _ : state) DecodeSteps(m, ctx, *cache, steps, state);
  const double probe_after = ReadProbeGbs(pool, 3);
  state.counters["tok/s"] = benchmark::Counter(steps, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB"] = benchmark::Counter(steps * ActiveBytesPerToken(m) * 1e-9,
                                            benchmark::Counter::kIsIterationInvariantRate);
  state.counters["probe_GB/s"] = (probe_before + probe_after) / 2;  // bench_common.h
  state.SetLabel("qwen3_moe 8/64 bf16");
}

}  // namespace

BENCHMARK(BM_MoeDecode)->Arg(2)->ArgName("threads")->UseRealTime()->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace detinfer::bench
