// AVX2 path of the AttentionBackward primitives. The 16 canonical dot lanes are two ymm
// registers (lo = lanes 0-7, hi = lanes 8-15); each step consumes 16 elements. n is a multiple
// of 8, so the only tail is 8 elements, which land in lanes 0-7 (lo) exactly as in the scalar
// path; hi is left untouched, never fed padding.
#include <immintrin.h>

#include <cstdint>

#include "kernels/attention_backward_isa.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::attention_backward::avx2 {

float Dot(const float* a, const float* b, int64_t n) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  int64_t e = 0;
  for (; e + 16 <= n; e += 16) {
    lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + e), _mm256_loadu_ps(b + e), lo);
    hi = _mm256_fmadd_ps(_mm256_loadu_ps(a + e + 8), _mm256_loadu_ps(b + e + 8), hi);
  }
  if (e < n) lo = _mm256_fmadd_ps(_mm256_loadu_ps(a + e), _mm256_loadu_ps(b + e), lo);
  float p[16];
  _mm256_storeu_ps(p, lo);
  _mm256_storeu_ps(p + 8, hi);
  return reduce_tree::TreeSum16(p);
}

void Axpy(float alpha, const float* x, float* y, int64_t n) {
  const __m256 va = _mm256_set1_ps(alpha);
  for (int64_t e = 0; e < n; e += 8) {
    _mm256_storeu_ps(y + e, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + e), _mm256_loadu_ps(y + e)));
  }
}

void Scale(float s, float* y, int64_t n) {
  const __m256 vs = _mm256_set1_ps(s);
  for (int64_t e = 0; e < n; e += 8) {
    _mm256_storeu_ps(y + e, _mm256_mul_ps(_mm256_loadu_ps(y + e), vs));
  }
}

}  // namespace detinfer::kernels::attention_backward::avx2
