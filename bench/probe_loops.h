// The machine-probe loops, written once over a vector-traits type V (lanes, load, store, add,
// fma, broadcast) and instantiated by probes_avx2.cc and probes_avx512.cc. Everything here has
// internal linkage (anonymous namespace): it is compiled into per-ISA files (cmake/Flags.cmake).
#ifndef DETINFER_BENCH_PROBE_LOOPS_H_
#define DETINFER_BENCH_PROBE_LOOPS_H_

#include <cstddef>
#include <cstdint>

namespace detinfer::bench {
namespace {

template <typename V>
float HorizontalSum(typename V::Reg v) {
  alignas(64) float t[V::kLanes];
  V::Store(t, v);
  float s = 0;
  for (int i = 0; i < V::kLanes; ++i) s += t[i];
  return s;
}

// Eight streams at once, one per accumulator (accumulator j reads the j-th eighth of the
// range): a single sequential stream per core leaves DRAM bandwidth unused on this machine,
// and the kernels being compared (matmul panels, K/V blocks) read several streams too.
template <typename V>
float ReadStreamLoop(const float* p, size_t n) {
  const size_t part = n / 8;
  typename V::Reg a[8];
  for (auto& x : a) x = V::Zero();
  for (size_t i = 0; i < part; i += V::kLanes) {
#pragma GCC unroll 8
    for (size_t j = 0; j < 8; ++j) a[j] = V::Add(a[j], V::Load(p + i + j * part));
  }
  return HorizontalSum<V>(V::Add(V::Add(V::Add(a[0], a[1]), V::Add(a[2], a[3])),
                                 V::Add(V::Add(a[4], a[5]), V::Add(a[6], a[7]))));
}

// ReadStreamLoop with arithmetic: every 64 bytes loaded feed 8 fp32 FMAs over 16 lanes (the
// ratio of decode attention with bf16 K/V and four query heads per kv head: each K or V element
// is multiplied by four queries). 8 accumulators, so the FMAs are throughput-bound. Its GB/s,
// next to the plain read stream, is how much of the bandwidth a kernel with that much
// arithmetic per byte can keep when loads and FMAs overlap perfectly.
template <typename V>
float StreamFmaLoop(const float* p, size_t n) {
  constexpr int kFmaPerLoad = 8 * V::kLanes / 16;  // 8 per 64 bytes
  const size_t part = n / 8;
  typename V::Reg a[8], w[kFmaPerLoad];
  for (auto& x : a) x = V::Zero();
  for (int k = 0; k < kFmaPerLoad; ++k) w[k] = V::Broadcast(0.5f + 0.01f * static_cast<float>(k));
  for (size_t i = 0; i < part; i += V::kLanes) {
#pragma GCC unroll 8
    for (size_t j = 0; j < 8; ++j) {
      const typename V::Reg x = V::Load(p + i + j * part);
#pragma GCC unroll 8
      for (int k = 0; k < kFmaPerLoad; ++k) a[(j + static_cast<size_t>(k)) % 8] = V::Fma(x, w[k], a[(j + static_cast<size_t>(k)) % 8]);
    }
  }
  return HorizontalSum<V>(V::Add(V::Add(V::Add(a[0], a[1]), V::Add(a[2], a[3])),
                                 V::Add(V::Add(a[4], a[5]), V::Add(a[6], a[7]))));
}

// a[i] = b[i] + s * c[i] (the STREAM triad).
template <typename V>
void TriadLoop(float* a, const float* b, const float* c, float s, size_t n) {
  const typename V::Reg vs = V::Broadcast(s);
  for (size_t i = 0; i < n; i += V::kLanes) V::Store(a + i, V::Fma(vs, V::Load(c + i), V::Load(b + i)));
}

// 12 independent FMA chains: enough to cover the FMA latency on every x86 core.
template <typename V>
float FmaPeakLoop(int64_t iters) {
  const typename V::Reg m = V::Broadcast(0.999999f), c = V::Broadcast(1e-7f);
  typename V::Reg x[12];
  for (int j = 0; j < 12; ++j) x[j] = V::Broadcast(1.0f + 0.01f * static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) x[j] = V::Fma(x[j], m, c);
  }
  typename V::Reg s = x[0];
  for (int j = 1; j < 12; ++j) s = V::Add(s, x[j]);
  return HorizontalSum<V>(s);
}

}  // namespace
}  // namespace detinfer::bench

#endif  // DETINFER_BENCH_PROBE_LOOPS_H_
