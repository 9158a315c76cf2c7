// The constants of detinfer's exp, log and tanh (SPEC §K4), shared by the scalar code (math.cc) and
// the SIMD headers (math_avx2.h, math_avx512.h) so that every path uses the very same bits.
//
// Only constants live here (no functions), so the per-ISA translation units may include it
// (cmake/Flags.cmake). `static constexpr` gives them internal linkage.
#ifndef DETINFER_KERNELS_SIMD_MATH_CONSTANTS_H_
#define DETINFER_KERNELS_SIMD_MATH_CONSTANTS_H_

#include <cstdint>

namespace detinfer::kernels::math_constants {

// ---- exp ----
// Inputs are clamped to [kExpLo, kExpHi] before the reduction. exp(-104) ~ 6.8e-46 is below
// half the smallest subnormal (2^-150 ~ 7.0e-46), so it rounds to +0 like every smaller input;
// exp(89) overflows to +Inf like every larger input. The clamp keeps k = round(x*log2(e)) in
// [-150, 128], which the two-step scaling below can represent exactly.
static constexpr float kExpLo = -104.0f;
static constexpr float kExpHi = 89.0f;
static constexpr float kLog2e = 1.44269504088896341f;
// Adding then subtracting 1.5 * 2^23 rounds |t| < 2^22 to the nearest integer, ties to even,
// with two exact-by-construction IEEE additions: identical on every path, no library call,
// no dependence on a rounding-instruction variant.
static constexpr float kRoundMagic = 12582912.0f;
// Cody-Waite split of ln(2): kLn2Hi has 9 significant bits, so k * kLn2Hi is exact for |k| <= 2^15
// and x - k * ln2 loses nothing to cancellation. (Cephes expf constants C1, C2.)
static constexpr float kLn2Hi = 0.693359375f;
static constexpr float kLn2Lo = -2.12194440e-4f;
// Cephes expf minimax polynomial: exp(r) ~ 1 + r + r^2 * P(r) on |r| <= ln(2)/2.
static constexpr float kExpP0 = 1.9875691500e-4f;
static constexpr float kExpP1 = 1.3981999507e-3f;
static constexpr float kExpP2 = 8.3334519073e-3f;
static constexpr float kExpP3 = 4.1665795894e-2f;
static constexpr float kExpP4 = 1.6666665459e-1f;
static constexpr float kExpP5 = 5.0000001201e-1f;
static constexpr int32_t kFloatExpBias = 127;

// ---- log ----
// The mantissa m in [0.5, 1) is moved into [sqrt(1/2), sqrt(2)) (m < kSqrtHalf: m = 2m, e -= 1)
// so that f = m - 1 is small and of either sign.
static constexpr float kSqrtHalf = 0.707106781186547524f;
// Cephes logf minimax polynomial: log(1 + f) ~ f - f^2/2 + f^3 * P(f).
static constexpr float kLogP0 = 7.0376836292e-2f;
static constexpr float kLogP1 = -1.1514610310e-1f;
static constexpr float kLogP2 = 1.1676998740e-1f;
static constexpr float kLogP3 = -1.2420140846e-1f;
static constexpr float kLogP4 = 1.4249322787e-1f;
static constexpr float kLogP5 = -1.6668057665e-1f;
static constexpr float kLogP6 = 2.0000714765e-1f;
static constexpr float kLogP7 = -2.4999993993e-1f;
static constexpr float kLogP8 = 3.3333331174e-1f;
// Subnormal inputs are multiplied by 2^23 (exact) so their exponent field is meaningful.
static constexpr float kTwo23 = 8388608.0f;
static constexpr int32_t kTwo23Exponent = 23;
static constexpr float kFloatMinNormal = 1.17549435e-38f;  // 2^-126
static constexpr uint32_t kMantissaMask = 0x007fffffu;
static constexpr uint32_t kHalfExponentBits = 0x3f000000u;  // exponent field of 0.5
static constexpr int32_t kLogExpOffset = 126;               // 0.5 * 2^e has field e + 126

// log of a negative number (or -Inf) is this quiet NaN on every path.
static constexpr uint32_t kQuietNaNBits = 0x7fc00000u;
static constexpr uint32_t kPosInfBits = 0x7f800000u;
static constexpr uint32_t kNegInfBits = 0xff800000u;

// ---- tanh ----
// |x| < kTanhSmall: the Taylor series of tanh to x^17, its coefficients rounded to float
// (Horner from kTanhC17 down to kTanhC3); otherwise (1 - e) / (1 + e) with e = exp(-2|x|).
static constexpr float kTanhSmall = 0.5f;
static constexpr float kTanhC17 = 6404582.0f / 10854718875.0f;
static constexpr float kTanhC15 = -929569.0f / 638512875.0f;
static constexpr float kTanhC13 = 21844.0f / 6081075.0f;
static constexpr float kTanhC11 = -1382.0f / 155925.0f;
static constexpr float kTanhC9 = 62.0f / 2835.0f;
static constexpr float kTanhC7 = -17.0f / 315.0f;
static constexpr float kTanhC5 = 2.0f / 15.0f;
static constexpr float kTanhC3 = -1.0f / 3.0f;

}  // namespace detinfer::kernels::math_constants

#endif  // DETINFER_KERNELS_SIMD_MATH_CONSTANTS_H_
