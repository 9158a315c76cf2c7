// RMSNorm, AVX2 path. The 16 canonical reduction lanes are two ymm registers: lanes 0-7 and
// lanes 8-15 (reduction_order.h).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/rms_norm_isa.h"

namespace detinfer::kernels::avx2 {

namespace {

// All-ones in lanes [0, n), for 0 <= n <= 8.
inline __m256i LaneMask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Accumulates x[0..n) (n <= 8) into acc; lanes >= n keep their partial untouched (blend), as
// the canonical order requires.
inline __m256 AccumulatePartial(const float* x, int64_t n, __m256 acc) {
  const __m256i m = LaneMask(n);
  const __m256 v = _mm256_maskload_ps(x, m);
  return _mm256_blendv_ps(acc, _mm256_fmadd_ps(v, v, acc), _mm256_castsi256_ps(m));
}

// Eight weights widened exactly to f32 (bf16: 16-bit left shift; f16: vcvtph2ps).
inline __m256 LoadWeights8(const void* w, DType dtype, int64_t i) {
  if (dtype == DType::kF32) return _mm256_loadu_ps(static_cast<const float*>(w) + i);
  const __m128i h =
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(w) + i));
  if (dtype == DType::kF16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// The canonical tree on lanes (lo = 0-7, hi = 8-15): p[j]+p[j+8], then +4, +2, +1.
inline float ReduceCanonical(__m256 lo, __m256 hi) {
  const __m256 s8 = _mm256_add_ps(lo, hi);
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

float SumOfSquares(const float* x, int64_t d) {
  __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
    lo = _mm256_fmadd_ps(a, a, lo);
    hi = _mm256_fmadd_ps(b, b, hi);
  }
  const int64_t rest = d - i;
  if (rest >= 8) {
    const __m256 a = _mm256_loadu_ps(x + i);
    lo = _mm256_fmadd_ps(a, a, lo);
    if (rest > 8) hi = AccumulatePartial(x + i + 8, rest - 8, hi);
  } else if (rest > 0) {
    lo = AccumulatePartial(x + i, rest, lo);
  }
  return ReduceCanonical(lo, hi);
}

}  // namespace

void RmsNormRows(const float* x, int64_t x_stride, const void* weight, DType weight_dtype,
                 int64_t d, float eps, float* out, int64_t out_stride, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float* yr = out + r * out_stride;
    const float mean = SumOfSquares(xr, d) / static_cast<float>(d);
    const float inv = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean + eps)));
    const __m256 vinv = _mm256_set1_ps(inv);
    int64_t i = 0;
    for (; i + 8 <= d; i += 8) {
      const __m256 w = LoadWeights8(weight, weight_dtype, i);
      _mm256_storeu_ps(yr + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(xr + i), vinv), w));
    }
    if (i < d) {
      // Tail: stage the last < 8 elements through zero-padded stack copies so the same vector
      // instructions (and hence the same rounding) apply; padding lanes are never stored.
      const int64_t n = d - i;
      alignas(32) float xs[8] = {}, ys[8];
      alignas(32) uint16_t ws16[8] = {};
      alignas(32) float ws32[8] = {};
      for (int64_t k = 0; k < n; ++k) xs[k] = xr[i + k];
      const void* wtail;
      if (weight_dtype == DType::kF32) {
        for (int64_t k = 0; k < n; ++k) ws32[k] = static_cast<const float*>(weight)[i + k];
        wtail = ws32;
      } else {
        for (int64_t k = 0; k < n; ++k) ws16[k] = static_cast<const uint16_t*>(weight)[i + k];
        wtail = ws16;
      }
      const __m256 w = LoadWeights8(wtail, weight_dtype, 0);
      _mm256_store_ps(ys, _mm256_mul_ps(_mm256_mul_ps(_mm256_load_ps(xs), vinv), w));
      for (int64_t k = 0; k < n; ++k) yr[i + k] = ys[k];
    }
  }
}

}  // namespace detinfer::kernels::avx2
