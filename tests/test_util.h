// Shared helpers for detinfer's tests: ISA paths, thread pools, seeded data, bit comparison.
#ifndef DETINFER_TESTS_TEST_UTIL_H_
#define DETINFER_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/isa.h"
#include "core/thread_pool.h"
#include "kernels/context.h"
#include "kernels/cpu_tuning.h"

namespace detinfer::testing {

// Every ISA path this machine can run. Paths it cannot run are reported once on stderr, so a
// reader of the log sees what was not covered (they are not silently skipped).
inline std::vector<Isa> TestableIsas() {
  const CpuFeatures cpu = DetectCpuFeatures();
  static bool reported = false;
  if (!reported) {
    reported = true;
    for (Isa isa : kAllIsas) {
      if (!IsaSupported(isa, cpu)) {
        std::fprintf(stderr, "[detinfer] NOTE: ISA path %s not available on this CPU; "
                             "not covered by this run\n", std::string(IsaName(isa)).c_str());
      }
    }
  }
  return SupportedIsas(cpu);
}

inline std::string IsaString(Isa isa) { return std::string(IsaName(isa)); }

// A context with `threads` threads (the pool is owned by the returned holder).
struct ContextHolder {
  std::unique_ptr<ThreadPool> pool;
  KernelContext ctx;
};
inline ContextHolder MakeContext(Isa isa, int threads) {
  ContextHolder h;
  if (threads > 1) h.pool = std::make_unique<ThreadPool>(threads);
  h.ctx.isa = isa;
  h.ctx.pool = h.pool.get();
  return h;
}

// The speed choices of each CPU (kernels/cpu_tuning.h): AMD's, Intel's, and Intel's with
// prefetches that run far past the weights. Tests pass each to kernels::MatmulTuned, so every
// machine runs every vendor's loops and prefetching tiles, whatever it would choose itself.
inline std::vector<kernels::CpuTuning> EveryCpusTuning() {
  CpuFeatures intel, amd;
  intel.vendor = "GenuineIntel";
  amd.vendor = "AuthenticAMD";
  kernels::CpuTuning far = kernels::TuningFor(intel);
  far.quant_decode_prefetch = far.half_decode_prefetch = size_t{1} << 20;
  return {kernels::TuningFor(amd), kernels::TuningFor(intel), far};
}

// Seeded uniform floats in [lo, hi).
inline std::vector<float> RandomFloats(size_t n, uint64_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Bitwise equality of two float arrays; on failure names the first differing index and both
// values with their bit patterns.
inline ::testing::AssertionResult BitsEqual(const float* a, const float* b, size_t n) {
  if (n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0) return ::testing::AssertionSuccess();
  for (size_t i = 0; i < n; ++i) {
    if (Bits(a[i]) != Bits(b[i])) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "first difference at index %zu: %.9g (0x%08x) vs %.9g (0x%08x)",
                    i, static_cast<double>(a[i]), Bits(a[i]), static_cast<double>(b[i]),
                    Bits(b[i]));
      return ::testing::AssertionFailure() << buf;
    }
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult BitsEqual(const std::vector<float>& a,
                                            const std::vector<float>& b) {
  if (a.size() != b.size()) {
    return ::testing::AssertionFailure() << "sizes differ: " << a.size() << " vs " << b.size();
  }
  return BitsEqual(a.data(), b.data(), a.size());
}

// Distance in units in the last place between two finite floats of the same sign convention
// (ordered-integer mapping), for accuracy measurements.
inline int64_t UlpDistance(float a, float b) {
  auto ordered = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? static_cast<int64_t>(INT32_MIN) - i : static_cast<int64_t>(i);
  };
  const int64_t d = ordered(a) - ordered(b);
  return d < 0 ? -d : d;
}

// Max |got - want| / max(peak |want|, tiny): the accuracy measure used against fp64 oracles.
inline double MaxErrorRelativeToPeak(const float* got, const double* want, size_t n) {
  double peak = 0, err = 0;
  for (size_t i = 0; i < n; ++i) peak = std::fmax(peak, std::fabs(want[i]));
  for (size_t i = 0; i < n; ++i) err = std::fmax(err, std::fabs(static_cast<double>(got[i]) - want[i]));
  return err / std::fmax(peak, 1e-30);
}

}  // namespace detinfer::testing

#endif  // DETINFER_TESTS_TEST_UTIL_H_
