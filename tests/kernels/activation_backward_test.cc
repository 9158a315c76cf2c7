// SwiGluBackward, GeGluTanhBackward and SoftCapBackward. Oracles: central finite differences
// of L = sum dout * f(...) in double; the analytic (closed-form) gradient in double
// (elementwise, tolerances for accuracy only); the documented limits at +-Inf and canonical
// NaNs; dup against the forward kernel's bits. Invariance: ISA paths, thread counts, row
// counts, in-place outputs.
#include "kernels/activation_backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <vector>

#include "backward_test_util.h"
#include "kernels/activation.h"
#include "test_util.h"

namespace detinfer {
namespace {

using backward_test::MatchesFiniteDifferences;
using backward_test::SameBitsEverywhere;
using backward_test::ToDouble;
using testing::Bits;
using testing::BitsEqual;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

struct Problem {
  int64_t m, f;
  std::vector<float> gate, up, dout;
  Problem(int64_t m_, int64_t f_, uint64_t seed, float range = 6.f) : m(m_), f(f_) {
    gate = RandomFloats(size_t(m * f), seed, -range, range);
    up = RandomFloats(size_t(m * f), seed + 1);
    dout = RandomFloats(size_t(m * f), seed + 2);
  }
  TensorView V(const std::vector<float>& v) const { return TensorView::Contiguous(v.data(), DType::kF32, {m, f}); }
  // dgate followed by dup.
  std::vector<float> Run(const KernelContext& ctx) const {
    std::vector<float> dg(gate.size(), std::numeric_limits<float>::quiet_NaN()), du = dg;
    const Status st = SwiGluBackward(ctx, V(gate), V(up), V(dout), V(dg), V(du));
    EXPECT_TRUE(st.ok()) << st.ToString();
    dg.insert(dg.end(), du.begin(), du.end());
    return dg;
  }
};

double Silu(double a) { return a / (1 + std::exp(-a)); }

// out = [dgate | dup] of loss = sum(dout * act(gate) * up) against central finite differences
// of that loss in double.
void ExpectGatedGradientsMatchFiniteDifferences(const Problem& p, const std::vector<float>& out,
                                                double (*act)(double)) {
  const size_t n = p.gate.size();
  auto loss = [&](const std::vector<double>& g, const std::vector<double>& u) {
    double l = 0;
    for (size_t i = 0; i < n; ++i) l += p.dout[i] * act(g[i]) * u[i];
    return l;
  };
  const auto gd = ToDouble(p.gate), ud = ToDouble(p.up);
  EXPECT_TRUE(MatchesFiniteDifferences([&](const std::vector<double>& v) { return loss(v, ud); }, gd,
                                       std::vector<float>(out.begin(), out.begin() + long(n)), 1e-6, "dgate"));
  EXPECT_TRUE(MatchesFiniteDifferences([&](const std::vector<double>& v) { return loss(gd, v); }, ud,
                                       std::vector<float>(out.begin() + long(n), out.end()), 1e-6, "dup"));
}

TEST(SwiGluBackwardTest, MatchesFiniteDifferencesOfTheForward) {
  const Problem p(3, 7, 5);
  const std::vector<float> out = p.Run(MakeContext(Isa::kScalar, 1).ctx);
  ExpectGatedGradientsMatchFiniteDifferences(p, out, Silu);
}

// Elementwise against the analytic derivative in double, over a wide range of gate values
// (including where exp(-a) overflows): a few ulps of the terms involved.
TEST(SwiGluBackwardTest, CloseToTheAnalyticGradientInDouble) {
  const Problem p(64, 128, 8, 120.f);
  const std::vector<float> out = p.Run(MakeContext(TestableIsas().back(), 2).ctx);
  const size_t n = p.gate.size();
  for (size_t i = 0; i < n; ++i) {
    const double a = p.gate[i], u = p.up[i], d = p.dout[i];
    const double sig = 1 / (1 + std::exp(-a));
    const double dsilu = sig * (1 + a * (1 - sig));
    const double want_dg = d * u * dsilu, want_du = d * Silu(a);
    // Relative error vs the magnitudes of the factors (a, u, d in [-120, 120] x [-1, 1]^2).
    ASSERT_LE(std::fabs(out[i] - want_dg), 1e-5 * std::fabs(d * u) * (std::fabs(dsilu) + 1e-3) + 1e-30)
        << "dgate at a=" << a;
    ASSERT_LE(std::fabs(out[n + i] - want_du), 1e-6 * std::fabs(d) * (std::fabs(Silu(a)) + 1e-30) + 1e-30)
        << "dup at a=" << a;
  }
}

TEST(SwiGluBackwardTest, LimitsAndCanonicalNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // gate, up, dout -> expected dgate, dup
  struct Row { float a, u, d, dg, du; };
  const Row rows[] = {{inf, 2.f, 3.f, 6.f, inf},         // dsilu -> 1, silu = +Inf
                      {-inf, 2.f, 3.f, 0.f, -0.f},       // dsilu -> 0, silu = -0
                      {-200.f, 2.f, 3.f, -0.f, -0.f},    // exp(200) overflows: sig = 0
                      {0.f, 2.f, 3.f, 3.f, 0.f},         // dsilu(0) = 1/2 * 1, silu(0) = 0
                      {nan, 2.f, 3.f, nan, nan},
                      {1.f, nan, 3.f, nan, 3.f * (1.f / (1.f + 0.36787945f))}};
  for (const Row& r : rows) {
    std::vector<float> g{r.a}, u{r.u}, d{r.d}, dg{7.f}, du{7.f};
    auto v = [](std::vector<float>& x) { return TensorView::Contiguous(x.data(), DType::kF32, {1, 1}); };
    for (Isa isa : TestableIsas()) {
      ASSERT_TRUE(SwiGluBackward(MakeContext(isa, 1).ctx, v(g), v(u), v(d), v(dg), v(du)).ok());
      if (std::isnan(r.dg)) {
        EXPECT_EQ(Bits(dg[0]), 0x7fc00000u) << "dgate at a=" << r.a;
      } else {
        EXPECT_EQ(Bits(dg[0]), Bits(r.dg)) << "dgate at a=" << r.a << ": " << dg[0];
      }
      if (std::isnan(r.du)) {
        EXPECT_EQ(Bits(du[0]), 0x7fc00000u) << "dup at a=" << r.a;
      } else if (r.a == 1.f) {
        EXPECT_NEAR(du[0], r.du, 1e-6f);
      } else {
        EXPECT_EQ(Bits(du[0]), Bits(r.du)) << "dup at a=" << r.a << ": " << du[0];
      }
    }
  }
}

TEST(SwiGluBackwardTest, SameBitsOnEveryPathThreadCountAndInPlace) {
  const Problem p(70, 300, 2, 20.f);
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Run(c); }));
  const auto h = MakeContext(TestableIsas().back(), 2);
  const std::vector<float> ref = p.Run(h.ctx);
  std::vector<float> g = p.gate, u = p.up;  // dgate over gate, dup over up
  ASSERT_TRUE(SwiGluBackward(h.ctx, p.V(g), p.V(u), p.V(p.dout), p.V(g), p.V(u)).ok());
  g.insert(g.end(), u.begin(), u.end());
  EXPECT_TRUE(BitsEqual(ref, g));
}

