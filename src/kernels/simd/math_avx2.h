// exp, log and tanh on 8 fp32 lanes (AVX2 + FMA): the exact operation sequence of ExpF/LogF
// (kernels/math.h documents it), so every lane returns the scalar bits.
//
// Every function here is `static inline` (internal linkage), as cmake/Flags.cmake requires of
// headers included by per-ISA translation units.
#ifndef DETINFER_KERNELS_SIMD_MATH_AVX2_H_
#define DETINFER_KERNELS_SIMD_MATH_AVX2_H_

#include <immintrin.h>

#include <cstdint>

#include "kernels/simd/math_constants.h"

namespace detinfer::kernels::avx2_math {

static inline __m256 Pow2Avx2(__m256i k) {
  namespace mc = math_constants;
  return _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(mc::kFloatExpBias)), 23));
}

static inline __m256 Exp8(__m256 x) {
  namespace mc = math_constants;
  const __m256 is_nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  // max_ps(a, b) = a > b ? a : b, min_ps(a, b) = a < b ? a : b: the scalar clamp exactly.
  __m256 xc = _mm256_max_ps(x, _mm256_set1_ps(mc::kExpLo));
  xc = _mm256_min_ps(xc, _mm256_set1_ps(mc::kExpHi));
  const __m256 t = _mm256_mul_ps(xc, _mm256_set1_ps(mc::kLog2e));
  const __m256 magic = _mm256_set1_ps(mc::kRoundMagic);
  const __m256 kf = _mm256_sub_ps(_mm256_add_ps(t, magic), magic);
  // fnmadd(a, b, c) = -(a*b) + c, rounded once: the same value as fma(-a, b, c).
  __m256 r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(mc::kLn2Hi), xc);
  r = _mm256_fnmadd_ps(kf, _mm256_set1_ps(mc::kLn2Lo), r);
  __m256 p = _mm256_set1_ps(mc::kExpP0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(mc::kExpP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(mc::kExpP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(mc::kExpP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(mc::kExpP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(mc::kExpP5));
  const __m256 z = _mm256_mul_ps(r, r);
  __m256 y = _mm256_fmadd_ps(p, z, r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  const __m256i k = _mm256_cvtps_epi32(kf);  // kf is integral: exact in any rounding mode
  const __m256i k1 = _mm256_srai_epi32(k, 1);
  const __m256i k2 = _mm256_sub_epi32(k, k1);
  y = _mm256_mul_ps(_mm256_mul_ps(y, Pow2Avx2(k1)), Pow2Avx2(k2));
  return _mm256_blendv_ps(y, _mm256_add_ps(x, x), is_nan);
}

static inline __m256 Log8(__m256 x) {
  namespace mc = math_constants;
  const __m256 zero = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 is_nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  const __m256 is_neg = _mm256_cmp_ps(x, zero, _CMP_LT_OQ);
  const __m256 is_zero = _mm256_cmp_ps(x, zero, _CMP_EQ_OQ);
  const __m256 pos_inf = _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(mc::kPosInfBits)));
  const __m256 is_inf = _mm256_cmp_ps(x, pos_inf, _CMP_EQ_OQ);
  // Subnormals (and the lanes the blends below overwrite anyway) are scaled by 2^23.
  const __m256 is_sub = _mm256_cmp_ps(x, _mm256_set1_ps(mc::kFloatMinNormal), _CMP_LT_OQ);
  const __m256 xs = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(mc::kTwo23)), is_sub);
  const __m256i u = _mm256_castps_si256(xs);
  __m256i e = _mm256_sub_epi32(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(mc::kLogExpOffset));
  e = _mm256_sub_epi32(
      e, _mm256_and_si256(_mm256_castps_si256(is_sub), _mm256_set1_epi32(mc::kTwo23Exponent)));
  __m256 m = _mm256_castsi256_ps(
      _mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi32(static_cast<int>(mc::kMantissaMask))),
                      _mm256_set1_epi32(static_cast<int>(mc::kHalfExponentBits))));
  __m256 fe = _mm256_cvtepi32_ps(e);
  const __m256 small = _mm256_cmp_ps(m, _mm256_set1_ps(mc::kSqrtHalf), _CMP_LT_OQ);
  fe = _mm256_blendv_ps(fe, _mm256_sub_ps(fe, one), small);
  m = _mm256_blendv_ps(m, _mm256_add_ps(m, m), small);
  const __m256 f = _mm256_sub_ps(m, one);
  __m256 p = _mm256_set1_ps(mc::kLogP0);
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(mc::kLogP1));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(mc::kLogP2));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(mc::kLogP3));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(mc::kLogP4));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(mc::kLogP5));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(mc::kLogP6));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(mc::kLogP7));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(mc::kLogP8));
  const __m256 z = _mm256_mul_ps(f, f);
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, f), z);
  y = _mm256_fmadd_ps(fe, _mm256_set1_ps(mc::kLn2Lo), y);
  y = _mm256_fmadd_ps(z, _mm256_set1_ps(-0.5f), y);
  __m256 r = _mm256_add_ps(f, y);
  r = _mm256_fmadd_ps(fe, _mm256_set1_ps(mc::kLn2Hi), r);
  // Specials, in the reverse order of the scalar early returns so the same one wins.
  r = _mm256_blendv_ps(r, pos_inf, is_inf);
  r = _mm256_blendv_ps(r, _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(mc::kNegInfBits))),
                       is_zero);
  r = _mm256_blendv_ps(r, _mm256_castsi256_ps(_mm256_set1_epi32(static_cast<int>(mc::kQuietNaNBits))),
                       is_neg);
  return _mm256_blendv_ps(r, _mm256_add_ps(x, x), is_nan);
}

// Lane j active iff j < count (count in [0, 8]): the mask for maskload/maskstore of a tail.
static inline __m256i TailMask8(int64_t count) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), idx);
}

// TanhF on 8 lanes: both branches computed, each lane keeps its own; copysign, then NaN -> x + x.
static inline __m256 Tanh8(__m256 x) {
  namespace mc = math_constants;
  const __m256 sign = _mm256_set1_ps(-0.0f);
  const __m256 a = _mm256_andnot_ps(sign, x);
  const __m256 x2 = _mm256_mul_ps(a, a);
  __m256 p = _mm256_set1_ps(mc::kTanhC17);
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(mc::kTanhC15));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(mc::kTanhC13));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(mc::kTanhC11));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(mc::kTanhC9));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(mc::kTanhC7));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(mc::kTanhC5));
  p = _mm256_fmadd_ps(p, x2, _mm256_set1_ps(mc::kTanhC3));
  const __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(a, x2), p, a);
  const __m256 e = Exp8(_mm256_xor_ps(_mm256_add_ps(a, a), sign));
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 large = _mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e));
  const __m256 t = _mm256_blendv_ps(large, small,
                                    _mm256_cmp_ps(a, _mm256_set1_ps(mc::kTanhSmall), _CMP_LT_OQ));
  const __m256 r = _mm256_or_ps(_mm256_andnot_ps(sign, t), _mm256_and_ps(sign, x));
  return _mm256_blendv_ps(r, _mm256_add_ps(x, x), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

}  // namespace detinfer::kernels::avx2_math

#endif  // DETINFER_KERNELS_SIMD_MATH_AVX2_H_
