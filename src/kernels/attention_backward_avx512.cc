// AVX-512 path of the AttentionBackward primitives. The 16 canonical dot lanes are one zmm
// register; n is a multiple of 8, so the only tail is 8 elements, fed to lanes 0-7 with a
// masked FMA (mask3: lanes 8-15 keep their accumulator, never fed padding), as in the scalar
// path. Axpy/Scale are elementwise, so their 8-element tail simply uses a ymm register.
#include <immintrin.h>

#include <cstdint>

#include "kernels/attention_backward_isa.h"
#include "kernels/simd/reduce_tree.h"

namespace detinfer::kernels::attention_backward::avx512 {

float Dot(const float* a, const float* b, int64_t n) {
  __m512 acc = _mm512_setzero_ps();
  int64_t e = 0;
  for (; e + 16 <= n; e += 16) {
    acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + e), _mm512_loadu_ps(b + e), acc);
  }
  if (e < n) {
    const __mmask16 m = static_cast<__mmask16>(0x00ff);
    acc = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(m, a + e), _mm512_maskz_loadu_ps(m, b + e),
                                acc, m);
  }
  float p[16];
  _mm512_storeu_ps(p, acc);
  return reduce_tree::TreeSum16(p);
}

void Axpy(float alpha, const float* x, float* y, int64_t n) {
  const __m512 va = _mm512_set1_ps(alpha);
  int64_t e = 0;
  for (; e + 16 <= n; e += 16) {
    _mm512_storeu_ps(y + e, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + e), _mm512_loadu_ps(y + e)));
  }
  if (e < n) {
    _mm256_storeu_ps(y + e, _mm256_fmadd_ps(_mm256_set1_ps(alpha), _mm256_loadu_ps(x + e),
                                            _mm256_loadu_ps(y + e)));
  }
}

void Scale(float s, float* y, int64_t n) {
  const __m512 vs = _mm512_set1_ps(s);
  int64_t e = 0;
  for (; e + 16 <= n; e += 16) _mm512_storeu_ps(y + e, _mm512_mul_ps(_mm512_loadu_ps(y + e), vs));
  if (e < n) _mm256_storeu_ps(y + e, _mm256_mul_ps(_mm256_loadu_ps(y + e), _mm256_set1_ps(s)));
}

}  // namespace detinfer::kernels::attention_backward::avx512
