// CrossEntropyForwardBackward. Oracles: the engine's own LogSoftmax / Softmax (softmax.h) — the
// loss must be exactly -LogSoftmax[target] and dlogits exactly (Softmax - onehot) * scale, bit
// for bit, on every path; a double-precision log-sum-exp and softmax; central finite differences
// of scale * sum loss in double. Ignored rows, NaN rows, in place, ISA paths and thread counts.
#include "kernels/cross_entropy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "backward_test_util.h"
#include "kernels/softmax.h"
#include "test_util.h"

namespace detinfer {
namespace {

using backward_test::MatchesFiniteDifferences;
using backward_test::NearOracle;
using backward_test::SameBitsEverywhere;
using backward_test::ToDouble;
using testing::Bits;
using testing::BitsEqual;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

struct CeProblem {
  int64_t t, v;
  float scale;
  std::vector<float> logits;
  std::vector<int32_t> targets;
  CeProblem(int64_t t_, int64_t v_, uint64_t seed, float sc = 0.25f) : t(t_), v(v_), scale(sc) {
    logits = RandomFloats(size_t(t * v), seed, -8.f, 8.f);
    std::mt19937_64 rng(seed + 1);
    for (int64_t i = 0; i < t; ++i) targets.push_back(i % 5 == 4 ? -1 : static_cast<int32_t>(rng() % uint64_t(v)));
  }
  TensorView L(const std::vector<float>& x) const { return TensorView::Contiguous(x.data(), DType::kF32, {t, v}); }
  // loss followed by dlogits.
  std::vector<float> Run(const KernelContext& ctx) const {
    std::vector<float> loss(size_t(t), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> dl(logits.size(), std::numeric_limits<float>::quiet_NaN());
    const Status st = CrossEntropyForwardBackward(ctx, L(logits), targets, scale,
                                                  TensorView::Contiguous(loss.data(), DType::kF32, {t}), L(dl));
    EXPECT_TRUE(st.ok()) << st.ToString();
    loss.insert(loss.end(), dl.begin(), dl.end());
    return loss;
  }
};

TEST(CrossEntropyTest, EqualsTheEnginesLogSoftmaxAndSoftmaxBitForBit) {
  for (const int64_t v : {1, 7, 16, 300, 1001}) {
    const CeProblem p(23, v, 3 + uint64_t(v));
    for (Isa isa : TestableIsas()) {
      const auto h = MakeContext(isa, 2);
      const std::vector<float> out = p.Run(h.ctx);
      std::vector<float> ls(p.logits.size()), sm(p.logits.size());
      ASSERT_TRUE(LogSoftmax(h.ctx, p.L(p.logits), p.L(ls)).ok());
      ASSERT_TRUE(Softmax(h.ctx, p.L(p.logits), p.L(sm)).ok());
      for (int64_t r = 0; r < p.t; ++r) {
        const int32_t y = p.targets[size_t(r)];
        std::vector<float> want(size_t(v), 0.0f);
        float want_loss = 0.0f;
        if (y >= 0) {
          want_loss = -ls[size_t(r * v + y)];
          for (int64_t j = 0; j < v; ++j) {
            const float prob = sm[size_t(r * v + j)];
            want[size_t(j)] = (j == y ? prob - 1.0f : prob) * p.scale;
          }
        }
        ASSERT_EQ(Bits(out[size_t(r)]), Bits(want_loss)) << "loss row " << r << " V=" << v << " " << IsaName(isa);
        ASSERT_TRUE(BitsEqual(want.data(), out.data() + p.t + r * v, size_t(v)))
            << "dlogits row " << r << " V=" << v << " " << IsaName(isa);
      }
    }
  }
}

TEST(CrossEntropyTest, CloseToADoubleOracle) {
  const CeProblem p(40, 500, 9, 1.0f / 32);
  const std::vector<float> out = p.Run(MakeContext(TestableIsas().back(), 1).ctx);
  std::vector<double> loss(size_t(p.t)), dl(p.logits.size());
  for (int64_t r = 0; r < p.t; ++r) {
    const int32_t y = p.targets[size_t(r)];
    if (y < 0) continue;
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < p.v; ++j) m = std::fmax(m, p.logits[size_t(r * p.v + j)]);
    for (int64_t j = 0; j < p.v; ++j) s += std::exp(p.logits[size_t(r * p.v + j)] - m);
    loss[size_t(r)] = m + std::log(s) - p.logits[size_t(r * p.v + y)];
    for (int64_t j = 0; j < p.v; ++j) {
      dl[size_t(r * p.v + j)] = (std::exp(p.logits[size_t(r * p.v + j)] - m) / s - (j == y)) * p.scale;
    }
  }
  EXPECT_TRUE(NearOracle(std::vector<float>(out.begin(), out.begin() + p.t), loss, 1e-6, "loss"));
  EXPECT_TRUE(NearOracle(std::vector<float>(out.begin() + p.t, out.end()), dl, 1e-6, "dlogits"));
}

TEST(CrossEntropyTest, MatchesFiniteDifferencesOfScaleTimesTheSummedLoss) {
  const CeProblem p(4, 6, 12, 0.5f);
  const std::vector<float> out = p.Run(MakeContext(Isa::kScalar, 1).ctx);
  auto f = [&](const std::vector<double>& x) {
    double total = 0;
    for (int64_t r = 0; r < p.t; ++r) {
      const int32_t y = p.targets[size_t(r)];
      if (y < 0) continue;
      double s = 0;
      for (int64_t j = 0; j < p.v; ++j) s += std::exp(x[size_t(r * p.v + j)]);
      total += std::log(s) - x[size_t(r * p.v + y)];
    }
    return p.scale * total;
  };
  EXPECT_TRUE(MatchesFiniteDifferences(f, ToDouble(p.logits), std::vector<float>(out.begin() + p.t, out.end()),
                                       1e-6, "dlogits"));
}

TEST(CrossEntropyTest, IgnoredAndNaNRows) {
  CeProblem p(3, 5, 1);
  p.targets = {-1, 2, 0};
  p.logits[0] = std::numeric_limits<float>::quiet_NaN();  // ignored row: still +0
  p.logits[5 + 3] = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : TestableIsas()) {
    const std::vector<float> out = p.Run(MakeContext(isa, 1).ctx);
    EXPECT_EQ(Bits(out[0]), 0u);
    for (int j = 0; j < 5; ++j) EXPECT_EQ(Bits(out[size_t(3 + j)]), 0u) << "ignored row, j=" << j;
    EXPECT_EQ(Bits(out[1]), 0x7fc00000u);
    for (int j = 0; j < 5; ++j) EXPECT_EQ(Bits(out[size_t(3 + 5 + j)]), 0x7fc00000u) << "NaN row, j=" << j;
    EXPECT_TRUE(std::isfinite(out[2]));
  }
}

TEST(CrossEntropyTest, SameBitsEverywhereAndInPlace) {
  const CeProblem p(130, 257, 5);
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Run(c); }));
  const auto h = MakeContext(TestableIsas().back(), 2);
  const std::vector<float> ref = p.Run(h.ctx);
  std::vector<float> x = p.logits, loss(size_t(p.t));
  ASSERT_TRUE(CrossEntropyForwardBackward(h.ctx, p.L(x), p.targets, p.scale,
                                          TensorView::Contiguous(loss.data(), DType::kF32, {p.t}), p.L(x)).ok());
  EXPECT_TRUE(BitsEqual(ref.data(), loss.data(), loss.size()));
  EXPECT_TRUE(BitsEqual(ref.data() + p.t, x.data(), x.size()));
}

TEST(CrossEntropyTest, ErrorsNameTheOperand) {
  CeProblem p(2, 4, 1);
  std::vector<float> loss(2), dl(8);
  const auto h = MakeContext(Isa::kScalar, 1);
  auto run = [&](float scale) {
    return CrossEntropyForwardBackward(h.ctx, p.L(p.logits), p.targets, scale,
                                       TensorView::Contiguous(loss.data(), DType::kF32, {2}), p.L(dl));
  };
  p.targets = {1, 4};
  Status st = run(1.f);
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.ToString().find("target 4 (row 1)"), std::string::npos) << st.ToString();
  p.targets = {1, -2};
  EXPECT_NE(run(1.f).ToString().find("target -2 (row 1)"), std::string::npos);
  p.targets = {1, 2};
  EXPECT_NE(run(INFINITY).ToString().find("scale must be finite"), std::string::npos);
  p.targets = {1};
  EXPECT_NE(run(1.f).ToString().find("there are 1 targets"), std::string::npos) << run(1.f).ToString();
}

}  // namespace
}  // namespace detinfer
