// RmsNormBackward. Oracles: central finite differences of L = sum dy * RmsNorm(x; w) computed
// in double; the analytic gradient evaluated in double; the forward kernel itself (the xhat the
// backward uses is the forward's x * inv, bit for bit). Invariance (exact): ISA paths, 1-3
// threads, dweight accumulated over a row split vs one call, in-place dx.
#include "kernels/rms_norm_backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backward_test_util.h"
#include "kernels/rms_norm.h"
#include "test_util.h"

namespace detinfer {
namespace {

using backward_test::MatchesFiniteDifferences;
using backward_test::NearOracle;
using backward_test::SameBitsEverywhere;
using backward_test::ToDouble;
using testing::BitsEqual;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

constexpr float kEps = 1e-5f;

struct RmsNormProblem {
  int64_t m, d;
  std::vector<float> x, w, dy, dw0;
  RmsNormProblem(int64_t m_, int64_t d_, uint64_t seed) : m(m_), d(d_) {
    x = RandomFloats(size_t(m * d), seed, -2.f, 2.f);
    w = RandomFloats(size_t(d), seed + 1, 0.5f, 1.5f);
    dy = RandomFloats(size_t(m * d), seed + 2);
    dw0 = RandomFloats(size_t(d), seed + 3);
  }
  TensorView V(const std::vector<float>& v) const { return TensorView::Contiguous(v.data(), DType::kF32, {m, d}); }
  TensorView W(const std::vector<float>& v) const { return TensorView::Contiguous(v.data(), DType::kF32, {d}); }
  // dx followed by dweight.
  std::vector<float> Run(const KernelContext& ctx, const std::vector<float>& dw_start) const {
    std::vector<float> dx(size_t(m * d), std::numeric_limits<float>::quiet_NaN()), dw = dw_start;
    const Status st = RmsNormBackward(ctx, V(x), W(w), kEps, V(dy), V(dx), W(dw));
    EXPECT_TRUE(st.ok()) << st.ToString();
    dx.insert(dx.end(), dw.begin(), dw.end());
    return dx;
  }
};

// y = x * (mean(x^2) + eps)^(-1/2) * w, L = sum dy * y, in double.
double Loss(const RmsNormProblem& p, const std::vector<double>& x, const std::vector<double>& w) {
  double l = 0;
  for (int64_t r = 0; r < p.m; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < p.d; ++i) ss += x[r * p.d + i] * x[r * p.d + i];
    const double inv = 1 / std::sqrt(ss / double(p.d) + double(kEps));
    for (int64_t i = 0; i < p.d; ++i) l += p.dy[r * p.d + i] * x[r * p.d + i] * inv * w[i];
  }
  return l;
}

TEST(RmsNormBackwardTest, MatchesFiniteDifferencesOfTheForward) {
  for (int64_t d : {1, 5, 16, 37}) {
    const RmsNormProblem p(3, d, 40 + uint64_t(d));
    const std::vector<float> zero(size_t(d), 0.f);
    const std::vector<float> out = p.Run(MakeContext(Isa::kScalar, 1).ctx, zero);
    const std::vector<float> dx(out.begin(), out.begin() + p.m * d), dw(out.begin() + p.m * d, out.end());
    const auto xd = ToDouble(p.x), wd = ToDouble(p.w);
    EXPECT_TRUE(MatchesFiniteDifferences([&](const std::vector<double>& v) { return Loss(p, v, wd); },
                                         xd, dx, 1e-6, "dx")) << "D=" << d;
    EXPECT_TRUE(MatchesFiniteDifferences([&](const std::vector<double>& v) { return Loss(p, xd, v); },
                                         wd, dw, 1e-6, "dweight")) << "D=" << d;
  }
}

TEST(RmsNormBackwardTest, CloseToTheAnalyticGradientInDouble) {
  const RmsNormProblem p(40, 300, 7);
  const std::vector<float> out = p.Run(MakeContext(TestableIsas().back(), 2).ctx, p.dw0);
  std::vector<double> dx(size_t(p.m * p.d)), dw(ToDouble(p.dw0));
  for (int64_t r = 0; r < p.m; ++r) {
    double ss = 0, c = 0;
    for (int64_t i = 0; i < p.d; ++i) ss += double(p.x[r * p.d + i]) * p.x[r * p.d + i];
    const double inv = 1 / std::sqrt(ss / double(p.d) + double(kEps));
    for (int64_t i = 0; i < p.d; ++i) c += double(p.dy[r * p.d + i]) * p.w[i] * p.x[r * p.d + i] * inv;
    for (int64_t i = 0; i < p.d; ++i) {
      const double xhat = p.x[r * p.d + i] * inv;
      dx[r * p.d + i] = inv * (double(p.dy[r * p.d + i]) * p.w[i] - xhat * c / double(p.d));
      dw[i] += double(p.dy[r * p.d + i]) * xhat;
    }
  }
  EXPECT_TRUE(NearOracle(std::vector<float>(out.begin(), out.begin() + p.m * p.d), dx, 2e-6, "dx"));
  EXPECT_TRUE(NearOracle(std::vector<float>(out.begin() + p.m * p.d, out.end()), dw, 2e-6, "dweight"));
}

// With dy = 1 and dweight = +0, one row's dweight is fma(1, xhat, +0) = xhat: it must equal the
// forward RmsNorm with weight 1, ((x * inv) * 1), bit for bit — the backward recomputes the
// forward's inv exactly.
TEST(RmsNormBackwardTest, UsesTheForwardsNormalisedValuesBitForBit) {
  for (int64_t d : {3, 16, 100, 1027}) {
    const std::vector<float> x = RandomFloats(size_t(d), 99 + uint64_t(d), -3.f, 3.f);
    const std::vector<float> ones(size_t(d), 1.0f);
    for (Isa isa : TestableIsas()) {
      const auto h = MakeContext(isa, 1);
      std::vector<float> y(static_cast<size_t>(d)), dx(static_cast<size_t>(d)), dw(static_cast<size_t>(d), 0.0f);
      const TensorView xv = TensorView::Contiguous(x.data(), DType::kF32, {1, d});
      const TensorView wv = TensorView::Contiguous(ones.data(), DType::kF32, {d});
      ASSERT_TRUE(RmsNorm(h.ctx, xv, wv, kEps, TensorView::Contiguous(y.data(), DType::kF32, {1, d})).ok());
      ASSERT_TRUE(RmsNormBackward(h.ctx, xv, wv, kEps, TensorView::Contiguous(ones.data(), DType::kF32, {1, d}),
                                  TensorView::Contiguous(dx.data(), DType::kF32, {1, d}),
                                  TensorView::Contiguous(dw.data(), DType::kF32, {d})).ok());
      EXPECT_TRUE(BitsEqual(y, dw)) << "D=" << d << " " << IsaName(isa);
    }
  }
}

TEST(RmsNormBackwardTest, SameBitsOnEveryPathAndThreadCount) {
  const RmsNormProblem p(300, 96, 3);  // several row tasks and column tasks
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Run(c, p.dw0); }));
}

