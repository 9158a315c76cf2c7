// exp and log on 4 fp32 lanes (aarch64 NEON): the exact operation sequence of ExpF/LogF
// (kernels/math.h documents it), so every lane returns the scalar bits; plus the few helpers
// the NEON row kernels share (the x86 max/min, tail masks and zero-padded tail loads).
//
// vfmaq_f32(a, b, c) = a + b * c rounded once, vfmsq_f32(a, b, c) = a - b * c rounded once:
// the same values as std::fma(b, c, a) and std::fma(-b, c, a). Plain vmulq/vaddq are never
// contracted (-ffp-contract=off, cmake/Flags.cmake: GCC would contract them by default here).
//
// Every function here is `static inline` (internal linkage), as cmake/Flags.cmake requires of
// headers included by per-ISA translation units.
#ifndef DETINFER_KERNELS_SIMD_MATH_NEON_H_
#define DETINFER_KERNELS_SIMD_MATH_NEON_H_

#include <arm_neon.h>

#include <cstdint>

#include "kernels/simd/math_constants.h"

namespace detinfer::kernels::neon_math {

// a > b ? a : b and a < b ? a : b: x86 maxps/minps and the scalar MaxCombine, NaN and signed
// zeros included (vmaxq_f32 would return NaN where these return b).
static inline float32x4_t Max4(float32x4_t a, float32x4_t b) {
  return vbslq_f32(vcgtq_f32(a, b), a, b);
}
static inline float32x4_t Min4(float32x4_t a, float32x4_t b) {
  return vbslq_f32(vcltq_f32(a, b), a, b);
}

static inline uint32x4_t IsNan4(float32x4_t x) { return vmvnq_u32(vceqq_f32(x, x)); }

static inline float32x4_t Bits4(uint32_t bits) { return vreinterpretq_f32_u32(vdupq_n_u32(bits)); }

// Lane j active iff j < count (count may be <= 0 or >= 4).
static inline uint32x4_t TailMask4(int64_t count) {
  const int32_t c = count < 0 ? 0 : (count > 4 ? 4 : static_cast<int32_t>(count));
  const int32_t idx[4] = {0, 1, 2, 3};
  return vcltq_s32(vld1q_s32(idx), vdupq_n_s32(c));
}

// The first count (< 4, maybe <= 0) elements of p, zeros after: NEON has no masked loads.
static inline float32x4_t LoadTail4(const float* p, int64_t count) {
  float t[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int64_t j = 0; j < count && j < 4; ++j) t[j] = p[j];
  return vld1q_f32(t);
}
static inline void StoreTail4(float* p, int64_t count, float32x4_t v) {
  float t[4];
  vst1q_f32(t, v);
  for (int64_t j = 0; j < count && j < 4; ++j) p[j] = t[j];
}

static inline float32x4_t Pow2Neon(int32x4_t k) {
  namespace mc = math_constants;
  return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(k, vdupq_n_s32(mc::kFloatExpBias)), 23));
}

static inline float32x4_t Exp4(float32x4_t x) {
  namespace mc = math_constants;
  const uint32x4_t is_nan = IsNan4(x);
  float32x4_t xc = Max4(x, vdupq_n_f32(mc::kExpLo));
  xc = Min4(xc, vdupq_n_f32(mc::kExpHi));
  const float32x4_t t = vmulq_f32(xc, vdupq_n_f32(mc::kLog2e));
  const float32x4_t magic = vdupq_n_f32(mc::kRoundMagic);
  const float32x4_t kf = vsubq_f32(vaddq_f32(t, magic), magic);
  float32x4_t r = vfmsq_f32(xc, kf, vdupq_n_f32(mc::kLn2Hi));
  r = vfmsq_f32(r, kf, vdupq_n_f32(mc::kLn2Lo));
  float32x4_t p = vdupq_n_f32(mc::kExpP0);
  p = vfmaq_f32(vdupq_n_f32(mc::kExpP1), p, r);
  p = vfmaq_f32(vdupq_n_f32(mc::kExpP2), p, r);
  p = vfmaq_f32(vdupq_n_f32(mc::kExpP3), p, r);
  p = vfmaq_f32(vdupq_n_f32(mc::kExpP4), p, r);
  p = vfmaq_f32(vdupq_n_f32(mc::kExpP5), p, r);
  const float32x4_t z = vmulq_f32(r, r);
  float32x4_t y = vfmaq_f32(r, p, z);
  y = vaddq_f32(y, vdupq_n_f32(1.0f));
  const int32x4_t k = vcvtq_s32_f32(kf);  // kf is integral: exact
  const int32x4_t k1 = vshrq_n_s32(k, 1);  // arithmetic: floor(k / 2)
  const int32x4_t k2 = vsubq_s32(k, k1);
  y = vmulq_f32(vmulq_f32(y, Pow2Neon(k1)), Pow2Neon(k2));
  return vbslq_f32(is_nan, vaddq_f32(x, x), y);
}

