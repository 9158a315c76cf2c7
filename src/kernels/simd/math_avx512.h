// exp, log and tanh on 16 fp32 lanes (AVX-512F): the exact operation sequence of ExpF/LogF/TanhF
// (kernels/math.h documents it), so every lane returns the scalar bits.
//
// Every function here is `static inline` (internal linkage), as cmake/Flags.cmake requires of
// headers included by per-ISA translation units.
#ifndef DETINFER_KERNELS_SIMD_MATH_AVX512_H_
#define DETINFER_KERNELS_SIMD_MATH_AVX512_H_

#include <immintrin.h>

#include <cstdint>

#include "kernels/simd/math_constants.h"

namespace detinfer::kernels::avx512_math {

// GCC 12 reports -Wmaybe-uninitialized inside the plain forms of several AVX-512 intrinsics
// (they are built on _mm512_undefined_*), so the zero-masked forms with an all-ones mask are
// used instead: the same instructions, the same bits.
static constexpr __mmask16 kAll16 = static_cast<__mmask16>(0xffff);

static inline __m512 Pow2Avx512(__m512i k) {
  namespace mc = math_constants;
  return _mm512_castsi512_ps(
      _mm512_maskz_slli_epi32(kAll16, _mm512_add_epi32(k, _mm512_set1_epi32(mc::kFloatExpBias)), 23));
}

static inline __m512 Exp16(__m512 x) {
  namespace mc = math_constants;
  const __mmask16 is_nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  // max_ps(a, b) = a > b ? a : b, min_ps(a, b) = a < b ? a : b: the scalar clamp exactly.
  __m512 xc = _mm512_maskz_max_ps(kAll16, x, _mm512_set1_ps(mc::kExpLo));
  xc = _mm512_maskz_min_ps(kAll16, xc, _mm512_set1_ps(mc::kExpHi));
  const __m512 t = _mm512_mul_ps(xc, _mm512_set1_ps(mc::kLog2e));
  const __m512 magic = _mm512_set1_ps(mc::kRoundMagic);
  const __m512 kf = _mm512_sub_ps(_mm512_add_ps(t, magic), magic);
  // fnmadd(a, b, c) = -(a*b) + c, rounded once: the same value as fma(-a, b, c).
  __m512 r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(mc::kLn2Hi), xc);
  r = _mm512_fnmadd_ps(kf, _mm512_set1_ps(mc::kLn2Lo), r);
  __m512 p = _mm512_set1_ps(mc::kExpP0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(mc::kExpP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(mc::kExpP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(mc::kExpP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(mc::kExpP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(mc::kExpP5));
  const __m512 z = _mm512_mul_ps(r, r);
  __m512 y = _mm512_fmadd_ps(p, z, r);
  y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
  const __m512i k = _mm512_maskz_cvtps_epi32(kAll16, kf);  // kf is integral: exact in any rounding mode
  const __m512i k1 = _mm512_maskz_srai_epi32(kAll16, k, 1);
  const __m512i k2 = _mm512_sub_epi32(k, k1);
  y = _mm512_mul_ps(_mm512_mul_ps(y, Pow2Avx512(k1)), Pow2Avx512(k2));
  return _mm512_mask_add_ps(y, is_nan, x, x);
}

static inline __m512 Log16(__m512 x) {
  namespace mc = math_constants;
  const __m512 zero = _mm512_setzero_ps();
  const __m512 one = _mm512_set1_ps(1.0f);
  const __mmask16 is_nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __mmask16 is_neg = _mm512_cmp_ps_mask(x, zero, _CMP_LT_OQ);
  const __mmask16 is_zero = _mm512_cmp_ps_mask(x, zero, _CMP_EQ_OQ);
  const __m512 pos_inf = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(mc::kPosInfBits)));
  const __mmask16 is_inf = _mm512_cmp_ps_mask(x, pos_inf, _CMP_EQ_OQ);
  // Subnormals (and the lanes the blends below overwrite anyway) are scaled by 2^23.
  const __mmask16 is_sub = _mm512_cmp_ps_mask(x, _mm512_set1_ps(mc::kFloatMinNormal), _CMP_LT_OQ);
  const __m512 xs = _mm512_mask_mul_ps(x, is_sub, x, _mm512_set1_ps(mc::kTwo23));
  const __m512i u = _mm512_castps_si512(xs);
  __m512i e = _mm512_sub_epi32(_mm512_maskz_srli_epi32(kAll16, u, 23), _mm512_set1_epi32(mc::kLogExpOffset));
  e = _mm512_mask_sub_epi32(e, is_sub, e, _mm512_set1_epi32(mc::kTwo23Exponent));
  __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_and_si512(u, _mm512_set1_epi32(static_cast<int>(mc::kMantissaMask))),
      _mm512_set1_epi32(static_cast<int>(mc::kHalfExponentBits))));
  __m512 fe = _mm512_maskz_cvtepi32_ps(kAll16, e);
  const __mmask16 small = _mm512_cmp_ps_mask(m, _mm512_set1_ps(mc::kSqrtHalf), _CMP_LT_OQ);
  fe = _mm512_mask_sub_ps(fe, small, fe, one);
  m = _mm512_mask_add_ps(m, small, m, m);
  const __m512 f = _mm512_sub_ps(m, one);
  __m512 p = _mm512_set1_ps(mc::kLogP0);
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(mc::kLogP1));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(mc::kLogP2));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(mc::kLogP3));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(mc::kLogP4));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(mc::kLogP5));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(mc::kLogP6));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(mc::kLogP7));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(mc::kLogP8));
  const __m512 z = _mm512_mul_ps(f, f);
  __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, f), z);
  y = _mm512_fmadd_ps(fe, _mm512_set1_ps(mc::kLn2Lo), y);
  y = _mm512_fmadd_ps(z, _mm512_set1_ps(-0.5f), y);
  __m512 r = _mm512_add_ps(f, y);
  r = _mm512_fmadd_ps(fe, _mm512_set1_ps(mc::kLn2Hi), r);
  // Specials, in the reverse order of the scalar early returns so the same one wins.
  r = _mm512_mask_mov_ps(r, is_inf, pos_inf);
  r = _mm512_mask_mov_ps(
      r, is_zero, _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(mc::kNegInfBits))));
  r = _mm512_mask_mov_ps(
      r, is_neg, _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(mc::kQuietNaNBits))));
  return _mm512_mask_add_ps(r, is_nan, x, x);
}

