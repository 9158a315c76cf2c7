// SoftmaxBackward (softmax_backward.h). Oracles: the closed form p_i (dp_i - sum_j p_j dp_j) in
// double; central finite differences of L = sum dp * softmax(x) through a double softmax; the
// documented fp32 order written as plain code (16 lanes + the fixed tree), which every path must
// equal bit for bit. Invariance (exact): ISA paths, 1-3 threads, a row alone vs in a batch of
// any row count, in-place outputs. Plus canonical NaNs and errors naming the operand.
#include "kernels/softmax_backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "backward_test_util.h"
#include "kernels/softmax.h"
#include "test_util.h"

namespace detinfer {
namespace {

using backward_test::MatchesFiniteDifferences;
using backward_test::SameBitsEverywhere;
using testing::Bits;
using testing::BitsEqual;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

// Rows of p = Softmax(logits) from the engine's forward (any valid probabilities would do; these
// are the ones a router saves) and a random upstream gradient dp.
struct SoftmaxBwdProblem {
  int64_t m, n;
  std::vector<float> logits, p, dp;
  SoftmaxBwdProblem(int64_t m_, int64_t n_, uint64_t seed, float spread = 4.f) : m(m_), n(n_) {
    logits = RandomFloats(size_t(m * n), seed, -spread, spread);
    dp = RandomFloats(size_t(m * n), seed + 1);
    p.assign(logits.size(), 0.0f);
    if (m * n > 0) {
      EXPECT_TRUE(Softmax(MakeContext(Isa::kScalar, 1).ctx, V(logits), V(p)).ok());
    }
  }
  TensorView V(const std::vector<float>& v) const { return TensorView::Contiguous(v.data(), DType::kF32, {m, n}); }
  std::vector<float> Run(const KernelContext& ctx) const {
    std::vector<float> dx(p.size(), std::numeric_limits<float>::quiet_NaN());
    const Status st = SoftmaxBackward(ctx, V(p), V(dp), V(dx));
    EXPECT_TRUE(st.ok()) << st.ToString();
    return dx;
  }
};

// gamma_n = n u / (1 - n u), u = 2^-24.
double SoftmaxBwdGamma(int64_t n) {
  const double u = std::ldexp(1.0, -24);
  return double(n) * u / (1 - double(n) * u);
}

// Elementwise within the rigorous bound of the documented order: s carries at most
// gamma_(n+4) * S (S = sum_j |p_j dp_j|; a lane chain of <= n fmas plus the 4-level tree), and
// dp_i - s and the product round once each, so
//   |dx_i - p_i (dp_i - s)| <= gamma_(n+7) * p_i * (|dp_i| + S).
TEST(SoftmaxBackwardTest, WithinTheRoundingBoundOfTheClosedFormInDouble) {
  double worst = 0;
  for (int64_t n : {1, 5, 16, 17, 64, 300}) {
    for (float spread : {0.5f, 4.f, 30.f}) {
      const SoftmaxBwdProblem pr(23, n, 100 + uint64_t(n), spread);
      const std::vector<float> dx = pr.Run(MakeContext(TestableIsas().back(), 2).ctx);
      for (int64_t r = 0; r < pr.m; ++r) {
        const float* p = pr.p.data() + r * n;
        const float* dp = pr.dp.data() + r * n;
        double s = 0, sabs = 0;
        for (int64_t j = 0; j < n; ++j) {
          s += double(p[j]) * dp[j];
          sabs += std::fabs(double(p[j]) * dp[j]);
        }
        for (int64_t i = 0; i < n; ++i) {
          const double want = p[i] * (dp[i] - s);
          const double bound = p[i] * (std::fabs(double(dp[i])) + sabs);
          const double err = std::fabs(dx[size_t(r * n + i)] - want);
          ASSERT_LE(err, SoftmaxBwdGamma(n + 7) * bound) << "n=" << n << " row " << r << " i " << i;
          if (bound > 0) worst = std::fmax(worst, err / bound);
        }
      }
    }
  }
  std::printf("[softmax_backward] max error vs double, in units of p_i*(|dp_i|+sum|p dp|): %.3g\n",
              worst);
}

TEST(SoftmaxBackwardTest, MatchesFiniteDifferencesThroughADoubleSoftmax) {
  // L(x) = sum_i dp_i * softmax(x)_i in double; the kernel gets p = softmax(x) rounded to f32.
  const int64_t n = 9;
  const std::vector<float> x = RandomFloats(size_t(n), 7, -3.f, 3.f), dp = RandomFloats(size_t(n), 8);
  auto softmax_d = [&](const std::vector<double>& v) {
    double mx = -INFINITY, l = 0;
    for (double a : v) mx = std::fmax(mx, a);
    std::vector<double> out(v.size());
    for (size_t i = 0; i < v.size(); ++i) l += (out[i] = std::exp(v[i] - mx));
    for (double& o : out) o /= l;
    return out;
  };
  const std::vector<double> xd(x.begin(), x.end());
  const std::vector<double> pd = softmax_d(xd);
  std::vector<float> p(pd.begin(), pd.end()), dx(static_cast<size_t>(n));
  auto v = [&](std::vector<float>& a) { return TensorView::Contiguous(a.data(), DType::kF32, {1, n}); };
  std::vector<float> dpc = dp;
  ASSERT_TRUE(SoftmaxBackward(MakeContext(Isa::kScalar, 1).ctx, v(p), v(dpc), v(dx)).ok());
  auto loss = [&](const std::vector<double>& xv) {
    const std::vector<double> s = softmax_d(xv);
    double l = 0;
    for (size_t i = 0; i < s.size(); ++i) l += dp[i] * s[i];
    return l;
  };
  EXPECT_TRUE(MatchesFiniteDifferences(loss, xd, dx, 1e-6, "dx"));
}

// The documented order as plain fp32 code: lanes j % 16 with fma from +0, the fixed tree, then
// p * (dp - s). Every path, thread count and row count must give exactly these bits.
TEST(SoftmaxBackwardTest, EveryPathEqualsTheDocumentedOrder) {
  const SoftmaxBwdProblem pr(70, 333, 5);
  std::vector<float> want(pr.p.size());
  for (int64_t r = 0; r < pr.m; ++r) {
    const float* p = pr.p.data() + r * pr.n;
    const float* dp = pr.dp.data() + r * pr.n;
    float lane[16] = {};
    for (int64_t j = 0; j < pr.n; ++j) lane[j % 16] = std::fma(p[j], dp[j], lane[j % 16]);
    for (int w = 8; w >= 1; w /= 2) {
      for (int j = 0; j < w; ++j) lane[j] = lane[j] + lane[j + w];
    }
    const float s = lane[0];
    for (int64_t i = 0; i < pr.n; ++i) want[size_t(r * pr.n + i)] = p[i] * (dp[i] - s);
  }
  EXPECT_TRUE(BitsEqual(want, pr.Run(MakeContext(Isa::kScalar, 1).ctx)));
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return pr.Run(c); }));
}

