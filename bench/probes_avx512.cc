// avx512 versions of the machine probes (see probes.h).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "probes.h"

namespace detinfer::bench {

namespace {
float HorizontalSum(__m512 v) {
  alignas(64) float t[16];
  _mm512_store_ps(t, v);
  float s = 0;
  for (int i = 0; i < 16; ++i) s += t[i];
  return s;
}
}  // namespace

float ReadStreamAvx512(const float* p, size_t n) {
  // Eight streams at once, one per accumulator (lane group j reads the j-th eighth of the
  // range): a single sequential stream per core leaves DRAM bandwidth unused on this machine,
  // and the kernels being compared (matmul panels, K/V blocks) read several streams too.
  const size_t part = n / 8;
  const float* s0 = p;
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (size_t i = 0; i < part; i += 16) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(s0 + i + 0 * part));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(s0 + i + 1 * part));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(s0 + i + 2 * part));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(s0 + i + 3 * part));
    a4 = _mm512_add_ps(a4, _mm512_load_ps(s0 + i + 4 * part));
    a5 = _mm512_add_ps(a5, _mm512_load_ps(s0 + i + 5 * part));
    a6 = _mm512_add_ps(a6, _mm512_load_ps(s0 + i + 6 * part));
    a7 = _mm512_add_ps(a7, _mm512_load_ps(s0 + i + 7 * part));
  }
  a0 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                  _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  return HorizontalSum(a0);
}

void TriadAvx512(float* a, const float* b, const float* c, float s, size_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  for (size_t i = 0; i < n; i += 16) {
    _mm512_store_ps(a + i, _mm512_fmadd_ps(vs, _mm512_load_ps(c + i), _mm512_load_ps(b + i)));
  }
}

float FmaPeakAvx512(int64_t iters) {
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  __m512 x[12];
  for (int j = 0; j < 12; ++j) x[j] = _mm512_set1_ps(1.0f + 0.01f * static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) x[j] = _mm512_fmadd_ps(x[j], m, c);
  }
  __m512 s = x[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_ps(s, x[j]);
  return HorizontalSum(s);
}

}  // namespace detinfer::bench
