// avx2 versions of the machine probes (see probes.h).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "probes.h"

namespace detinfer::bench {

namespace {
float HorizontalSum(__m256 v) {
  alignas(64) float t[8];
  _mm256_store_ps(t, v);
  float s = 0;
  for (int i = 0; i < 8; ++i) s += t[i];
  return s;
}
}  // namespace

float ReadStreamAvx2(const float* p, size_t n) {
  // Eight streams at once, one per accumulator (lane group j reads the j-th eighth of the
  // range): a single sequential stream per core leaves DRAM bandwidth unused on this machine,
  // and the kernels being compared (matmul panels, K/V blocks) read several streams too.
  const size_t part = n / 8;
  const float* s0 = p;
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
  for (size_t i = 0; i < part; i += 8) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(s0 + i + 0 * part));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(s0 + i + 1 * part));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(s0 + i + 2 * part));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(s0 + i + 3 * part));
    a4 = _mm256_add_ps(a4, _mm256_load_ps(s0 + i + 4 * part));
    a5 = _mm256_add_ps(a5, _mm256_load_ps(s0 + i + 5 * part));
    a6 = _mm256_add_ps(a6, _mm256_load_ps(s0 + i + 6 * part));
    a7 = _mm256_add_ps(a7, _mm256_load_ps(s0 + i + 7 * part));
  }
  a0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                  _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
  return HorizontalSum(a0);
}

void TriadAvx2(float* a, const float* b, const float* c, float s, size_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  for (size_t i = 0; i < n; i += 8) {
    _mm256_store_ps(a + i, _mm256_fmadd_ps(vs, _mm256_load_ps(c + i), _mm256_load_ps(b + i)));
  }
}

float FmaPeakAvx2(int64_t iters) {
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  __m256 x[12];
  for (int j = 0; j < 12; ++j) x[j] = _mm256_set1_ps(1.0f + 0.01f * static_cast<float>(j));
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) x[j] = _mm256_fmadd_ps(x[j], m, c);
  }
  __m256 s = x[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, x[j]);
  return HorizontalSum(s);
}

}  // namespace detinfer::bench