TEST(SwiGluBackwardTest, ErrorsNameTheOperand) {
  const Problem p(2, 4, 1);
  std::vector<float> dg(8), du(6);
  const Status shape = SwiGluBackward(MakeContext(Isa::kScalar, 1).ctx, p.V(p.gate), p.V(p.up), p.V(p.dout),
                                      p.V(dg), TensorView::Contiguous(du.data(), DType::kF32, {2, 3}));
  EXPECT_NE(shape.ToString().find("dup has shape [2, 3] f32"), std::string::npos) << shape.ToString();
  const Status overlap = SwiGluBackward(MakeContext(Isa::kScalar, 1).ctx, p.V(p.gate), p.V(p.up), p.V(p.dout),
                                        p.V(dg), p.V(dg));
  EXPECT_NE(overlap.ToString().find("dgate overlaps dup"), std::string::npos) << overlap.ToString();
}

// ---- GeGluTanhBackward and SoftCapBackward (Gemma) ----

constexpr double kGeluK0 = 0.7978845608028654;  // sqrt(2 / pi)
constexpr double kGeluK1 = 0.044715;

double GeluTanhD(double a) { return 0.5 * a * (1 + std::tanh(kGeluK0 * (a + kGeluK1 * a * a * a))); }

// The closed-form derivative, in double.
double GeluTanhGradD(double a) {
  const double t = std::tanh(kGeluK0 * (a + kGeluK1 * a * a * a));
  return 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * kGeluK0 * (1 + 3 * kGeluK1 * a * a);
}

