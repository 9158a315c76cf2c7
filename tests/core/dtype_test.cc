// Bit-level oracles for the storage conversions: f32 -> bf16 / f16 round-to-nearest-even over
// a strided sweep of all 2^32 patterns plus edge cases, checked against an independent
// exact-arithmetic oracle, hardware F16C and GCC's _Float16; exact widening of all 65536
// bf16 and f16 patterns.
#include "core/dtype.h"

#include <gtest/gtest.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/isa.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::Bits;
using testing::FromBits;

constexpr uint32_t kSweepStride = 251;  // prime: hits every exponent and mantissa pattern class

bool IsNanBits32(uint32_t u) { return (u & 0x7fffffffu) > 0x7f800000u; }
bool IsNanBits16(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

// bf16 oracle: the two bf16 neighbours of x are its truncation and the next pattern away from
// zero; pick the nearer by exact double arithmetic, ties to the even pattern. The pattern
// above the largest finite bf16 is Inf, which for rounding purposes sits at 2^128.
uint16_t OracleBF16(float x) {
  const uint32_t u = Bits(x);
  const uint16_t lo = static_cast<uint16_t>(u >> 16), hi = static_cast<uint16_t>(lo + 1);
  const double ax = std::fabs(double(x));
  const double vlo = std::fabs(double(FromBits(uint32_t(lo) << 16)));
  const double vhi = (hi & 0x7fffu) == 0x7f80u ? std::ldexp(1.0, 128)
                                               : std::fabs(double(FromBits(uint32_t(hi) << 16)));
  const double dlo = ax - vlo, dhi = vhi - ax;
  if (dlo < dhi) return lo;
  if (dhi < dlo) return hi;
  return (lo & 1u) == 0 ? lo : hi;
}

// f16 oracle: find the f16 grid spacing at |x|, the neighbours below and above by exact
// double arithmetic, pick the nearer (ties to an even significand), then encode.
uint16_t OracleF16(float x) {
  const uint16_t sign = (Bits(x) >> 31) ? 0x8000 : 0;
  const double ax = std::fabs(double(x));
  if (std::isinf(ax) || ax >= 65520.0) return sign | 0x7c00;  // 65520 = 65504 + half a step
  int e;
  std::frexp(ax, &e);  // ax in [2^(e-1), 2^e)
  const int exp = ax < std::ldexp(1.0, -14) ? -14 : e - 1;
  const double step = std::ldexp(1.0, exp - 10);
  const double k = std::floor(ax / step);  // exact: ax / step is a scaled float
  const double dlo = ax - k * step, dhi = (k + 1) * step - ax;
  double units = k;
  if (dhi < dlo || (dhi == dlo && std::fmod(k, 2.0) != 0)) units = k + 1;
  const double v = units * step;
  if (v == 0) return sign;
  if (v < std::ldexp(1.0, -14)) return sign | static_cast<uint16_t>(units);  // subnormal
  std::frexp(v, &e);
  const int ve = e - 1;
  const double mant = v / std::ldexp(1.0, ve) * 1024.0 - 1024.0;
  return sign | static_cast<uint16_t>(((ve + 15) << 10) | static_cast<int>(mant));
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) uint16_t HardwareF16(float x) {
  return static_cast<uint16_t>(_cvtss_sh(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
__attribute__((target("f16c"))) float HardwareF16ToF32(uint16_t h) { return _cvtsh_ss(h); }
#else  // never called: F16C is an x86 feature (ARM is checked through __fp16 below)
uint16_t HardwareF16(float) { return 0; }
float HardwareF16ToF32(uint16_t) { return 0.0f; }
#endif

bool HaveF16C() {
  const bool have = DetectCpuFeatures().f16c;
  if (!have) std::fprintf(stderr, "[detinfer] NOTE: no F16C on this CPU; hardware f16 checks skipped\n");
  return have;
}

void CheckOne(uint32_t u, bool f16c) {
  const float x = FromBits(u);
  const uint16_t b = F32ToBF16(x), h = F32ToF16(x);
  if (IsNanBits32(u)) {
    ASSERT_TRUE((b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0) << std::hex << u;
    ASSERT_EQ(b >> 15, u >> 31) << std::hex << u;
    ASSERT_TRUE(IsNanBits16(h)) << std::hex << u;
    ASSERT_EQ(h >> 15, u >> 31) << std::hex << u;
  } else {
    ASSERT_EQ(b, OracleBF16(x)) << "bf16 of 0x" << std::hex << u;
    ASSERT_EQ(h, OracleF16(x)) << "f16 of 0x" << std::hex << u;
  }
  if (f16c) {
    ASSERT_EQ(h, HardwareF16(x)) << "F16C disagrees on 0x" << std::hex << u;
  }
#if defined(__aarch64__) || defined(__FLT16_MAX__)
  if (!IsNanBits32(u)) {
#if defined(__aarch64__)
    const __fp16 g = static_cast<__fp16>(x);  // the hardware's FCVT (GCC 12 C++ has no _Float16)
#else
    const _Float16 g = static_cast<_Float16>(x);
#endif
    uint16_t gb;
    std::memcpy(&gb, &g, 2);
    ASSERT_EQ(h, gb) << "the compiler's half type disagrees on 0x" << std::hex << u;
  }
#endif
}

TEST(DTypeTest, NarrowingMatchesExactOraclesOverAStridedSweepOfAllPatterns) {
  const bool f16c = HaveF16C();
  for (uint64_t u = 0; u <= 0xffffffffull; u += kSweepStride) CheckOne(uint32_t(u), f16c);
}

TEST(DTypeTest, NarrowingEdgeCases) {
  const bool f16c = HaveF16C();
  const uint32_t edges[] = {
      0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,        // +-0, +-Inf
      0x7f7fffffu, 0xff7fffffu,                                   // max finite f32
      0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fbfffffu, 0xff800001u, 0x7f802000u,  // NaNs
      0x7f7f8000u, 0x7f7f7fffu,        // bf16: tie above max bf16 (odd) -> Inf; just below
      0x3f808000u, 0x3f818000u,        // bf16 ties: 1+2^-8 -> even (down), 1+3*2^-8 -> up
      0x00008000u, 0x00018000u,        // bf16 ties among f32 subnormals
      Bits(65504.f), Bits(65519.996f), Bits(65520.f), Bits(65536.f), Bits(-65520.f),
      Bits(std::ldexp(1.f, -14)), Bits(std::ldexp(1.f, -24)),        // min normal/subnormal f16
      Bits(std::ldexp(1.f, -25)),                                     // half smallest: tie -> 0
      Bits(std::nextafter(std::ldexp(1.f, -25), 1.f)),                // just above: -> 2^-24
      Bits(std::ldexp(3.f, -25)),                                     // 1.5 units: tie -> 2 units
      Bits(std::ldexp(1.f, -26)), Bits(std::ldexp(1023.5f, -24)),     // -> 1024 units = min normal
      Bits(1.0f + std::ldexp(1.f, -11)), Bits(1.0f + std::ldexp(3.f, -11)),  // f16 ties
  };
  for (uint32_t u : edges) CheckOne(u, f16c);
  EXPECT_EQ(F32ToF16(65520.f), 0x7c00);
  EXPECT_EQ(F32ToF16(65519.996f), 0x7bff);
  EXPECT_EQ(F32ToF16(std::ldexp(1.f, -25)), 0x0000);
  EXPECT_EQ(F32ToF16(std::ldexp(3.f, -25)), 0x0002);
  EXPECT_EQ(F32ToBF16(FromBits(0x3f808000u)), 0x3f80);
  EXPECT_EQ(F32ToBF16(FromBits(0x3f818000u)), 0x3f82);
  EXPECT_EQ(F32ToBF16(FromBits(0x7f7f8000u)), 0x7f80);
  EXPECT_EQ(F32ToBF16(FromBits(0x7f800001u)) & 0x7fc0u, 0x7fc0u);  // payload 0 kept NaN: quiet
}

TEST(DTypeTest, WideningIsExactForAllSixteenBitPatterns) {
  const bool f16c = HaveF16C();
  for (uint32_t p = 0; p < 65536; ++p) {
    const uint16_t h = static_cast<uint16_t>(p);
    ASSERT_EQ(Bits(BF16ToF32(h)), p << 16);
    const float f = F16ToF32(h);
    if (f16c) {
      ASSERT_EQ(Bits(f), Bits(HardwareF16ToF32(h))) << std::hex << p;
    }
    if (IsNanBits16(h)) {
      ASSERT_TRUE(std::isnan(f));
      continue;
    }
    // Exact value oracle, and the round trip back is the identity.
    const int e = (p >> 10) & 0x1f, m = p & 0x3ff;
    const double mag = e == 31 ? std::numeric_limits<double>::infinity()
                       : e == 0 ? std::ldexp(double(m), -24)
                                : std::ldexp(1.0 + m / 1024.0, e - 15);
    ASSERT_EQ(double(f), (p & 0x8000) ? -mag : mag) << std::hex << p;
    ASSERT_EQ(F32ToF16(f), h);
    if (!IsNanBits32(p << 16)) {
      ASSERT_EQ(F32ToBF16(BF16ToF32(h)), h);
    }
  }
}

TEST(DTypeTest, NamesAndBulkConversions) {
  EXPECT_EQ(DTypeSize(DType::kBF16), 2u);
  EXPECT_EQ(DTypeName(DType::kF16), "f16");
  EXPECT_EQ(*ParseDType("bfloat16"), DType::kBF16);
  EXPECT_FALSE(ParseDType("int8").ok());
  const float src[3] = {1.5f, -2.25f, 65504.f};
  uint16_t h[3];
  float back[3];
  ConvertFromF32(src, DType::kF16, h, 3);
  ConvertToF32(DType::kF16, h, back, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(back[i], src[i]);
}

}  // namespace
}  // namespace detinfer
