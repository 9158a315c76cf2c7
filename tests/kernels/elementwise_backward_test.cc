// EmbeddingBackward. Oracles: a plain fp32 loop stating the chain (per table element, additions
// in ascending token order from the existing value), bit for bit; a double sum within the
// sequential-summation bound. Invariance: ISA paths, thread counts, accumulation over a split
// of the tokens (one call per sequence) vs one call.
#include "kernels/elementwise_backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backward_test_util.h"
#include "test_util.h"

namespace detinfer {
namespace {

using backward_test::SameBitsEverywhere;
using testing::BitsEqual;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

struct ElementwiseProblem {
  int64_t t, v, d;
  std::vector<int32_t> tokens;
  std::vector<float> dy, table0;
  ElementwiseProblem(int64_t t_, int64_t v_, int64_t d_, uint64_t seed) : t(t_), v(v_), d(d_) {
    std::mt19937_64 rng(seed);
    for (int64_t i = 0; i < t; ++i) tokens.push_back(static_cast<int32_t>(rng() % uint64_t(v)));
    dy = RandomFloats(size_t(t * d), seed + 1);
    table0 = RandomFloats(size_t(v * d), seed + 2);
  }
  std::vector<float> Run(const KernelContext& ctx) const {
    std::vector<float> table = table0;
    const Status st = EmbeddingBackward(ctx, tokens, TensorView::Contiguous(dy.data(), DType::kF32, {t, d}),
                                        TensorView::Contiguous(table.data(), DType::kF32, {v, d}));
    EXPECT_TRUE(st.ok()) << st.ToString();
    return table;
  }
};

TEST(EmbeddingBackwardTest, EqualsTheDocumentedChainAndADoubleSum) {
  const ElementwiseProblem p(200, 13, 70, 4);  // many repeats per row
  std::vector<float> want = p.table0;
  for (int64_t i = 0; i < p.t; ++i)
    for (int64_t c = 0; c < p.d; ++c) {
      float& dst = want[size_t(p.tokens[size_t(i)] * p.d + c)];
      dst = dst + p.dy[size_t(i * p.d + c)];
    }
  const std::vector<float> got = p.Run(MakeContext(TestableIsas().back(), 2).ctx);
  EXPECT_TRUE(BitsEqual(want, got));
  const double u = std::ldexp(1.0, -24);
  for (int64_t row = 0; row < p.v; ++row)
    for (int64_t c = 0; c < p.d; ++c) {
      double sum = p.table0[size_t(row * p.d + c)], mag = std::fabs(sum);
      int64_t count = 0;
      for (int64_t i = 0; i < p.t; ++i) {
        if (p.tokens[size_t(i)] != row) continue;
        sum += p.dy[size_t(i * p.d + c)];
        mag += std::fabs(p.dy[size_t(i * p.d + c)]);
        ++count;
      }
      const double gamma = double(count) * u / (1 - double(count) * u);
      ASSERT_LE(std::fabs(got[size_t(row * p.d + c)] - sum), gamma * mag) << row << "," << c;
    }
}

TEST(EmbeddingBackwardTest, SameBitsEverywhereAndAcrossATokenSplit) {
  const ElementwiseProblem p(150, 20, 200, 6);
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Run(c); }));
  const auto h = MakeContext(TestableIsas().back(), 2);
  const std::vector<float> whole = p.Run(h.ctx);
  std::vector<float> table = p.table0;
  int64_t begin = 0;
  for (int64_t end : {40, 41, 150}) {
    const std::span<const int32_t> toks(p.tokens.data() + begin, size_t(end - begin));
    ASSERT_TRUE(EmbeddingBackward(h.ctx, toks,
                                  TensorView::Contiguous(p.dy.data() + begin * p.d, DType::kF32, {end - begin, p.d}),
                                  TensorView::Contiguous(table.data(), DType::kF32, {p.v, p.d})).ok());
    begin = end;
  }
  EXPECT_TRUE(BitsEqual(whole, table));
}

TEST(EmbeddingBackwardTest, BadTokenIsOutOfRangeAndWritesNothing) {
  ElementwiseProblem p(5, 4, 3, 1);
  p.tokens[3] = 4;
  std::vector<float> table = p.table0;
  const Status st = EmbeddingBackward(MakeContext(Isa::kScalar, 1).ctx, p.tokens,
                                      TensorView::Contiguous(p.dy.data(), DType::kF32, {5, 3}),
                                      TensorView::Contiguous(table.data(), DType::kF32, {4, 3}));
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.ToString().find("token id 4 (index 3)"), std::string::npos) << st.ToString();
  EXPECT_TRUE(BitsEqual(p.table0, table));
  const Status shape = EmbeddingBackward(MakeContext(Isa::kScalar, 1).ctx, std::span<const int32_t>(p.tokens.data(), 4),
                                         TensorView::Contiguous(p.dy.data(), DType::kF32, {5, 3}),
                                         TensorView::Contiguous(table.data(), DType::kF32, {4, 3}));
  EXPECT_NE(shape.ToString().find("dy is [5, 3] f32 but must be [4, 3]"), std::string::npos) << shape.ToString();
}

}  // namespace
}  // namespace detinfer
