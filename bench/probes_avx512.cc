// avx512 instances of the machine probes (see probes.h and probe_loops.h).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "probe_loops.h"
#include "probes.h"

namespace detinfer::bench {

namespace {
struct Vec {
  using Reg = __m512;
  static constexpr int kLanes = 16;
  static Reg Zero() { return _mm512_setzero_ps(); }
  static Reg Load(const float* p) { return _mm512_load_ps(p); }
  static void Store(float* p, Reg v) { _mm512_store_ps(p, v); }
  static Reg Add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg Fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg Broadcast(float x) { return _mm512_set1_ps(x); }
};
}  // namespace

float ReadStreamAvx512(const float* p, size_t n) { return ReadStreamLoop<Vec>(p, n); }
void TriadAvx512(float* a, const float* b, const float* c, float s, size_t n) {
  TriadLoop<Vec>(a, b, c, s, n);
}
float StreamFmaAvx512(const float* p, size_t n) { return StreamFmaLoop<Vec>(p, n); }
float FmaPeakAvx512(int64_t iters) { return FmaPeakLoop<Vec>(iters); }

}  // namespace detinfer::bench