std::vector<float> RunGeGluBackward(const Problem& p, const KernelContext& ctx) {
  std::vector<float> dg(p.gate.size(), std::numeric_limits<float>::quiet_NaN()), du = dg;
  const Status st = GeGluTanhBackward(ctx, p.V(p.gate), p.V(p.up), p.V(p.dout), p.V(dg), p.V(du));
  EXPECT_TRUE(st.ok()) << st.ToString();
  dg.insert(dg.end(), du.begin(), du.end());
  return dg;
}

struct SoftCapProblem {
  int64_t m, n;
  float cap;
  std::vector<float> x, dout;
  SoftCapProblem(int64_t m_, int64_t n_, float cap_, float range, uint64_t seed)
      : m(m_), n(n_), cap(cap_) {
    x = RandomFloats(size_t(m * n), seed, -range, range);
    dout = RandomFloats(size_t(m * n), seed + 1);
  }
  TensorView V(const std::vector<float>& v) const { return TensorView::Contiguous(v.data(), DType::kF32, {m, n}); }
  std::vector<float> Run(const KernelContext& ctx) const {
    std::vector<float> dx(x.size(), std::numeric_limits<float>::quiet_NaN());
    const Status st = SoftCapBackward(ctx, V(x), cap, V(dout), V(dx));
    EXPECT_TRUE(st.ok()) << st.ToString();
    return dx;
  }
};

TEST(ActivationBackwardTest, GeGluTanhMatchesFiniteDifferencesOfTheForward) {
  const Problem p(3, 7, 15, 4.f);
  const std::vector<float> out = RunGeGluBackward(p, MakeContext(Isa::kScalar, 1).ctx);
  ExpectGatedGradientsMatchFiniteDifferences(p, out, GeluTanhD);
}

// Elementwise against the closed form in double over a wide range of gate values (tanh
// saturating, a^3 overflowing near the ends). dgelu is bounded (|gelu'| < 1.13), so dgate's
// error is measured against |dout * u| (absolute in gelu' units). gelu = 0.5 a (1 + t) carries
// the absolute error of 1 + t (which cancels for a < 0) times |a|, so dup's error is measured
// against |dout| * max(1, |a|).
TEST(ActivationBackwardTest, GeGluTanhCloseToTheClosedFormInDouble) {
  double worst_dg = 0, worst_du = 0;
  for (float range : {6.f, 120.f, 1e25f}) {
    const Problem p(64, 128, 31, range);
    const std::vector<float> out = RunGeGluBackward(p, MakeContext(TestableIsas().back(), 2).ctx);
    const size_t n = p.gate.size();
    for (size_t i = 0; i < n; ++i) {
      const double a = p.gate[i], u = p.up[i], d = p.dout[i];
      const double want_dg = d * u * GeluTanhGradD(a), want_du = d * GeluTanhD(a);
      const double e_dg = std::fabs(out[i] - want_dg) / (std::fabs(d * u) + 1e-30);
      const double e_du =
          std::fabs(out[n + i] - want_du) / (std::fabs(d) * std::fmax(1.0, std::fabs(a)) + 1e-30);
      ASSERT_LE(e_dg, 4e-6) << "dgate at a=" << a << ": " << out[i] << " vs " << want_dg;
      ASSERT_LE(e_du, 5e-7) << "dup at a=" << a << ": " << out[n + i] << " vs " << want_du;
      worst_dg = std::fmax(worst_dg, e_dg);
      worst_du = std::fmax(worst_du, e_du);
    }
  }
  std::printf("[geglu_tanh_backward] max error vs double: dgate %.3g (of |dout*u|), dup %.3g "
              "(of |dout|*max(1,|a|))\n", worst_dg, worst_du);
}

