#include "core/portable_math.h"

#include <cmath>
#include <limits>

namespace detinfer {

static_assert(std::numeric_limits<long double>::digits == 64,
              "portable_math needs the x87 80-bit long double (64-bit significand)");

namespace {

using LD = long double;

// pi/2 = kHalfPi1 + kHalfPi2 + kHalfPi3 (+ 2e-43). The first two parts have 36 significant
// bits, so k * part is exact in long double for every integer k < 2^28 (Cody–Waite reduction).
constexpr LD kHalfPi1 = 0xC90FDAA22p-35L;
constexpr LD kHalfPi2 = 0xB4611A626p-74L;
constexpr LD kHalfPi3 = 0xCC51701B839A2520p-140L;
constexpr LD kTwoOverPi = 0.636619772367581343075535053490057448L;
// ln 2 = kLn2Hi + kLn2Lo (+ 3e-33); kLn2Hi has 40 bits: n * kLn2Hi is exact for |n| < 2^24.
constexpr LD kLn2Hi = 0xB17217F7D1p-40L;
constexpr LD kLn2Lo = 0xCF79ABC9E3B39804p-104L;
constexpr LD kLn2 = kLn2Hi + kLn2Lo;  // only to choose n in Exp
// Adding and subtracting 1.5 * 2^63 rounds |v| < 2^62 to the nearest integer (ties to even)
// with two correctly rounded operations — no libm call, no dependence on its rounding code.
constexpr LD kRoundMagic = 0x1.8p63L;
LD RoundToInt(LD v) {
  return (v + kRoundMagic) - kRoundMagic;  // not folded: no -ffast-math (SPEC §K4)
}
constexpr LD kSqrtHalf = 0.707106781186547524400844362104849039L;

// Taylor series of sin and cos for |r| <= pi/4 + tiny, Horner from the smallest term; the
// first omitted terms (r^23/23!, r^22/22!) are below 2^-70. The factors 1/(n(n-1)) are
// compile-time constants (each one rounding, the same in every build), so the loops have no
// division; the two chains are independent and overlap.
template <int N>
constexpr LD InvPair() { return 1.0L / (LD(N) * LD(N - 1)); }
void SinCosSeries(LD r, LD* sin_r, LD* cos_r) {
  const LD m = -(r * r);
  LD s = m * InvPair<21>(), c = m * InvPair<20>();
  s = (s + 1.0L) * (m * InvPair<19>());
  c = (c + 1.0L) * (m * InvPair<18>());
  s = (s + 1.0L) * (m * InvPair<17>());
  c = (c + 1.0L) * (m * InvPair<16>());
  s = (s + 1.0L) * (m * InvPair<15>());
  c = (c + 1.0L) * (m * InvPair<14>());
  s = (s + 1.0L) * (m * InvPair<13>());
  c = (c + 1.0L) * (m * InvPair<12>());
  s = (s + 1.0L) * (m * InvPair<11>());
  c = (c + 1.0L) * (m * InvPair<10>());
  s = (s + 1.0L) * (m * InvPair<9>());
  c = (c + 1.0L) * (m * InvPair<8>());
  s = (s + 1.0L) * (m * InvPair<7>());
  c = (c + 1.0L) * (m * InvPair<6>());
  s = (s + 1.0L) * (m * InvPair<5>());
  c = (c + 1.0L) * (m * InvPair<4>());
  s = (s + 1.0L) * (m * InvPair<3>());
  c = (c + 1.0L) * (m * InvPair<2>());
  *sin_r = r + r * s;
  *cos_r = 1.0L + c;
}

// ln(x) for finite x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| < 0.172; the series' omitted terms are below 2^-70.
LD Log(double x) {
  int e = 0;
  LD m = std::frexp(static_cast<LD>(x), &e);  // exact: m in [0.5, 1)
  if (m < kSqrtHalf) {
    m *= 2.0L;
    --e;
  }
  const LD s = (m - 1.0L) / (m + 1.0L);
  const LD s2 = s * s;
  LD t = 0.0L;
  for (int n = 27; n >= 3; n -= 2) t = (t + 1.0L / LD(n)) * s2;
  return LD(e) * kLn2Hi + (LD(e) * kLn2Lo + 2.0L * (s + s * t));
}

// exp(y) for |y| < 700: y = n ln2 + r, |r| <= ln2/2, exp(r) by its Taylor series (omitted
// terms below 2^-70), then scaled by 2^n exactly.
LD Exp(LD y) {
  const LD n = RoundToInt(y / kLn2);
  const LD r = (y - n * kLn2Hi) - n * kLn2Lo;
  LD s = 1.0L;
  for (int k = 20; k >= 1; --k) s = 1.0L + s * r / LD(k);
  return std::ldexp(s, static_cast<int>(n));
}

}  // namespace

double PortablePow(double base, double exponent) {
  if (!(base > 0.0) || !std::isfinite(base) || !std::isfinite(exponent)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (exponent == 0.0) return 1.0;
  const LD y = static_cast<LD>(exponent) * Log(base);
  if (!(std::fabs(y) < 700.0L)) return std::numeric_limits<double>::quiet_NaN();
  return static_cast<double>(Exp(y));
}

void PortableSinCos(double x, double* sin_x, double* cos_x) {
  if (!(std::fabs(x) <= 0x1p27)) {
    *sin_x = *cos_x = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  // x = k pi/2 + r, |r| <= pi/4 (+ rounding of k). x - k*kHalfPi1 is exact: k*kHalfPi1 is
  // exact (k < 2^28, 36-bit part), the difference is below 2 and has no bit below
  // min(ulp(x), 2^-35) >= 2^-53 (k != 0 needs |x| >= pi/4), so it fits 64 bits. The other
  // parts add corrections far below one ulp of r.
  const LD k = RoundToInt(static_cast<LD>(x) * kTwoOverPi);
  const LD r = ((static_cast<LD>(x) - k * kHalfPi1) - k * kHalfPi2) - k * kHalfPi3;
  LD s = 0.0L, c = 0.0L;
  SinCosSeries(r, &s, &c);
  const long quadrant = static_cast<long>(k) & 3;  // two's complement: also right for k < 0
  LD sv = s, cv = c;
  switch (quadrant) {
    case 1: sv = c; cv = -s; break;
    case 2: sv = -s; cv = -c; break;
    case 3: sv = -c; cv = s; break;
    default: break;
  }
  *sin_x = static_cast<double>(sv);
  *cos_x = static_cast<double>(cv);
}

double PortableCos(double x) {
  double s = 0.0, c = 0.0;
  PortableSinCos(x, &s, &c);
  return c;
}

}  // namespace detinfer