// A row's bits do not depend on the other rows or on M; dx may be p or dp itself.
TEST(SoftmaxBackwardTest, RowAloneEqualsTheRowInABatchAndInPlace) {
  const SoftmaxBwdProblem pr(64, 2000, 9);  // several rows per task and several tasks
  for (Isa isa : TestableIsas()) {
    const auto h = MakeContext(isa, 3);
    const std::vector<float> batch = pr.Run(h.ctx);
    for (int64_t r : {int64_t{0}, int64_t{31}, int64_t{63}}) {
      std::vector<float> p(pr.p.begin() + r * pr.n, pr.p.begin() + (r + 1) * pr.n);
      std::vector<float> dp(pr.dp.begin() + r * pr.n, pr.dp.begin() + (r + 1) * pr.n), dx(p.size());
      auto v = [&](std::vector<float>& a) { return TensorView::Contiguous(a.data(), DType::kF32, {1, pr.n}); };
      ASSERT_TRUE(SoftmaxBackward(MakeContext(Isa::kScalar, 1).ctx, v(p), v(dp), v(dx)).ok());
      EXPECT_TRUE(BitsEqual(dx.data(), batch.data() + r * pr.n, size_t(pr.n)))
          << "row " << r << " " << testing::IsaString(isa);
    }
    std::vector<float> p = pr.p, dp = pr.dp;
    ASSERT_TRUE(SoftmaxBackward(h.ctx, pr.V(p), pr.V(pr.dp), pr.V(p)).ok());
    EXPECT_TRUE(BitsEqual(batch, p)) << "dx over p";
    ASSERT_TRUE(SoftmaxBackward(h.ctx, pr.V(pr.p), pr.V(dp), pr.V(dp)).ok());
    EXPECT_TRUE(BitsEqual(batch, dp)) << "dx over dp";
  }
}

