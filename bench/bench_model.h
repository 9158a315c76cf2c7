// The benchmark model: the random 110M-parameter Llama shape the project's anchors were
// measured on (dim 768, ffn 2048, 12 layers, 12 heads, vocab 32000), built once per dtype.
#ifndef DETINFER_BENCH_BENCH_MODEL_H_
#define DETINFER_BENCH_BENCH_MODEL_H_

#include "core/dtype.h"
#include "model/transformer.h"

namespace benchmark {
class State;  // declared only: the server benchmark includes this header without the library
}  // namespace benchmark

namespace detinfer::bench {

// Inline so that the server benchmark (a separate executable) measures the same shape.
inline ModelConfig Bench110MConfig() {
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.dim = 768;
  c.n_layers = 12;
  c.n_heads = 12;
  c.n_kv_heads = 12;
  c.head_dim = 64;
  c.ffn_dim = 2048;
  c.vocab_size = 32000;
  c.max_seq_len = 1024;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5f;
  c.tied_embeddings = false;
  return c;
}
// The model for `dtype`, created on first use and kept for the process (one at a time, so the
// f32, bf16 and f16 models never hold memory together).
const Transformer& Bench110M(DType dtype);

// The weight formats the model benchmarks measure (index = the benchmarks' "format" argument):
// the element formats and the quantised files people run (Q4_K_M and Q5_K_M are llama.cpp's
// mixes, core of most downloads).
inline constexpr const char* kBenchFormats[] = {"f32", "bf16", "f16", "q8_0", "q4_0",
                                                "q4_k_m", "q5_k_m", "q6_k"};
inline constexpr int kNumBenchFormats = 8;
const Transformer& Bench110MFormat(int format);

// A KV cache for `steps` decode steps whose memory has been written once, untimed: decode
// passes over it measure the steady state of an engine that reuses its KV blocks (as
// llama-bench reuses one context's KV buffer across repetitions), not the first-touch page
// faults of fresh memory (1-3 % of a 128-step pass of the 110M shape).
Result<PagedKvCache> WarmDecodeCache(const Transformer& m, const KernelContext& ctx, int steps);

// `steps` decode steps of one sequence (sequence 0 of `cache`, added and freed again) from a
// one-token prompt (token ids below 32000); an error stops the pass and is reported on `state`
// (model_bench.cc).
void DecodeSteps(const Transformer& m, const KernelContext& ctx, PagedKvCache& cache, int steps,
                 benchmark::State& state);

}  // namespace detinfer::bench

#endif  // DETINFER_BENCH_BENCH_MODEL_H_
