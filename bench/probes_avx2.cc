// avx2 instances of the machine probes (see probes.h and probe_loops.h).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "probe_loops.h"
#include "probes.h"

namespace detinfer::bench {

namespace {
struct Vec {
  using Reg = __m256;
  static constexpr int kLanes = 8;
  static Reg Zero() { return _mm256_setzero_ps(); }
  static Reg Load(const float* p) { return _mm256_load_ps(p); }
  static void Store(float* p, Reg v) { _mm256_store_ps(p, v); }
  static Reg Add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg Broadcast(float x) { return _mm256_set1_ps(x); }
};
}  // namespace

float ReadStreamAvx2(const float* p, size_t n) { return ReadStreamLoop<Vec>(p, n); }
void TriadAvx2(float* a, const float* b, const float* c, float s, size_t n) {
  TriadLoop<Vec>(a, b, c, s, n);
}
float StreamFmaAvx2(const float* p, size_t n) { return StreamFmaLoop<Vec>(p, n); }
float FmaPeakAvx2(int64_t iters) { return FmaPeakLoop<Vec>(iters); }

}  // namespace detinfer::bench