TEST(SoftmaxBackwardTest, NaNRowsAreCanonicalAndStayInTheirRow) {
  SoftmaxBwdProblem pr(3, 20, 13);
  pr.dp[size_t(20 + 4)] = std::numeric_limits<float>::quiet_NaN();
  pr.p[size_t(40 + 2)] = -std::numeric_limits<float>::quiet_NaN();  // sign bit set
  const SoftmaxBwdProblem clean(3, 20, 13);
  for (Isa isa : TestableIsas()) {
    const std::vector<float> dx = pr.Run(MakeContext(isa, 2).ctx);
    const std::vector<float> ref = clean.Run(MakeContext(isa, 2).ctx);
    EXPECT_TRUE(BitsEqual(dx.data(), ref.data(), 20)) << "row 0 must not see row 1's NaN";
    for (size_t i = 20; i < 60; ++i) EXPECT_EQ(Bits(dx[i]), 0x7fc00000u) << i;
  }
}

TEST(SoftmaxBackwardTest, ErrorsNameTheOperand) {
  const SoftmaxBwdProblem pr(2, 4, 1);
  const auto h = MakeContext(Isa::kScalar, 1);
  std::vector<float> dx(8);
  const Status shape = SoftmaxBackward(h.ctx, pr.V(pr.p), pr.V(pr.dp),
                                       TensorView::Contiguous(dx.data(), DType::kF32, {4, 2}));
  EXPECT_NE(shape.ToString().find("softmax_backward: dx has shape [4, 2] f32 but p is [2, 4] f32"),
            std::string::npos) << shape.ToString();
  const Status dpshape = SoftmaxBackward(h.ctx, pr.V(pr.p), TensorView::Contiguous(pr.dp.data(), DType::kF32, {1, 4}),
                                         pr.V(dx));
  EXPECT_NE(dpshape.ToString().find("softmax_backward: dp has shape [1, 4] f32"), std::string::npos)
      << dpshape.ToString();
  std::vector<float> buf(9);
  const Status overlap = SoftmaxBackward(h.ctx, pr.V(pr.p), TensorView::Contiguous(buf.data(), DType::kF32, {2, 4}),
                                         TensorView::Contiguous(buf.data() + 1, DType::kF32, {2, 4}));
  EXPECT_NE(overlap.ToString().find("dx [2, 4] f32 partially overlaps dp"), std::string::npos)
      << overlap.ToString();
  std::vector<uint16_t> half(8);
  const Status dtype = SoftmaxBackward(h.ctx, TensorView::Contiguous(half.data(), DType::kBF16, {2, 4}),
                                       pr.V(pr.dp), pr.V(dx));
  EXPECT_NE(dtype.ToString().find("softmax_backward: p must be f32"), std::string::npos) << dtype.ToString();
  // Empty rows and an empty batch are no-ops.
  const SoftmaxBwdProblem empty(3, 0, 2);
  EXPECT_TRUE(SoftmaxBackward(h.ctx, empty.V(empty.p), empty.V(empty.dp), empty.V(empty.p)).ok());
}

}  // namespace
}  // namespace detinfer
