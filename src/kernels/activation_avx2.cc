// AVX2 SwiGLU and GeGLU (tanh): the sequences of activation.h on 8 lanes, with the same IEEE
// operations as the scalar code (kernels/math.h's TanhF included); the tail is one masked vector.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/activation_isa.h"
#include "kernels/simd/math_avx2.h"

namespace detinfer::kernels::avx2 {

namespace {

inline __m256 SwiGlu8(__m256 a, __m256 u) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 e = avx2_math::Exp8(_mm256_xor_ps(a, sign));  // -a: exact sign flip
  const __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), e);
  __m256 s = _mm256_div_ps(a, den);
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  s = _mm256_blendv_ps(s, sign, _mm256_cmp_ps(a, neg_inf, _CMP_EQ_OQ));
  const __m256 v = _mm256_mul_ps(s, u);
  const __m256 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
  return _mm256_blendv_ps(v, qnan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

inline __m256 GeGlu8(__m256 a, __m256 u) {
  const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(a, a), a);
  const __m256 inner = _mm256_mul_ps(
      _mm256_set1_ps(0.7978845608f),
      _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(0.044715f), x3)));
  const __m256 t = avx2_math::Tanh8(inner);
  __m256 g = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), a),
                           _mm256_add_ps(_mm256_set1_ps(1.0f), t));
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  g = _mm256_blendv_ps(g, _mm256_set1_ps(-0.0f), _mm256_cmp_ps(a, neg_inf, _CMP_EQ_OQ));
  const __m256 v = _mm256_mul_ps(g, u);
  const __m256 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
  return _mm256_blendv_ps(v, qnan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

template <__m256 (*Op)(__m256, __m256)>
void GatedRows8(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                float* out, int64_t out_stride, int64_t f, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* g = gate + r * gate_stride;
    const float* u = up + r * up_stride;
    float* o = out + r * out_stride;
    int64_t i = 0;
    for (; i + 8 <= f; i += 8) {
      _mm256_storeu_ps(o + i, Op(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    }
    if (i < f) {
      const __m256i mask = avx2_math::TailMask8(f - i);
      _mm256_maskstore_ps(o + i, mask, Op(_mm256_maskload_ps(g + i, mask),
                                          _mm256_maskload_ps(u + i, mask)));
    }
  }
}

}  // namespace

void GeGluTanhRows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                   float* out, int64_t out_stride, int64_t f, int64_t rows) {
  GatedRows8<GeGlu8>(gate, gate_stride, up, up_stride, out, out_stride, f, rows);
}

void SwiGluRows(const float* gate, int64_t gate_stride, const float* up, int64_t up_stride,
                float* out, int64_t out_stride, int64_t f, int64_t rows) {
  GatedRows8<SwiGlu8>(gate, gate_stride, up, up_stride, out, out_stride, f, rows);
}

}  // namespace detinfer::kernels::avx2
