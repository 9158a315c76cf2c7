// Attention throughput at Qwen3-8B head shapes (32 query heads, 8 KV heads, D = 128, bf16 K/V),
// 2 threads:
//   BM_AttentionDecode: one query per head against 4096 cached keys. Counter GB = K/V bytes read
//     per call (the figure to hold against read-stream bandwidth: decode attention is a stream).
//   BM_AttentionPrefill: causal prefill of S = 2048. Counter GFLOP = 4 * S*S/2 * D * Hq per call
//     (QK^T and PV, 2 flops per multiply-add, half the square visible).
#include <benchmark/benchmark.h>

#include <cstring>
#include <vector>

#include "bench_common.h"
#include "core/buffer.h"
#include "core/dtype.h"
#include "kernels/attention.h"

namespace detinfer::bench {

namespace {

constexpr int64_t kHq = 32, kHkv = 8, kD = 128;
constexpr size_t kColdBytes = size_t{256} << 20;

std::vector<uint16_t> Bf16Values(size_t n, int salt) {
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = static_cast<float>((i * 31 + static_cast<size_t>(salt)) % 113) * 0.01f - 0.56f;
  std::vector<uint16_t> h(n);
  ConvertFromF32(f.data(), DType::kBF16, h.data(), n);
  return h;
}

void BM_AttentionDecode(benchmark::State& state) {
  const int64_t s = state.range(0);
  const bool cold = state.range(1) != 0;
  const int threads = 2;
  const size_t kv_elems = static_cast<size_t>(s * kHkv * kD);
  const size_t kv_bytes = 2 * kv_elems * sizeof(uint16_t);
  // Enough K/V copies to overflow the last-level cache several times, so every call streams its
  // cache from DRAM as a real decode step (one layer of many) does. Each copy lives in an
  // AlignedBuffer, as PagedKvCache's storage does (2 MiB pages where the kernel grants them):
  // with 4 KiB pages the TLB misses of a 16 MiB stream would be the benchmark's own artefact.
  std::vector<AlignedBuffer> ks, vs;
  // (cold:0 keeps one copy, which stays in L3: the compute-bound figure.)
  const auto copy_of = [&](int salt) {
    const std::vector<uint16_t> values = Bf16Values(kv_elems, salt);
    AlignedBuffer b = AlignedBuffer::Allocate(values.size() * sizeof(uint16_t)).value();
    std::memcpy(b.data(), values.data(), values.size() * sizeof(uint16_t));
    return b;
  };
  for (size_t total = 0; total < (cold ? kColdBytes : 1); total += kv_bytes) {
    ks.push_back(copy_of(static_cast<int>(ks.size())));
    vs.push_back(copy_of(static_cast<int>(ks.size()) + 7));
  }
  std::vector<float> q(static_cast<size_t>(kHq * kD), 0.05f), out(q.size()), lse(kHq);
  AttentionSeq seq;
  seq.q_len = 1;
  seq.q_pos = s - 1;
  seq.kv_len = s;
  ThreadPool pool(threads);
  const KernelContext ctx{BenchIsa(), &pool};
  size_t next = 0;
  for (auto _ : state) {
    KvView kv;
    kv.k = TensorView::Contiguous(ks[next].as<uint16_t>(), DType::kBF16, {s, kHkv, kD});
    kv.v = TensorView::Contiguous(vs[next].as<uint16_t>(), DType::kBF16, {s, kHkv, kD});
    const Status st = Attention(ctx, TensorView::Contiguous(q.data(), DType::kF32, {1, kHq, kD}), kv,
                                std::span<const AttentionSeq>(&seq, 1), {},
                                TensorView::Contiguous(out.data(), DType::kF32, {1, kHq, kD}),
                                TensorView::Contiguous(lse.data(), DType::kF32, {1, kHq}));
    next = (next + 1) % ks.size();
    benchmark::DoNotOptimize(out.data());
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
  state.counters["GB"] = benchmark::Counter(static_cast<double>(kv_bytes) * 1e-9,
                                            benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = benchmark::Counter(4.0 * double(s) * kD * kHq * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

void BM_AttentionPrefill(benchmark::State& state) {
  const int64_t s = state.range(0);
  const int threads = 2;
  const size_t kv_elems = static_cast<size_t>(s * kHkv * kD);
  const std::vector<uint16_t> k = Bf16Values(kv_elems, 1), v = Bf16Values(kv_elems, 2);
  std::vector<float> q(static_cast<size_t>(s * kHq * kD));
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>(i % 101) * 0.01f - 0.5f;
  std::vector<float> out(q.size()), lse(static_cast<size_t>(s * kHq));
  AttentionSeq seq;
  seq.q_len = s;
  seq.kv_len = s;
  KvView kv;
  kv.k = TensorView::Contiguous(k.data(), DType::kBF16, {s, kHkv, kD});
  kv.v = TensorView::Contiguous(v.data(), DType::kBF16, {s, kHkv, kD});
  ThreadPool pool(threads);
  const KernelContext ctx{BenchIsa(), &pool};
  for (auto _ : state) {
    const Status st = Attention(ctx, TensorView::Contiguous(q.data(), DType::kF32, {s, kHq, kD}), kv,
                                std::span<const AttentionSeq>(&seq, 1), {},
                                TensorView::Contiguous(out.data(), DType::kF32, {s, kHq, kD}),
                                TensorView::Contiguous(lse.data(), DType::kF32, {s, kHq}));
    benchmark::DoNotOptimize(out.data());
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
  state.counters["GB"] = benchmark::Counter(2.0 * double(kv_elems) * sizeof(uint16_t) * 1e-9,
                                            benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = benchmark::Counter(4.0 * double(s) * double(s) / 2 * kD * kHq * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK(BM_AttentionDecode)->ArgNames({"S", "cold"})->Args({4096, 1})->Args({4096, 0})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionPrefill)->ArgName("S")->Arg(2048)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace detinfer::bench
