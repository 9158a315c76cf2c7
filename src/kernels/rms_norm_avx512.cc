// RMSNorm, AVX-512 path. The 16 canonical reduction lanes are exactly one zmm register.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/rms_norm_isa.h"

namespace detinfer::kernels::avx512 {

namespace {

// GCC 12 reports -Wmaybe-uninitialized inside the plain forms of some AVX-512 intrinsics
// (_mm512_cvtph_ps, _mm512_cvtepu16_epi32, _mm512_slli_epi32, _mm512_extractf64x4_pd build on
// _mm512_undefined_*), so this file uses their zero-masked forms with an all-ones mask, which
// are the same instructions and the same bits.
constexpr __mmask16 kAll16 = static_cast<__mmask16>(0xffff);

inline __mmask16 TailMask(int64_t n) {  // lanes [0, n) for 0 < n < 16
  return static_cast<__mmask16>((1u << n) - 1u);
}

// Loads up to 16 weights (lanes outside `m` read as 0 and are never stored) widened to f32.
// bf16 -> f32 is a 16-bit left shift; f16 -> f32 is vcvtph2ps; both exact.
inline __m512 LoadWeights(const void* w, DType dtype, int64_t i, __mmask16 m) {
  if (dtype == DType::kF32) return _mm512_maskz_loadu_ps(m, static_cast<const float*>(w) + i);
  const __m256i h = _mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(w) + i);
  if (dtype == DType::kF16) return _mm512_maskz_cvtph_ps(kAll16, h);
  const __m512i wide = _mm512_maskz_cvtepu16_epi32(kAll16, h);
  return _mm512_castsi512_ps(_mm512_maskz_slli_epi32(kAll16, wide, 16));
}

// The canonical tree: p[j]+p[j+8], then +4, +2, +1 (reduction_order.h), lower half first.
inline float ReduceCanonical(__m512 p) {
  // (_mm512_castps512_ps256 is itself built on the plain extract in GCC 12, hence both.)
  const __m256 lo = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xf, _mm512_castps_pd(p), 0));
  const __m256 hi = _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xf, _mm512_castps_pd(p), 1));
  const __m256 s8 = _mm256_add_ps(lo, hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

float SumOfSquares(const float* x, int64_t d) {
  __m512 acc = _mm512_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    acc = _mm512_fmadd_ps(v, v, acc);
  }
  if (i < d) {
    // Lanes past the end keep their partial untouched (mask3 returns acc there), as the
    // canonical order requires; they are not fed a padding zero.
    const __mmask16 m = TailMask(d - i);
    const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
    acc = _mm512_mask3_fmadd_ps(v, v, acc, m);
  }
  return ReduceCanonical(acc);
}

}  // namespace

void RmsNormRows(const float* x, int64_t x_stride, const void* weight, DType weight_dtype,
                 int64_t d, float eps, float* out, int64_t out_stride, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* yr = out + r * out_stride;
    const float mean = SumOfSquares(xr, d) / static_cast<float>(d);
    const float inv = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean + eps)));
    const __m512 vinv = _mm512_set1_ps(inv);
    int64_t i = 0;
    for (; i + 16 <= d; i += 16) {
      const __m512 w = LoadWeights(weight, weight_dtype, i, kAll16);
      const __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(xr + i), vinv), w);
      _mm512_storeu_ps(yr + i, y);
    }
    if (i < d) {
      const __mmask16 m = TailMask(d - i);
      const __m512 w = LoadWeights(weight, weight_dtype, i, m);
      const __m512 y = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, xr + i), vinv), w);
      _mm512_mask_storeu_ps(yr + i, m, y);
    }
  }
}

}  // namespace detinfer::kernels::avx512
