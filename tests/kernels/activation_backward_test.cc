// SwiGluBackward. Oracles: central finite differences of L = sum dout * silu(gate) * up in
// double; the analytic gradient in double (elementwise relative error); the documented limits
// at +-Inf and canonical NaNs. Invariance: ISA paths, thread counts, in-place outputs.
#include "kernels/activation_backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backward_test_util.h"
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

TEST(SwiGluBackwardTest, MatchesFiniteDifferencesOfTheForward) {
  const Problem p(3, 7, 5);
  const std::vector<float> out = p.Run(MakeContext(Isa::kScalar, 1).ctx);
  const size_t n = p.gate.size();
  auto loss = [&](const std::vector<double>& g, const std::vector<double>& u) {
    double l = 0;
    for (size_t i = 0; i < n; ++i) l += p.dout[i] * Silu(g[i]) * u[i];
    return l;
  };
  const auto gd = ToDouble(p.gate), ud = ToDouble(p.up);
  EXPECT_TRUE(MatchesFiniteDifferences([&](const std::vector<double>& v) { return loss(v, ud); }, gd,
                                       std::vector<float>(out.begin(), out.begin() + long(n)), 1e-6, "dgate"));
  EXPECT_TRUE(MatchesFiniteDifferences([&](const std::vector<double>& v) { return loss(gd, v); }, ud,
                                       std::vector<float>(out.begin() + long(n), out.end()), 1e-6, "dup"));
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

}  // namespace
}  // namespace detinfer