// dup = dout * gelu(gate) with the forward's gelu: bit for bit GeGluTanh(gate, dout).
TEST(ActivationBackwardTest, GeGluTanhDupIsTheForwardsGeluTimesDout) {
  const Problem p(9, 77, 41, 30.f);
  for (Isa isa : TestableIsas()) {
    const auto h = MakeContext(isa, 2);
    const std::vector<float> out = RunGeGluBackward(p, h.ctx);
    std::vector<float> fwd(p.gate.size());
    ASSERT_TRUE(GeGluTanh(h.ctx, p.V(p.gate), p.V(p.dout), p.V(fwd)).ok());
    EXPECT_TRUE(BitsEqual(std::vector<float>(out.begin() + long(fwd.size()), out.end()), fwd))
        << testing::IsaString(isa);
  }
}

TEST(ActivationBackwardTest, GeGluTanhLimitsAndCanonicalNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // gate, up, dout -> expected dgate, dup (the limits of the closed form: gelu'(+Inf) = 1,
  // gelu'(-Inf) = 0, gelu(-Inf) = -0; gelu'(0) = 1/2, gelu(0) = 0).
  struct Row { float a, u, d, dg, du; };
  const Row rows[] = {{inf, 2.f, 3.f, 6.f, inf},
                      {-inf, 2.f, 3.f, 0.f, -0.f},
                      {1e20f, 2.f, 3.f, 6.f, 3.f * 1e20f},      // a^2 overflows: still gelu' = 1
                      {-1e20f, 2.f, 3.f, 0.f, -0.f},      // gelu = -5e19 * (1 + -1) = -0
                      {0.f, 2.f, 3.f, 3.f, 0.f},
                      {nan, 2.f, 3.f, nan, nan},
                      {inf, 0.f, 3.f, 0.f, inf},
                      {inf, 2.f, 0.f, 0.f, nan}};         // 0 * Inf
  for (const Row& r : rows) {
    std::vector<float> g{r.a}, u{r.u}, d{r.d}, dg{7.f}, du{7.f};
    auto v = [](std::vector<float>& x) { return TensorView::Contiguous(x.data(), DType::kF32, {1, 1}); };
    for (Isa isa : TestableIsas()) {
      ASSERT_TRUE(GeGluTanhBackward(MakeContext(isa, 1).ctx, v(g), v(u), v(d), v(dg), v(du)).ok());
      const uint32_t want_dg = std::isnan(r.dg) ? 0x7fc00000u : Bits(r.dg);
      const uint32_t want_du = std::isnan(r.du) ? 0x7fc00000u : Bits(r.du);
      EXPECT_EQ(Bits(dg[0]), want_dg) << "dgate at a=" << r.a << ": " << dg[0];
      EXPECT_EQ(Bits(du[0]), want_du) << "dup at a=" << r.a << ": " << du[0];
    }
  }
}

// Exact invariance: every ISA path and 1-3 threads; a row alone vs inside a batch of any row
// count; in-place outputs.
TEST(ActivationBackwardTest, GeGluTanhSameBitsOnEveryPathRowCountThreadCountAndInPlace) {
  const Problem p(70, 300, 2, 12.f);
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return RunGeGluBackward(p, c); }));
  const auto h = MakeContext(TestableIsas().back(), 3);
  const std::vector<float> ref = RunGeGluBackward(p, h.ctx);
  const size_t n = p.gate.size(), f = size_t(p.f);
  for (int64_t rows : {1, 5, 69}) {
    Problem sub(rows, p.f, 0);
    sub.gate.assign(p.gate.end() - rows * p.f, p.gate.end());
    sub.up.assign(p.up.end() - rows * p.f, p.up.end());
    sub.dout.assign(p.dout.end() - rows * p.f, p.dout.end());
    const std::vector<float> got = RunGeGluBackward(sub, MakeContext(Isa::kScalar, 1).ctx);
    const size_t k = size_t(rows) * f;
    EXPECT_TRUE(BitsEqual(std::vector<float>(got.begin(), got.begin() + long(k)),
                          std::vector<float>(ref.begin() + long(n - k), ref.begin() + long(n))))
        << rows << " rows (dgate)";
    EXPECT_TRUE(BitsEqual(std::vector<float>(got.begin() + long(k), got.end()),
                          std::vector<float>(ref.end() - long(k), ref.end())))
        << rows << " rows (dup)";
  }
  std::vector<float> g = p.gate, u = p.up;  // dgate over gate, dup over up
  ASSERT_TRUE(GeGluTanhBackward(h.ctx, p.V(g), p.V(u), p.V(p.dout), p.V(g), p.V(u)).ok());
  g.insert(g.end(), u.begin(), u.end());
  EXPECT_TRUE(BitsEqual(ref, g));
}

