#include "core/portable_math.h"

#include <cmath>
#include <limits>

namespace detinfer {

namespace {

// Double-double numbers: the unevaluated sum hi + lo of two doubles, |lo| <= ulp(hi) / 2,
// about 106 significant bits. Built from IEEE double add, subtract, multiply, divide and fused
// multiply-add only — each correctly rounded, the same on x86-64 and aarch64 — so every value
// below is a pure function of the arguments on any IEEE machine (no long double: it has 64
// significant bits on x86 and 113 on aarch64).
struct DD {
  double hi, lo;
};

// a + b exactly as a double-double (Knuth's TwoSum: no condition on a and b).
DD TwoSum(double a, double b) {
  const double s = a + b;
  const double bb = s - a;
  return {s, (a - (s - bb)) + (b - bb)};
}
// The same when |a| >= |b| (or a == 0): Dekker's FastTwoSum.
DD QuickTwoSum(double a, double b) {
  const double s = a + b;
  return {s, b - (s - a)};
}
// a * b exactly (Dekker): each factor split into two 26-bit halves whose products are exact.
// Plain multiplies and adds, no FMA: the same cost on every x86-64 (many have no FMA unit, and
// a library fma would be a slow software routine) and the same bits everywhere.
DD TwoProd(double a, double b) {
  constexpr double kSplitter = 0x1p27 + 1.0;  // Veltkamp: exact for |x| < 2^995
  const double ta = kSplitter * a, tb = kSplitter * b;
  const double ah = ta - (ta - a), al = a - ah;
  const double bh = tb - (tb - b), bl = b - bh;
  const double p = a * b;
  return {p, ((ah * bh - p) + ah * bl + al * bh) + al * bl};
}
DD Add(DD x, DD y) {
  DD s = TwoSum(x.hi, y.hi);
  const DD t = TwoSum(x.lo, y.lo);
  s.lo += t.hi;
  s = QuickTwoSum(s.hi, s.lo);
  s.lo += t.lo;
  return QuickTwoSum(s.hi, s.lo);
}
DD Neg(DD x) { return {-x.hi, -x.lo}; }
DD Sub(DD x, DD y) { return Add(x, Neg(y)); }
DD Mul(DD x, DD y) {
  DD p = TwoProd(x.hi, y.hi);
  p.lo += x.hi * y.lo + x.lo * y.hi;
  return QuickTwoSum(p.hi, p.lo);
}
DD Mul(DD x, double y) { return Mul(x, DD{y, 0.0}); }
// Long division: three quotient digits, each the leading double of the remainder / y.
DD Div(DD x, DD y) {
  const double q1 = x.hi / y.hi;
  DD r = Sub(x, Mul(y, q1));
  const double q2 = r.hi / y.hi;
  r = Sub(r, Mul(y, q2));
  const double q3 = r.hi / y.hi;
  return Add(QuickTwoSum(q1, q2), DD{q3, 0.0});
}
DD Div(DD x, double y) { return Div(x, DD{y, 0.0}); }
DD FromDouble(double x) { return {x, 0.0}; }
// 1 + x for |x| < 1: fewer steps than Add, the same exactness.
DD OnePlus(DD x) {
  DD s = QuickTwoSum(1.0, x.hi);
  s.lo += x.lo;
  return QuickTwoSum(s.hi, s.lo);
}

// Constants as three doubles (pi/2 = kHalfPi[0] + kHalfPi[1] + kHalfPi[2] + O(2^-163)), from
// exact rational series (Machin's formula, 2 atanh(1/3)) rounded part by part.
constexpr double kHalfPi[3] = {0x1.921fb54442d18p+0, 0x1.1a62633145c07p-54,
                               -0x1.f1976b7ed8fbcp-110};
constexpr double kLn2[3] = {0x1.62e42fefa39efp-1, 0x1.abc9e3b39803fp-56,
                            0x1.7b57a079a1934p-111};
constexpr double kTwoOverPi = 0x1.45f306dc9c883p-1;
constexpr double kInvLn2 = 0x1.71547652b82fep+0;
constexpr double kSqrtHalf = 0x1.6a09e667f3bcdp-1;

// Adding and subtracting 1.5 * 2^52 rounds |v| < 2^51 to the nearest integer (ties to even)
// with two correctly rounded operations — no libm call, no dependence on its rounding code.
double RoundToInt(double v) {
  constexpr double kRoundMagic = 0x1.8p52;
  return (v + kRoundMagic) - kRoundMagic;  // not folded: no -ffast-math (SPEC §K4)
}

// x - n * (c[0] + c[1] + c[2]) for an integer n with |n| < 2^30: each n * c[i] is exact
// (TwoProd), so the reduction loses nothing to cancellation beyond the constant's own 159 bits.
DD Reduce(DD x, double n, const double c[3]) {
  for (int i = 0; i < 3; ++i) x = Sub(x, TwoProd(n, c[i]));
  return x;
}

// 1/(n(n-1)) for n = 2..25 as double-doubles (computed once; the same everywhere).
const DD* InversePairs() {
  static const struct Table {
    DD v[26];
    Table() : v() {
      for (int n = 2; n <= 25; ++n) v[n] = Div(FromDouble(1.0), double(n) * double(n - 1));
    }
  } kTable;
  return kTable.v;
}

// Taylor series of sin and cos for |r| <= pi/4 + tiny, Horner from the smallest term (the first
// omitted terms, r^27/27! and r^26/26!, are below 2^-100): with m = -r^2, term n's factor is
// m/(n(n-1)). The terms from r^7 (resp. r^6) on are summed in double — they enter scaled by
// at most 2^-8 and are themselves below 2^-6, so their rounding stays below 2^-64 of the
// result — and the two leading steps in double-double. Two independent chains.
void SinCosSeries(DD r, DD* sin_r, DD* cos_r) {
  const DD* inv = InversePairs();
  const DD m = Neg(Mul(r, r));
  double ts = 0.0, tc = 0.0;
  for (int n = 25; n >= 7; n -= 2) ts = m.hi * inv[n].hi * (1.0 + ts);
  for (int n = 24; n >= 6; n -= 2) tc = m.hi * inv[n].hi * (1.0 + tc);
  DD s = FromDouble(ts), c = FromDouble(tc);
  for (int n = 5; n >= 3; n -= 2) s = Mul(Mul(m, OnePlus(s)), inv[n]);
  for (int n = 4; n >= 2; n -= 2) c = Mul(Mul(m, OnePlus(c)), inv[n]);
  *sin_r = Add(r, Mul(r, s));
  *cos_r = Add(FromDouble(1.0), c);
}

// ln(x) for finite x > 0: x = m * 2^e with m in [sqrt(1/2), sqrt(2)), ln m = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| < 0.172; the series' omitted terms are below 2^-100.
DD Log(double x) {
  int e = 0;
  double m = std::frexp(x, &e);  // exact: m in [0.5, 1)
  if (m < kSqrtHalf) {
    m *= 2.0;  // exact
    --e;
  }
  const DD s = Div(FromDouble(m - 1.0), TwoSum(m, 1.0));  // m - 1 is exact (Sterbenz)
  const DD s2 = Mul(s, s);
  DD t = FromDouble(0.0);
  for (int n = 41; n >= 3; n -= 2) t = Mul(Add(t, Div(FromDouble(1.0), double(n))), s2);
  const DD ln_m = Mul(Add(s, Mul(s, t)), 2.0);
  const double de = double(e);
  return Add(Add(TwoProd(de, kLn2[0]), Add(TwoProd(de, kLn2[1]), TwoProd(de, kLn2[2]))), ln_m);
}

// exp(y) for |y| < 700: y = n ln2 + r, |r| <= ln2/2 (+ tiny), exp(r) by its Taylor series
// (omitted terms below 2^-100), then scaled by 2^n exactly.
double Exp(DD y) {
  const double n = RoundToInt(y.hi * kInvLn2);
  const DD r = Reduce(y, n, kLn2);
  DD s = FromDouble(1.0);
  for (int k = 27; k >= 1; --k) s = Add(FromDouble(1.0), Div(Mul(s, r), double(k)));
  // hi is hi + lo rounded to nearest (the pair is normalised); scaling by 2^n is exact for
  // a normal result.
  return std::ldexp(s.hi, static_cast<int>(n));
}

}  // namespace

double PortablePow(double base, double exponent) {
  if (!(base > 0.0) || !std::isfinite(base) || !std::isfinite(exponent)) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (exponent == 0.0) return 1.0;
  const DD y = Mul(Log(base), exponent);
  if (!(std::fabs(y.hi) < 700.0)) return std::numeric_limits<double>::quiet_NaN();
  return Exp(y);
}

void PortableSinCos(double x, double* sin_x, double* cos_x) {
  if (!(std::fabs(x) <= 0x1p27)) {
    *sin_x = *cos_x = std::numeric_limits<double>::quiet_NaN();
    return;
  }
  // x = k pi/2 + r, |r| <= pi/4 (+ rounding of k), k < 2^28: exact products, 159-bit pi/2.
  const double k = RoundToInt(x * kTwoOverPi);
  const DD r = Reduce(FromDouble(x), k, kHalfPi);
  DD s{}, c{};
  SinCosSeries(r, &s, &c);
  const long quadrant = static_cast<long>(k) & 3;  // two's complement: also right for k < 0
  DD sv = s, cv = c;
  switch (quadrant) {
    case 1: sv = c; cv = Neg(s); break;
    case 2: sv = Neg(s); cv = Neg(c); break;
    case 3: sv = Neg(c); cv = s; break;
    default: break;
  }
  *sin_x = sv.hi;
  *cos_x = cv.hi;
}

double PortableCos(double x) {
  double s = 0.0, c = 0.0;
  PortableSinCos(x, &s, &c);
  return c;
}

}  // namespace detinfer
