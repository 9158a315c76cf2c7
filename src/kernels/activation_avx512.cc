// AVX-512 SwiGLU: the sequence of activation.h on 16 lanes; the tail is one masked vector.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/activation_isa.h"
#include "kernels/simd/math_avx512.h"

namespace detinfer::kernels::avx512 {

namespace {

inline __m512 SwiGlu16(__m512 a, __m512 u) {
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  // -a: an exact sign flip (integer xor: AVX-512F has no float xor without DQ).
  const __m512 neg_a = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), sign));
  const __m512 e = avx512_math::Exp16(neg_a);
  const __m512 den = _mm512_add_ps(_mm512_set1_ps(1.0f), e);
  __m512 s = _mm512_div_ps(a, den);
  const __mmask16 a_neg_inf = _mm512_cmp_ps_mask(a, _mm512_set1_ps(-__builtin_inff()), _CMP_EQ_OQ);
  s = _mm512_mask_mov_ps(s, a_neg_inf, _mm512_castsi512_ps(sign));
  const __m512 v = _mm512_mul_ps(s, u);
  const __mmask16 is_nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(v, is_nan, _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)));
}

}  // namespace

void SwiGluRows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                float* out, int64_t out_stride, int64_t f, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate + r * gate_stride;
    const float* u = up + r * up_stride;
    float* o = out + r * out_stride;
    int64_t i = 0;
    for (; i + 16 <= f; i += 16) {
      _mm512_storeu_ps(o + i, SwiGlu16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(u + i)));
    }
    if (i < f) {
      const __mmask16 mask = avx512_math::TailMask16(f - i);
      _mm512_mask_storeu_ps(o + i, mask, SwiGlu16(_mm512_maskz_loadu_ps(mask, g + i),
                                                  _mm512_maskz_loadu_ps(mask, u + i)));
    }
  }
}

}  // namespace detinfer::kernels::avx512