TEST(ActivationBackwardTest, GeGluTanhErrorsNameTheOperand) {
  const Problem p(2, 4, 1);
  std::vector<float> dg(8), du(6);
  const auto h = MakeContext(Isa::kScalar, 1);
  const Status shape = GeGluTanhBackward(h.ctx, p.V(p.gate), p.V(p.up), p.V(p.dout), p.V(dg),
                                         TensorView::Contiguous(du.data(), DType::kF32, {2, 3}));
  EXPECT_NE(shape.ToString().find("geglu_tanh_backward: dup has shape [2, 3] f32"), std::string::npos)
      << shape.ToString();
  const Status overlap = GeGluTanhBackward(h.ctx, p.V(p.gate), p.V(p.up), p.V(p.dout), p.V(dg), p.V(dg));
  EXPECT_NE(overlap.ToString().find("geglu_tanh_backward: dgate overlaps dup"), std::string::npos)
      << overlap.ToString();
  std::vector<uint16_t> wrong(8);
  const Status dtype = GeGluTanhBackward(h.ctx, p.V(p.gate), p.V(p.up),
                                         TensorView::Contiguous(wrong.data(), DType::kBF16, {2, 4}),
                                         p.V(dg), p.V(dg));
  EXPECT_NE(dtype.ToString().find("geglu_tanh_backward: dout must be f32"), std::string::npos)
      << dtype.ToString();
}

TEST(ActivationBackwardTest, SoftCapMatchesFiniteDifferencesOfTheForward) {
  const SoftCapProblem p(3, 9, 2.5f, 6.f, 51);
  const std::vector<float> out = p.Run(MakeContext(Isa::kScalar, 1).ctx);
  auto loss = [&](const std::vector<double>& x) {
    double l = 0;
    for (size_t i = 0; i < x.size(); ++i) l += p.dout[i] * p.cap * std::tanh(x[i] / p.cap);
    return l;
  };
  EXPECT_TRUE(MatchesFiniteDifferences(loss, ToDouble(p.x), out, 1e-6, "dx"));
}

// Against dout * (1 - tanh^2(x / cap)) in double: 1 - t^2 from a TanhF within 2 ulp has an
// absolute error of a few 1e-7, so the error is measured against |dout|.
TEST(ActivationBackwardTest, SoftCapCloseToTheClosedFormInDouble) {
  double worst = 0;
  for (float cap : {30.f, 1.5f, 50.f}) {
    const SoftCapProblem p(32, 200, cap, 4 * cap, 61);
    const std::vector<float> out = p.Run(MakeContext(TestableIsas().back(), 2).ctx);
    for (size_t i = 0; i < out.size(); ++i) {
      const double t = std::tanh(double(p.x[i]) / cap);
      const double want = p.dout[i] * (1 - t * t);
      const double e = std::fabs(out[i] - want) / (std::fabs(double(p.dout[i])) + 1e-30);
      ASSERT_LE(e, 1e-6) << "x=" << p.x[i] << " cap=" << cap << ": " << out[i] << " vs " << want;
      worst = std::fmax(worst, e);
    }
  }
  std::printf("[soft_cap_backward] max error vs double (of |dout|): %.3g\n", worst);
}

