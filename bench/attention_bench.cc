// Attention throughput at Qwen3-8B head shapes (32 query heads, 8 KV heads, D = 128, bf16 K/V),
// 2 threads, with K/V in the KV cache's layout (tiled:1, KvLayout::kPagedTiled, blocks of 16 in
// ascending order) or contiguous [S, Hkv, D] (tiled:0):
//   BM_AttentionDecode: one query per head against 4096 cached keys. Counter GB = K/V bytes read
//     per call (the figure to hold against read-stream bandwidth: decode attention is a stream).
//   BM_AttentionDecodeWindow: the same decode with a sliding window (S = 1k, 4k, 16k; window 512
//     and none), whose time should not grow with S.
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

// tiled: 0 = contiguous [S, Hkv, D] K/V; 1 = KvLayout::kPagedTiled with blocks of 16 positions
// (the engine's default block size) in ascending order, as a fresh PagedKvCache gives one
// sequence.
constexpr int64_t kBlock = 16;

// One K or V buffer in the benchmark's layout, from position-major values [S, Hkv, D].
AlignedBuffer Arrange(const std::vector<uint16_t>& values, int64_t s, bool tiled, bool key) {
  AlignedBuffer b = AlignedBuffer::Allocate(values.size() * sizeof(uint16_t)).value();
  uint16_t* dst = b.as<uint16_t>();
  if (!tiled) {
    std::memcpy(dst, values.data(), values.size() * sizeof(uint16_t));
    return b;
  }
  for (int64_t t = 0; t < s; ++t) {
    for (int64_t g = 0; g < kHkv; ++g) {
      for (int64_t d = 0; d < kD; ++d) {
        const uint16_t x = values[static_cast<size_t>((t * kHkv + g) * kD + d)];
        // key: [Hkv, S/16, D, 16]; value: [Hkv, S, D] (blocks in order).
        const int64_t at = key ? ((g * (s / 16) + t / 16) * kD + d) * 16 + t % 16 : (g * s + t) * kD + d;
        dst[at] = x;
      }
    }
  }
  return b;
}

KvView MakeKv(const AlignedBuffer& k, const AlignedBuffer& v, int64_t s, bool tiled) {
  KvView kv;
  if (!tiled) {
    kv.k = TensorView::Contiguous(k.as<uint16_t>(), DType::kBF16, {s, kHkv, kD});
    kv.v = TensorView::Contiguous(v.as<uint16_t>(), DType::kBF16, {s, kHkv, kD});
  } else {
    kv.layout = KvLayout::kPagedTiled;
    kv.k = TensorView::Contiguous(k.as<uint16_t>(), DType::kBF16, {kHkv, s / 16, kD, 16});
    kv.v = TensorView::Contiguous(v.as<uint16_t>(), DType::kBF16, {kHkv, s / kBlock, kBlock, kD});
  }
  return kv;
}

std::vector<int32_t> InOrderBlocks(int64_t s) {
  std::vector<int32_t> blocks(static_cast<size_t>(s / kBlock));
  for (size_t i = 0; i < blocks.size(); ++i) blocks[i] = static_cast<int32_t>(i);
  return blocks;
}

// One decode step: a query per head at position s - 1 over s cached keys, in the KV cache's
// block order when `tiled`; each call's error is reported on `state`.
struct DecodeQuery {
  std::vector<float> q = std::vector<float>(static_cast<size_t>(kHq * kD), 0.05f);
  std::vector<float> out = q, lse = std::vector<float>(kHq);
  std::vector<int32_t> blocks;
  AttentionSeq seq;
  DecodeQuery(int64_t s, bool tiled) {
    seq.q_len = 1;
    seq.q_pos = s - 1;
    seq.kv_len = s;
    if (tiled) {
      blocks = InOrderBlocks(s);
      seq.blocks = blocks;
    }
  }
  void Run(const KernelContext& ctx, const KvView& kv, const AttentionOptions& opts,
           benchmark::State& state) {
    const Status st = Attention(ctx, TensorView::Contiguous(q.data(), DType::kF32, {1, kHq, kD}), kv,
                                std::span<const AttentionSeq>(&seq, 1), opts,
                                TensorView::Contiguous(out.data(), DType::kF32, {1, kHq, kD}),
                                TensorView::Contiguous(lse.data(), DType::kF32, {1, kHq}));
    benchmark::DoNotOptimize(out.data());
    if (!st.ok()) state.SkipWithError(st.ToString().c_str());
  }
};

