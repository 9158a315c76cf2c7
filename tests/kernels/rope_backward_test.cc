// RopeBackwardInPlace. Oracles: a plain fp32 loop stating the transpose rotation
// (dx0 = dy0*c + dy1*s, dx1 = dy1*c - dy0*s on the table's values), which every path must equal
// bit for bit; central finite differences of L = sum dy * RoPE(x) with the rotation computed in
// double from the same fp32 table. Invariance: ISA paths and thread counts.
#include "kernels/rope_backward.h"

#include <gtest/gtest.h>

#include <vector>

#include "backward_test_util.h"
#include "test_util.h"

namespace detinfer {
namespace {

using backward_test::MatchesFiniteDifferences;
using backward_test::SameBitsEverywhere;
using backward_test::ToDouble;
using testing::BitsEqual;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

struct RopeCase {
  int head_dim, rotary_dim;
  RopeStyle style;
};
const RopeCase kCases[] = {{16, 16, RopeStyle::kRotateHalf}, {16, 16, RopeStyle::kInterleaved},
                       {64, 32, RopeStyle::kRotateHalf}, {24, 8, RopeStyle::kInterleaved},
                       {6, 6, RopeStyle::kRotateHalf}};

// Index of the partner of pair i's elements: (i, i + half) or (2i, 2i + 1).
void PairIndex(const RopeCase& c, int i, int* a, int* b) {
  if (c.style == RopeStyle::kInterleaved) {
    *a = 2 * i;
    *b = 2 * i + 1;
  } else {
    *a = i;
    *b = i + c.rotary_dim / 2;
  }
}

struct RopeProblem {
  RopeCase c;
  int64_t t, h;
  RopeTable table;
  std::vector<int32_t> pos;
  std::vector<float> dy;
  RopeProblem(const RopeCase& cs, int64_t tokens, int64_t heads, uint64_t seed) : c(cs), t(tokens), h(heads) {
    table = RopeTable::Create(c.head_dim, c.rotary_dim, 10000.0, 512).value();
    for (int64_t i = 0; i < t; ++i) pos.push_back(static_cast<int32_t>((i * 37 + int64_t(seed)) % 512));
    dy = RandomFloats(size_t(t * h * c.head_dim), seed);
  }
  std::vector<float> Run(const KernelContext& ctx) const {
    std::vector<float> g = dy;
    const Status st = RopeBackwardInPlace(
        ctx, table, c.style, TensorView::Contiguous(g.data(), DType::kF32, {t, h, int64_t{c.head_dim}}), pos.data());
    EXPECT_TRUE(st.ok()) << st.ToString();
    return g;
  }
  std::vector<float> Oracle() const {
    std::vector<float> g = dy;
    for (int64_t i = 0; i < t; ++i)
      for (int64_t hh = 0; hh < h; ++hh) {
        float* v = g.data() + (i * h + hh) * c.head_dim;
        for (int p = 0; p < c.rotary_dim / 2; ++p) {
          int a, b;
          PairIndex(c, p, &a, &b);
          const float cs = table.cos_row(pos[size_t(i)])[p], sn = table.sin_row(pos[size_t(i)])[p];
          const float d0 = v[a], d1 = v[b];
          v[a] = d0 * cs + d1 * sn;
          v[b] = d1 * cs - d0 * sn;
        }
      }
    return g;
  }
};

TEST(RopeBackwardTest, EveryPathEqualsTheTransposeRotation) {
  uint64_t seed = 1;
  for (const RopeCase& c : kCases) {
    const RopeProblem p(c, 19, 3, seed += 5);
    const std::vector<float> want = p.Oracle();
    for (Isa isa : TestableIsas()) {
      EXPECT_TRUE(BitsEqual(want, p.Run(MakeContext(isa, 2).ctx)))
          << "head_dim " << c.head_dim << " rotary " << c.rotary_dim << " " << IsaName(isa);
    }
  }
}

TEST(RopeBackwardTest, MatchesFiniteDifferencesOfTheForward) {
  for (const RopeCase& c : kCases) {
    const RopeProblem p(c, 3, 2, 9);
    const std::vector<double> x = ToDouble(RandomFloats(p.dy.size(), 4));
    // L(x) = sum dy * RoPE(x), the rotation in double with the table's (fp32) cos/sin.
    auto loss = [&](const std::vector<double>& xv) {
      double l = 0;
      for (int64_t i = 0; i < p.t; ++i)
        for (int64_t hh = 0; hh < p.h; ++hh) {
          const int64_t base = (i * p.h + hh) * c.head_dim;
          std::vector<double> y(xv.begin() + base, xv.begin() + base + c.head_dim);
          for (int q = 0; q < c.rotary_dim / 2; ++q) {
            int a, b;
            PairIndex(c, q, &a, &b);
            const double cs = p.table.cos_row(p.pos[size_t(i)])[q], sn = p.table.sin_row(p.pos[size_t(i)])[q];
            y[size_t(a)] = xv[size_t(base + a)] * cs - xv[size_t(base + b)] * sn;
            y[size_t(b)] = xv[size_t(base + a)] * sn + xv[size_t(base + b)] * cs;
          }
          for (int e = 0; e < c.head_dim; ++e) l += p.dy[size_t(base + e)] * y[size_t(e)];
        }
      return l;
    };
    EXPECT_TRUE(MatchesFiniteDifferences(loss, x, p.Run(MakeContext(Isa::kScalar, 1).ctx), 1e-6, "dx"))
        << "head_dim " << c.head_dim;
  }
}

TEST(RopeBackwardTest, SameBitsOnEveryPathAndThreadCount) {
  const RopeProblem p(kCases[2], 300, 4, 3);
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Run(c); }));
}

TEST(RopeBackwardTest, BadPositionIsOutOfRangeAndLeavesDxUntouched) {
  RopeProblem p(kCases[0], 4, 1, 2);
  p.pos[2] = 512;
  std::vector<float> g = p.dy;
  const Status st = RopeBackwardInPlace(MakeContext(Isa::kScalar, 1).ctx, p.table, p.c.style,
                                        TensorView::Contiguous(g.data(), DType::kF32, {4, 1, 16}), p.pos.data());
  EXPECT_EQ(st.code(), StatusCode::kOutOfRange);
  EXPECT_NE(st.ToString().find("position 512 (token 2)"), std::string::npos) << st.ToString();
  EXPECT_TRUE(BitsEqual(p.dy, g));
}

}  // namespace
}  // namespace detinfer