static inline float32x4_t Log4(float32x4_t x) {
  namespace mc = math_constants;
  const float32x4_t zero = vdupq_n_f32(0.0f);
  const float32x4_t one = vdupq_n_f32(1.0f);
  const uint32x4_t is_nan = IsNan4(x);
  const uint32x4_t is_neg = vcltq_f32(x, zero);
  const uint32x4_t is_zero = vceqq_f32(x, zero);
  const float32x4_t pos_inf = Bits4(mc::kPosInfBits);
  const uint32x4_t is_inf = vceqq_f32(x, pos_inf);
  // Subnormals (and the lanes the selects below overwrite anyway) are scaled by 2^23.
  const uint32x4_t is_sub = vcltq_f32(x, vdupq_n_f32(mc::kFloatMinNormal));
  const float32x4_t xs = vbslq_f32(is_sub, vmulq_f32(x, vdupq_n_f32(mc::kTwo23)), x);
  const uint32x4_t u = vreinterpretq_u32_f32(xs);
  int32x4_t e = vsubq_s32(vreinterpretq_s32_u32(vshrq_n_u32(u, 23)), vdupq_n_s32(mc::kLogExpOffset));
  e = vsubq_s32(e, vreinterpretq_s32_u32(vandq_u32(is_sub, vdupq_n_u32(mc::kTwo23Exponent))));
  float32x4_t m = vreinterpretq_f32_u32(
      vorrq_u32(vandq_u32(u, vdupq_n_u32(mc::kMantissaMask)), vdupq_n_u32(mc::kHalfExponentBits)));
  float32x4_t fe = vcvtq_f32_s32(e);
  const uint32x4_t small = vcltq_f32(m, vdupq_n_f32(mc::kSqrtHalf));
  fe = vbslq_f32(small, vsubq_f32(fe, one), fe);
  m = vbslq_f32(small, vaddq_f32(m, m), m);
  const float32x4_t f = vsubq_f32(m, one);
  float32x4_t p = vdupq_n_f32(mc::kLogP0);
  p = vfmaq_f32(vdupq_n_f32(mc::kLogP1), p, f);
  p = vfmaq_f32(vdupq_n_f32(mc::kLogP2), p, f);
  p = vfmaq_f32(vdupq_n_f32(mc::kLogP3), p, f);
  p = vfmaq_f32(vdupq_n_f32(mc::kLogP4), p, f);
  p = vfmaq_f32(vdupq_n_f32(mc::kLogP5), p, f);
  p = vfmaq_f32(vdupq_n_f32(mc::kLogP6), p, f);
  p = vfmaq_f32(vdupq_n_f32(mc::kLogP7), p, f);
  p = vfmaq_f32(vdupq_n_f32(mc::kLogP8), p, f);
  const float32x4_t z = vmulq_f32(f, f);
  float32x4_t y = vmulq_f32(vmulq_f32(p, f), z);
  y = vfmaq_f32(y, fe, vdupq_n_f32(mc::kLn2Lo));
  y = vfmaq_f32(y, z, vdupq_n_f32(-0.5f));
  float32x4_t r = vaddq_f32(f, y);
  r = vfmaq_f32(r, fe, vdupq_n_f32(mc::kLn2Hi));
  // Specials, in the reverse order of the scalar early returns so the same one wins.
  r = vbslq_f32(is_inf, pos_inf, r);
  r = vbslq_f32(is_zero, Bits4(mc::kNegInfBits), r);
  r = vbslq_f32(is_neg, Bits4(mc::kQuietNaNBits), r);
  return vbslq_f32(is_nan, vaddq_f32(x, x), r);
}

}  // namespace detinfer::kernels::neon_math

#endif  // DETINFER_KERNELS_SIMD_MATH_NEON_H_