void BM_AttentionDecode(benchmark::State& state) {
  const int64_t s = state.range(0);
  const bool cold = state.range(1) != 0;
  const bool tiled = state.range(2) != 0;
  const int threads = 2;
  const size_t kv_elems = static_cast<size_t>(s * kHkv * kD);
  const size_t kv_bytes = 2 * kv_elems * sizeof(uint16_t);
  // Enough K/V copies to overflow the last-level cache several times, so every call streams its
  // cache from DRAM as a real decode step (one layer of many) does. Each copy lives in an
  // AlignedBuffer, as PagedKvCache's storage does (2 MiB pages where the kernel grants them):
  // with 4 KiB pages the TLB misses of a 16 MiB stream would be the benchmark's own artefact.
  std::vector<AlignedBuffer> ks, vs;
  // (cold:0 keeps one copy, which stays in L3: the compute-bound figure.)
  for (size_t total = 0; total < (cold ? kColdBytes : 1); total += kv_bytes) {
    ks.push_back(Arrange(Bf16Values(kv_elems, static_cast<int>(ks.size())), s, tiled, true));
    vs.push_back(Arrange(Bf16Values(kv_elems, static_cast<int>(ks.size()) + 7), s, tiled, false));
  }
  DecodeQuery query(s, tiled);
  ThreadPool pool(threads);
  const KernelContext ctx{BenchIsa(), &pool};
  size_t next = 0;
  for (auto _ : state) {
    query.Run(ctx, MakeKv(ks[next], vs[next], s, tiled), {}, state);
    next = (next + 1) % ks.size();
  }
  state.counters["GB"] = benchmark::Counter(static_cast<double>(kv_bytes) * 1e-9,
                                            benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP"] = benchmark::Counter(4.0 * double(s) * kD * kHq * 1e-9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// Decode with a sliding window of 512 (Mistral, Gemma's local layers) against S cached keys in
// the KV cache's layout: the query visits only its window's keys, so the time should stay flat as
// S grows (issue #18). One copy of K/V (the window's 2 MiB stays in cache, as in a real decode
// step that reads it every layer).
void BM_AttentionDecodeWindow(benchmark::State& state) {
  const int64_t s = state.range(0), window = state.range(1);
  const size_t kv_elems = static_cast<size_t>(s * kHkv * kD);
  const AlignedBuffer k = Arrange(Bf16Values(kv_elems, 1), s, true, true);
  const AlignedBuffer v = Arrange(Bf16Values(kv_elems, 8), s, true, false);
  DecodeQuery query(s, true);
  AttentionOptions opts;
  opts.window = window;
  ThreadPool pool(2);
  const KernelContext ctx{BenchIsa(), &pool};
  for (auto _ : state) query.Run(ctx, MakeKv(k, v, s, true), opts, state);
  state.counters["calls"] = benchmark::Counter(1.0, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_AttentionPrefill(benchmark::State& state) {
  const int64_t s = state.range(0);
  const bool tiled = state.range(1) != 0;
  const int threads = 2;
  const size_t kv_elems = static_cast<size_t>(s * kHkv * kD);
  const AlignedBuffer k = Arrange(Bf16Values(kv_elems, 1), s, tiled, true);
  const AlignedBuffer v = Arrange(Bf16Values(kv_elems, 2), s, tiled, false);
  const std::vector<int32_t> blocks = InOrderBlocks(s);
  std::vector<float> q(static_cast<size_t>(s * kHq * kD));
  for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>(i % 101) * 0.01f - 0.5f;
  std::vector<float> out(q.size()), lse(static_cast<size_t>(s * kHq));
  AttentionSeq seq;
  seq.q_len = s;
  seq.kv_len = s;
  if (tiled) seq.blocks = blocks;
  const KvView kv = MakeKv(k, v, s, tiled);
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

BENCHMARK(BM_AttentionDecode)->ArgNames({"S", "cold", "tiled"})->ArgsProduct({{4096}, {1, 0}, {1, 0}})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionDecodeWindow)->ArgNames({"S", "window"})->ArgsProduct({{1024, 4096, 16384}, {512, 0}})->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AttentionPrefill)->ArgNames({"S", "tiled"})->ArgsProduct({{2048}, {1, 0}})->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace detinfer::bench
