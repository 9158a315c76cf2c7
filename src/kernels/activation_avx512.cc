// AVX-512 SwiGLU and GeGLU (tanh): the sequences of activation.h on 16 lanes, with the same
// IEEE operations as the scalar code (kernels/math.h's TanhF included); the tail is one masked
// vector.
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

inline __m512 GeGlu16(__m512 a, __m512 u) {
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(a, a), a);
  const __m512 inner = _mm512_mul_ps(
      _mm512_set1_ps(0.7978845608f),
      _mm512_add_ps(a, _mm512_mul_ps(_mm512_set1_ps(0.044715f), x3)));
  const __m512 t = avx512_math::Tanh16(inner);
  __m512 g = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), a),
                           _mm512_add_ps(_mm512_set1_ps(1.0f), t));
  const __mmask16 a_neg_inf = _mm512_cmp_ps_mask(a, _mm512_set1_ps(-__builtin_inff()), _CMP_EQ_OQ);
  g = _mm512_mask_mov_ps(g, a_neg_inf, _mm512_set1_ps(-0.0f));
  const __m512 v = _mm512_mul_ps(g, u);
  const __mmask16 is_nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  return _mm512_mask_mov_ps(v, is_nan, _mm512_castsi512_ps(_mm512_set1_epi32(0x7fc00000)));
}

template <__m512 (*Op)(__m512, __m512)>
void GatedRows16(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                 float* out, int64_t out_stride, int64_t f, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate + r * gate_stride;
    const float* u = up + r * up_stride;
    float* o = out + r * out_stride;
    int64_t i = 0;
    for (; i + 16 <= f; i += 16) {
      _mm512_storeu_ps(o + i, Op(_mm512_loadu_ps(g + i), _mm512_loadu_ps(u + i)));
    }
    if (i < f) {
      const __mmask16 mask = avx512_math::TailMask16(f - i);
      _mm512_mask_storeu_ps(o + i, mask, Op(_mm512_maskz_loadu_ps(mask, g + i),
                                            _mm512_maskz_loadu_ps(mask, u + i)));
    }
  }
}

}  // namespace

void GeGluTanhRows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                   float* out, int64_t out_stride, int64_t f, int64_t rows) {
  GatedRows16<GeGlu16>(gate, gate_stride, up, up_stride, out, out_stride, f, rows);
}

void SwiGluRows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                float* out, int64_t out_stride, int64_t f, int64_t rows) {
  GatedRows16<SwiGlu16>(gate, gate_stride, up, up_stride, out, out_stride, f, rows);
}

}  // namespace detinfer::kernels::avx512