TEST(ActivationBackwardTest, SoftCapLimitsAndCanonicalNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Row { float x, d, want; };
  const Row rows[] = {{inf, 3.f, 0.f}, {-inf, 3.f, 0.f}, {inf, -3.f, -0.f}, {1e30f, 3.f, 0.f},
                      {0.f, 3.f, 3.f}, {nan, 3.f, nan}, {inf, inf, nan}, {1.f, nan, nan}};
  for (const Row& r : rows) {
    std::vector<float> x{r.x}, d{r.d}, dx{7.f};
    auto v = [](std::vector<float>& y) { return TensorView::Contiguous(y.data(), DType::kF32, {1, 1}); };
    for (Isa isa : TestableIsas()) {
      ASSERT_TRUE(SoftCapBackward(MakeContext(isa, 1).ctx, v(x), 30.f, v(d), v(dx)).ok());
      const uint32_t want = std::isnan(r.want) ? 0x7fc00000u : Bits(r.want);
      EXPECT_EQ(Bits(dx[0]), want) << "x=" << r.x << " dout=" << r.d << ": " << dx[0];
    }
  }
}

TEST(ActivationBackwardTest, SoftCapSameBitsOnEveryPathRowCountThreadCountAndInPlace) {
  const SoftCapProblem p(90, 257, 30.f, 100.f, 71);
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Run(c); }));
  const auto h = MakeContext(TestableIsas().back(), 3);
  const std::vector<float> ref = p.Run(h.ctx);
  for (int64_t rows : {1, 7, 89}) {  // the last `rows` rows alone
    SoftCapProblem sub(rows, p.n, p.cap, 1.f, 0);
    sub.x.assign(p.x.end() - rows * p.n, p.x.end());
    sub.dout.assign(p.dout.end() - rows * p.n, p.dout.end());
    EXPECT_TRUE(BitsEqual(sub.Run(MakeContext(Isa::kScalar, 1).ctx),
                          std::vector<float>(ref.end() - rows * p.n, ref.end())))
        << rows << " rows";
  }
  std::vector<float> x = p.x, d = p.dout;
  ASSERT_TRUE(SoftCapBackward(h.ctx, p.V(x), p.cap, p.V(p.dout), p.V(x)).ok());
  EXPECT_TRUE(BitsEqual(ref, x)) << "dx over x";
  ASSERT_TRUE(SoftCapBackward(h.ctx, p.V(p.x), p.cap, p.V(d), p.V(d)).ok());
  EXPECT_TRUE(BitsEqual(ref, d)) << "dx over dout";
}

TEST(ActivationBackwardTest, SoftCapErrorsNameTheOperand) {
  const SoftCapProblem p(2, 4, 30.f, 1.f, 1);
  std::vector<float> dx(8);
  const auto h = MakeContext(Isa::kScalar, 1);
  for (float bad : {0.f, -1.f, std::numeric_limits<float>::infinity(),
                    std::numeric_limits<float>::quiet_NaN()}) {
    const Status st = SoftCapBackward(h.ctx, p.V(p.x), bad, p.V(p.dout), p.V(dx));
    EXPECT_NE(st.ToString().find("soft_cap_backward: cap must be finite and > 0"), std::string::npos)
        << st.ToString();
  }
  const Status shape = SoftCapBackward(h.ctx, p.V(p.x), 30.f, p.V(p.dout),
                                       TensorView::Contiguous(dx.data(), DType::kF32, {4, 2}));
  EXPECT_NE(shape.ToString().find("soft_cap_backward: dx has shape [4, 2] f32"), std::string::npos)
      << shape.ToString();
  std::vector<float> buf(9);
  const Status overlap = SoftCapBackward(h.ctx, TensorView::Contiguous(buf.data(), DType::kF32, {2, 4}), 30.f,
                                         p.V(p.dout), TensorView::Contiguous(buf.data() + 1, DType::kF32, {2, 4}));
  EXPECT_NE(overlap.ToString().find("dx [2, 4] f32 partially overlaps x"), std::string::npos)
      << overlap.ToString();
}

}  // namespace
}  // namespace detinfer
