// Machine probes as benchmarks: read-stream bandwidth, triad bandwidth, fp32 FMA peak, each
// at the thread count the kernels use, on the best ISA path of this CPU.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstring>

#include "bench_common.h"
#include "core/buffer.h"
#include "probes.h"

namespace detinfer::bench {

namespace {

constexpr size_t kStreamBytes = size_t{512} << 20;  // far beyond the 32 MiB L3

// One pass over buf[0, bytes) in 64 equal slices (each thread claims whole slices); fma: each
// 64 bytes also feed 8 FMAs (StreamFmaLoop).
void ReadPass(ThreadPool& pool, const AlignedBuffer& buf, size_t bytes, bool fma) {
  const bool avx512 = BenchIsa() == Isa::kAvx512 || BenchIsa() == Isa::kAvx512Bf16;
  const int64_t chunks = 64;
  const size_t per = bytes / sizeof(float) / chunks;
  pool.ParallelFor(chunks, [&](int64_t c) {
    const float* p = buf.as<float>() + static_cast<size_t>(c) * per;
    const float s = fma ? (avx512 ? StreamFmaAvx512(p, per) : StreamFmaAvx2(p, per))
                        : (avx512 ? ReadStreamAvx512(p, per) : ReadStreamAvx2(p, per));
    benchmark::DoNotOptimize(s);
  });
}

// fma: 0 = plain read stream; 1 = each 64 bytes also feed 8 FMAs.
void BM_ProbeReadBandwidth(benchmark::State& state) {
  const bool fma = state.range(1) != 0;
  const int threads = static_cast<int>(state.range(0));
  auto buf = AlignedBuffer::Allocate(kStreamBytes);
  std::memset(buf->data(), 1, kStreamBytes);
  ThreadPool pool(threads);
  for (auto _ : state) ReadPass(pool, *buf, kStreamBytes, fma);
  state.counters["GB"] = benchmark::Counter(static_cast<double>(kStreamBytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ProbeTriadBandwidth(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const bool avx512 = BenchIsa() == Isa::kAvx512 || BenchIsa() == Isa::kAvx512Bf16;
  const size_t bytes = kStreamBytes / 4;
  auto a = AlignedBuffer::Allocate(bytes), b = AlignedBuffer::Allocate(bytes),
       c = AlignedBuffer::Allocate(bytes);
  std::memset(b->data(), 1, bytes);
  std::memset(c->data(), 1, bytes);
  const size_t n = bytes / sizeof(float);
  ThreadPool pool(threads);
  const int64_t chunks = 64;
  const size_t per = n / chunks;
  for (auto _ : state) {
    pool.ParallelFor(chunks, [&](int64_t ch) {
      const size_t off = static_cast<size_t>(ch) * per;
      if (avx512) {
        TriadAvx512(a->as<float>() + off, b->as<float>() + off, c->as<float>() + off, 3.f, per);
      } else {
        TriadAvx2(a->as<float>() + off, b->as<float>() + off, c->as<float>() + off, 3.f, per);
      }
    });
    benchmark::ClobberMemory();
  }
  // STREAM's convention: two arrays read, one written.
  state.counters["GB"] = benchmark::Counter(3.0 * static_cast<double>(bytes) * 1e-9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ProbeFmaPeak(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  const bool avx512 = BenchIsa() == Isa::kAvx512 || BenchIsa() == Isa::kAvx512Bf16;
  const int64_t iters = 1 << 22;
  ThreadPool pool(threads);
  for (auto _ : state) {
    pool.ParallelFor(threads, [&](int64_t) {
      const float s = avx512 ? FmaPeakAvx512(iters) : FmaPeakAvx2(iters);
      benchmark::DoNotOptimize(s);
    });
  }
  const double lanes = avx512 ? 16 : 8;
  state.counters["GFLOP"] = benchmark::Counter(2.0 * lanes * 12 * iters * threads * 1e-9,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

double ReadProbeGbs(ThreadPool& pool, int rounds) {
  constexpr size_t kBytes = size_t{256} << 20;  // 8x the L3: every pass comes from DRAM
  static const AlignedBuffer buf = [] {
    AlignedBuffer b = AlignedBuffer::Allocate(kBytes).value();
    std::memset(b.data(), 1, kBytes);
    return b;
  }();
  ReadPass(pool, buf, kBytes, false);  // warm-up: page tables, the pool's threads
  const auto t0 = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) ReadPass(pool, buf, kBytes, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s > 0 ? double(kBytes) * rounds * 1e-9 / s : 0.0;
}

BENCHMARK(BM_ProbeReadBandwidth)->ArgNames({"threads", "fma"})->Args({1, 0})->Args({2, 0})->Args({2, 1})->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProbeTriadBandwidth)->ArgName("threads")->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ProbeFmaPeak)->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace detinfer::bench
