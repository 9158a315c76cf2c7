// PortablePow / PortableSinCos against independent implementations (glibc's long double powl,
// sinl, cosl, about 1e-19 accurate) and closed forms; the RoPE table built from them against
// the same oracle. Tolerances: 2e-18 absolute for sin/cos (values in [-1, 1]; our error is a
// few units of 2^-64, glibc's below one), 4e-18 relative for pow.
#include "core/portable_math.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "kernels/rope.h"

namespace detinfer {
namespace {

TEST(PortableMathTest, SinCosMatchLongDoubleLibmOverTheRopeRange) {
  // RoPE-like angles (position * frequency) and a log-spaced sweep up to 2^27, both signs.
  std::vector<double> xs;
  for (int p = 0; p < 4096; p += 7) {
    for (int i = 0; i < 64; i += 5) xs.push_back(double(p) * std::pow(10000.0, -2.0 * i / 128));
  }
  for (double x = 1e-9; x < 0x1p27; x *= 1.37) {
    xs.push_back(x);
    xs.push_back(-x);
  }
  // Near multiples of pi/2, where the reduction cancels most bits.
  for (int k = 1; k < 200000; k = k * 3 + 1) {
    xs.push_back(std::nextafter(double(k) * 1.5707963267948966, 0.0));
  }
  double worst = 0.0;
  for (const double x : xs) {
    double s = 0.0, c = 0.0;
    PortableSinCos(x, &s, &c);
    const long double ls = sinl(static_cast<long double>(x));
    const long double lc = cosl(static_cast<long double>(x));
    const double es = static_cast<double>(std::fabs(static_cast<long double>(s) - ls));
    const double ec = static_cast<double>(std::fabs(static_cast<long double>(c) - lc));
    // The double result is the long double one rounded once: within half a double ulp plus
    // our error of the oracle's value.
    EXPECT_LE(es, 0.5 * std::ldexp(1.0, std::ilogb(std::fabs(s) + 1e-300) - 52) + 2e-18) << x;
    EXPECT_LE(ec, 0.5 * std::ldexp(1.0, std::ilogb(std::fabs(c) + 1e-300) - 52) + 2e-18) << x;
    worst = std::max({worst, es, ec});
  }
  EXPECT_LT(worst, 1.2e-16);  // never a whole double ulp of a value near 1 away
}

TEST(PortableMathTest, SinCosClosedFormsAndDomain) {
  double s = 1.0, c = 0.0;
  PortableSinCos(0.0, &s, &c);
  EXPECT_EQ(s, 0.0);
  EXPECT_EQ(c, 1.0);
  // sin(pi/6) = 1/2 and cos(pi/3) = 1/2 up to the rounding of the double argument.
  PortableSinCos(0.52359877559829882, &s, &c);
  EXPECT_NEAR(s, 0.5, 2e-16);  // the argument is pi/6 rounded to double
  PortableSinCos(1.0471975511965976, &s, &c);
  EXPECT_NEAR(c, 0.5, 2e-16);
  EXPECT_EQ(PortableCos(0.0), 1.0);
  for (const double bad : {0x1p27 * 1.5, std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN()}) {
    PortableSinCos(bad, &s, &c);
    EXPECT_TRUE(std::isnan(s) && std::isnan(c)) << bad;
  }
}

TEST(PortableMathTest, PowMatchesLongDoubleLibmAndExactCases) {
  for (const double base : {10000.0, 500000.0, 1000000.0, 10000.5, 2.0, 0.5, 1e30, 1e-30}) {
    for (int d : {64, 80, 128, 256}) {
      for (int i = 0; i < d / 2; ++i) {
        const double e = -double(2 * i) / double(d);
        const double ours = PortablePow(base, e);
        const long double ref = powl(static_cast<long double>(base), static_cast<long double>(e));
        const long double rel = std::fabs((static_cast<long double>(ours) - ref) / ref);
        EXPECT_LE(static_cast<double>(rel), 0x1p-53 + 4e-18) << base << "^" << e;
      }
    }
  }
  // Exact cases: any base to the 0, and powers of two.
  EXPECT_EQ(PortablePow(10000.0, 0.0), 1.0);
  EXPECT_EQ(PortablePow(2.0, -3.0), 0.125);
  EXPECT_EQ(PortablePow(4.0, 0.5), 2.0);
  EXPECT_EQ(PortablePow(1.0, -0.75), 1.0);
  EXPECT_TRUE(std::isnan(PortablePow(0.0, -0.5)));
  EXPECT_TRUE(std::isnan(PortablePow(-2.0, 0.5)));
  EXPECT_TRUE(std::isnan(PortablePow(1e300, -1000.0)));  // |y| beyond 700
}

TEST(PortableMathTest, RopeTableEntriesAreTheOracleRoundedOnce) {
  // Every entry is float(double(cos(p * inv_freq))): within half an fp32 ulp (plus a sliver
  // for the double rounding) of the long double oracle evaluated at the same double angle.
  constexpr int kHeadDim = 64, kPositions = 2048;
  constexpr double kTheta = 500000.0;
  auto table = RopeTable::Create(kHeadDim, kHeadDim, kTheta, kPositions);
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  const int half = kHeadDim / 2;
  for (int p = 0; p < kPositions; p += 3) {
    for (int i = 0; i < half; ++i) {
      const double inv = static_cast<double>(
          powl(static_cast<long double>(kTheta), -static_cast<long double>(2 * i) / kHeadDim));
      const double angle = double(p) * inv;
      const long double lc = cosl(static_cast<long double>(angle));
      const long double ls = sinl(static_cast<long double>(angle));
      const float c = table->cos_row(p)[i];
      const float s = table->sin_row(p)[i];
      const auto ulp = [](float v) {
        return std::ldexp(1.0, std::ilogb(std::max(std::fabs(v), 1e-30f)) - 23);
      };
      // Our inv_freq may differ from powl's rounding by one double ulp: p * 2^-52 rad at most.
      const double slack = double(p) * 0x1p-52 + 1e-15;
      EXPECT_LE(static_cast<double>(std::fabs(c - lc)), 0.5 * ulp(c) + slack) << p << "," << i;
      EXPECT_LE(static_cast<double>(std::fabs(s - ls)), 0.5 * ulp(s) + slack) << p << "," << i;
    }
  }
}

TEST(PortableMathTest, RopeTableRefusesAnglesBeyondTheSupportedRange) {
  // theta < 1 gives frequencies above 1: 2^28 positions' worth of angle.
  auto t = RopeTable::Create(4, 4, 1e-12, 1 << 27);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("theta"), std::string::npos) << t.status().ToString();
}

}  // namespace
}  // namespace detinfer