TEST(RmsNormBackwardTest, RowsAreIndependentAndDweightAccumulatesAcrossASplit) {
  const RmsNormProblem p(30, 40, 11);
  const auto h = MakeContext(TestableIsas().back(), 2);
  const std::vector<float> whole = p.Run(h.ctx, p.dw0);
  std::vector<float> dw = p.dw0, dx(size_t(p.m * p.d));
  int64_t begin = 0;
  for (int64_t end : {1, 17, 30}) {
    const int64_t rows = end - begin;
    auto view = [&](const float* base) { return TensorView::Contiguous(base + begin * p.d, DType::kF32, {rows, p.d}); };
    ASSERT_TRUE(RmsNormBackward(h.ctx, view(p.x.data()), p.W(p.w), kEps, view(p.dy.data()), view(dx.data()),
                                p.W(dw)).ok());
    begin = end;
  }
  EXPECT_TRUE(BitsEqual(whole.data(), dx.data(), dx.size())) << "dx";
  EXPECT_TRUE(BitsEqual(whole.data() + dx.size(), dw.data(), dw.size())) << "dweight";
}

TEST(RmsNormBackwardTest, InPlaceOverDyOrXGivesTheSameBits) {
  const RmsNormProblem p(9, 33, 21);
  const auto h = MakeContext(TestableIsas().back(), 2);
  const std::vector<float> ref = p.Run(h.ctx, p.dw0);
  {
    std::vector<float> dy = p.dy, dw = p.dw0;
    ASSERT_TRUE(RmsNormBackward(h.ctx, p.V(p.x), p.W(p.w), kEps, p.V(dy), p.V(dy), p.W(dw)).ok());
    EXPECT_TRUE(BitsEqual(ref.data(), dy.data(), dy.size())) << "dx == dy";
  }
  {
    std::vector<float> x = p.x, dw = p.dw0;
    ASSERT_TRUE(RmsNormBackward(h.ctx, p.V(x), p.W(p.w), kEps, p.V(p.dy), p.V(x), p.W(dw)).ok());
    EXPECT_TRUE(BitsEqual(ref.data(), x.data(), x.size())) << "dx == x";
  }
}

TEST(RmsNormBackwardTest, ErrorsNameTheOperand) {
  const RmsNormProblem p(2, 8, 1);
  const auto h = MakeContext(Isa::kScalar, 1);
  std::vector<float> dx(16), dw(7);
  const Status shape = RmsNormBackward(h.ctx, p.V(p.x), p.W(p.w), kEps, p.V(p.dy), p.V(dx),
                                       TensorView::Contiguous(dw.data(), DType::kF32, {7}));
  EXPECT_NE(shape.ToString().find("dweight [7] f32"), std::string::npos) << shape.ToString();
  const Status eps = RmsNormBackward(h.ctx, p.V(p.x), p.W(p.w), -1.f, p.V(p.dy), p.V(dx), p.W(p.dw0));
  EXPECT_NE(eps.ToString().find("eps"), std::string::npos) << eps.ToString();
  std::vector<float> buf(40);
  const Status overlap = RmsNormBackward(h.ctx, p.V(p.x), p.W(p.w), kEps, p.V(p.dy),
                                         TensorView::Contiguous(buf.data(), DType::kF32, {2, 8}),
                                         TensorView::Contiguous(buf.data() + 4, DType::kF32, {8}));
  EXPECT_NE(overlap.ToString().find("dweight overlaps dx"), std::string::npos) << overlap.ToString();
}

}  // namespace
}  // namespace detinfer