// Lanes [0, count) set (count in [0, 16]): the mask for masked loads/stores of a tail.
static inline __mmask16 TailMask16(int64_t count) {
  return static_cast<__mmask16>((1u << static_cast<unsigned>(count)) - 1u);
}

// TanhF on 16 lanes: both branches computed, each lane keeps its own; copysign, then NaN -> x + x.
static inline __m512 Tanh16(__m512 x) {
  namespace mc = math_constants;
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512 a = _mm512_castsi512_ps(_mm512_andnot_si512(sign, _mm512_castps_si512(x)));
  const __m512 x2 = _mm512_mul_ps(a, a);
  __m512 p = _mm512_set1_ps(mc::kTanhC17);
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(mc::kTanhC15));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(mc::kTanhC13));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(mc::kTanhC11));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(mc::kTanhC9));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(mc::kTanhC7));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(mc::kTanhC5));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(mc::kTanhC3));
  const __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(a, x2), p, a);
  const __m512 two_a = _mm512_add_ps(a, a);
  const __m512 e =
      Exp16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(two_a), sign)));
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 large = _mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e));
  const __m512 t = _mm512_mask_mov_ps(
      large, _mm512_cmp_ps_mask(a, _mm512_set1_ps(mc::kTanhSmall), _CMP_LT_OQ), small);
  const __m512 r = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_andnot_si512(sign, _mm512_castps_si512(t)),
      _mm512_and_si512(sign, _mm512_castps_si512(x))));
  return _mm512_mask_add_ps(r, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x, x);
}

}  // namespace detinfer::kernels::avx512_math

#endif  // DETINFER_KERNELS_SIMD_MATH_AVX512_H_
