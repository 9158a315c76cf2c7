// MatmulBackwardInput / MatmulBackwardWeight. Oracles:
//  - a plain fp32 loop stating the documented chains (fma over n ascending from +0 for dx; over
//    m ascending from the existing dw for dw): every path must equal it bit for bit;
//  - a double-precision loop: the fp32 result stays within the sequential-summation bound
//    gamma_(S+1) * sum |terms| (+ |initial dw|);
//  - central finite differences of L = sum dy * (x w^T), computed in double.
// Invariance (exact): ISA paths, 1-3 threads, a row of dx alone vs in a batch, and dw
// accumulated over a split of the rows vs in one call. BiasBackward: the same three oracles
// (plain chain, summation bound, finite differences) and the same invariances.
#include "kernels/matmul_backward.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backward_test_util.h"
#include "test_util.h"

namespace detinfer {
namespace {

using backward_test::MatchesFiniteDifferences;
using backward_test::SameBitsEverywhere;
using testing::BitsEqual;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

struct MatmulProblem {
  int64_t m, n, k;
  std::vector<float> dy, w, x, dw0;
  MatmulProblem(int64_t m_, int64_t n_, int64_t k_, uint64_t seed) : m(m_), n(n_), k(k_) {
    dy = RandomFloats(static_cast<size_t>(m * n), seed);
    w = RandomFloats(static_cast<size_t>(n * k), seed + 1);
    x = RandomFloats(static_cast<size_t>(m * k), seed + 2);
    dw0 = RandomFloats(static_cast<size_t>(n * k), seed + 3);
  }
  TensorView Dy() const { return TensorView::Contiguous(dy.data(), DType::kF32, {m, n}); }
  TensorView W() const { return TensorView::Contiguous(w.data(), DType::kF32, {n, k}); }
  TensorView X() const { return TensorView::Contiguous(x.data(), DType::kF32, {m, k}); }

  std::vector<float> Dx(const KernelContext& ctx) const {
    std::vector<float> dx(static_cast<size_t>(m * k), std::numeric_limits<float>::quiet_NaN());
    const Status st = MatmulBackwardInput(ctx, Dy(), W(), TensorView::Contiguous(dx.data(), DType::kF32, {m, k}));
    EXPECT_TRUE(st.ok()) << st.ToString();
    return dx;
  }
  std::vector<float> Dw(const KernelContext& ctx) const {
    std::vector<float> dw = dw0;
    const Status st = MatmulBackwardWeight(ctx, Dy(), X(), TensorView::Contiguous(dw.data(), DType::kF32, {n, k}));
    EXPECT_TRUE(st.ok()) << st.ToString();
    return dw;
  }
  // The documented chains, literally.
  std::vector<float> DxOracle() const {
    std::vector<float> dx(static_cast<size_t>(m * k));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t c = 0; c < k; ++c) {
        float acc = 0.0f;
        for (int64_t j = 0; j < n; ++j) acc = std::fma(dy[i * n + j], w[j * k + c], acc);
        dx[i * k + c] = acc;
      }
    return dx;
  }
  std::vector<float> DwOracle() const {
    std::vector<float> dw = dw0;
    for (int64_t j = 0; j < n; ++j)
      for (int64_t c = 0; c < k; ++c) {
        float acc = dw[j * k + c];
        for (int64_t i = 0; i < m; ++i) acc = std::fma(dy[i * n + j], x[i * k + c], acc);
        dw[j * k + c] = acc;
      }
    return dw;
  }
};

// Shapes crossing every tile edge: tails of 8/16-lane vectors, 4/6-row micro tiles, 48-row and
// 192-column tasks, the 256-step block, and degenerate sizes.
const int64_t kMatmulBackwardShapes[][3] = {{1, 1, 1},    {7, 13, 37},  {6, 16, 64},  {13, 300, 65},
                              {50, 9, 200}, {97, 257, 23}, {5, 0, 17},  {0, 4, 9},
                              {3, 5, 0},    {64, 64, 193}};

TEST(MatmulBackwardTest, EveryPathEqualsTheDocumentedChains) {
  uint64_t seed = 10;
  for (const auto& s : kMatmulBackwardShapes) {
    const MatmulProblem p(s[0], s[1], s[2], seed += 7);
    const std::vector<float> dx_ref = p.DxOracle(), dw_ref = p.DwOracle();
    for (Isa isa : TestableIsas()) {
      for (int threads : {1, 2}) {
        const auto h = MakeContext(isa, threads);
        EXPECT_TRUE(BitsEqual(dx_ref, p.Dx(h.ctx)))
            << "dx M=" << s[0] << " N=" << s[1] << " K=" << s[2] << " " << IsaName(isa);
        EXPECT_TRUE(BitsEqual(dw_ref, p.Dw(h.ctx)))
            << "dw M=" << s[0] << " N=" << s[1] << " K=" << s[2] << " " << IsaName(isa);
      }
    }
  }
}

// gamma_n = n u / (1 - n u): the rigorous bound of an n-step fp32 fma chain.
double Gamma(int64_t n) {
  const double u = std::ldexp(1.0, -24);
  return static_cast<double>(n) * u / (1 - static_cast<double>(n) * u);
}

TEST(MatmulBackwardTest, WithinTheSummationBoundOfADoubleOracle) {
  const MatmulProblem p(19, 300, 45, 3);
  const auto h = MakeContext(TestableIsas().back(), 2);
  const std::vector<float> dx = p.Dx(h.ctx), dw = p.Dw(h.ctx);
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t c = 0; c < p.k; ++c) {
      double want = 0, mag = 0;
      for (int64_t j = 0; j < p.n; ++j) {
        const double t = double(p.dy[i * p.n + j]) * double(p.w[j * p.k + c]);
        want += t;
        mag += std::fabs(t);
      }
      ASSERT_LE(std::fabs(dx[i * p.k + c] - want), Gamma(p.n + 1) * mag) << i << "," << c;
    }
  for (int64_t j = 0; j < p.n; ++j)
    for (int64_t c = 0; c < p.k; ++c) {
      double want = p.dw0[j * p.k + c], mag = std::fabs(want);
      for (int64_t i = 0; i < p.m; ++i) {
        const double t = double(p.dy[i * p.n + j]) * double(p.x[i * p.k + c]);
        want += t;
        mag += std::fabs(t);
      }
      ASSERT_LE(std::fabs(dw[j * p.k + c] - want), Gamma(p.m + 1) * mag) << j << "," << c;
    }
}

TEST(MatmulBackwardTest, MatchesFiniteDifferencesOfTheForward) {
  const MatmulProblem p(3, 4, 5, 77);
  // L(x, w) = sum_{m,n} dy[m,n] * sum_k x[m,k] w[n,k], in double.
  auto loss = [&](const std::vector<double>& xv, const std::vector<double>& wv) {
    double l = 0;
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        double y = 0;
        for (int64_t c = 0; c < p.k; ++c) y += xv[i * p.k + c] * wv[j * p.k + c];
        l += p.dy[i * p.n + j] * y;
      }
    return l;
  };
  const auto xd = backward_test::ToDouble(p.x), wd = backward_test::ToDouble(p.w);
  const auto h = MakeContext(Isa::kScalar, 1);
  EXPECT_TRUE(MatchesFiniteDifferences([&](const std::vector<double>& v) { return loss(v, wd); },
                                       xd, p.Dx(h.ctx), 1e-6, "dx"));
  // dw accumulates: start from zero for the gradient itself.
  MatmulProblem q = p;
  std::fill(q.dw0.begin(), q.dw0.end(), 0.0f);
  EXPECT_TRUE(MatchesFiniteDifferences([&](const std::vector<double>& v) { return loss(xd, v); },
                                       wd, q.Dw(h.ctx), 1e-6, "dw"));
}

TEST(MatmulBackwardTest, SameBitsOnEveryPathAndThreadCount) {
  const MatmulProblem p(130, 200, 150, 5);
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Dx(c); }));
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Dw(c); }));
}

// A row of dx depends only on its own dy row: alone (M = 1) it has the batch's bits.
TEST(MatmulBackwardTest, DxRowAloneEqualsTheRowInABatch) {
  const MatmulProblem p(29, 70, 90, 8);
  for (Isa isa : TestableIsas()) {
    const auto h = MakeContext(isa, 2);
    const std::vector<float> batch = p.Dx(h.ctx);
    for (int64_t i : {int64_t{0}, int64_t{13}, int64_t{28}}) {
      MatmulProblem one(1, p.n, p.k, 1);
      one.dy.assign(p.dy.begin() + i * p.n, p.dy.begin() + (i + 1) * p.n);
      one.w = p.w;
      EXPECT_TRUE(BitsEqual(one.Dx(h.ctx).data(), batch.data() + i * p.k, size_t(p.k)))
          << "row " << i << " " << IsaName(isa);
    }
  }
}

// The accumulation contract: calls over consecutive row ranges (sequences, in ascending order)
// continue one chain, so any split gives the bits of a single call over all rows.
TEST(MatmulBackwardTest, DwAccumulatedOverARowSplitEqualsOneCall) {
  const MatmulProblem p(70, 40, 33, 9);
  for (Isa isa : TestableIsas()) {
    const auto h = MakeContext(isa, 2);
    const std::vector<float> whole = p.Dw(h.ctx);
    for (const std::vector<int64_t>& cuts :
         {std::vector<int64_t>{1}, {35}, {69}, {3, 10, 50}, {0, 70}}) {
      std::vector<float> dw = p.dw0;
      const TensorView dwv = TensorView::Contiguous(dw.data(), DType::kF32, {p.n, p.k});
      int64_t begin = 0;
      std::vector<int64_t> ends = cuts;
      ends.push_back(p.m);
      for (int64_t end : ends) {
        const TensorView dy = TensorView::Contiguous(p.dy.data() + begin * p.n, DType::kF32, {end - begin, p.n});
        const TensorView x = TensorView::Contiguous(p.x.data() + begin * p.k, DType::kF32, {end - begin, p.k});
        ASSERT_TRUE(MatmulBackwardWeight(h.ctx, dy, x, dwv).ok());
        begin = end;
      }
      EXPECT_TRUE(BitsEqual(whole, dw)) << IsaName(isa) << " split at " << cuts[0];
    }
  }
}

TEST(MatmulBackwardTest, StridedRowsAreHonoured) {
  const MatmulProblem p(9, 20, 30, 12);
  // The same operands inside wider buffers (row strides larger than the row length).
  std::vector<float> dy_wide(size_t(9 * 25)), x_wide(size_t(9 * 40)), dx_wide(size_t(9 * 31), -7.f);
  for (int64_t i = 0; i < 9; ++i) {
    std::copy_n(p.dy.begin() + i * 20, 20, dy_wide.begin() + i * 25);
    std::copy_n(p.x.begin() + i * 30, 30, x_wide.begin() + i * 40);
  }
  auto view = [](std::vector<float>& v, int64_t r, int64_t c, int64_t ld) {
    TensorView t = TensorView::Contiguous(v.data(), DType::kF32, {r, c});
    t.stride[0] = ld;
    return t;
  };
  const auto h = MakeContext(TestableIsas().back(), 2);
  ASSERT_TRUE(MatmulBackwardInput(h.ctx, view(dy_wide, 9, 20, 25), p.W(), view(dx_wide, 9, 30, 31)).ok());
  const std::vector<float> dx = p.DxOracle();
  for (int64_t i = 0; i < 9; ++i) {
    EXPECT_TRUE(BitsEqual(dx.data() + i * 30, dx_wide.data() + i * 31, 30)) << "row " << i;
    EXPECT_EQ(dx_wide[size_t(i * 31 + 30)], -7.f) << "padding of row " << i << " was written";
  }
  std::vector<float> dw = p.dw0;
  ASSERT_TRUE(MatmulBackwardWeight(h.ctx, view(dy_wide, 9, 20, 25), view(x_wide, 9, 30, 40),
                                   TensorView::Contiguous(dw.data(), DType::kF32, {20, 30})).ok());
  EXPECT_TRUE(BitsEqual(p.DwOracle(), dw));
}

TEST(MatmulBackwardTest, ErrorsNameTheOperand) {
  const MatmulProblem p(4, 5, 6, 1);
  const auto h = MakeContext(Isa::kScalar, 1);
  std::vector<float> out(100);
  const Status bad_dx = MatmulBackwardInput(h.ctx, p.Dy(), p.W(), TensorView::Contiguous(out.data(), DType::kF32, {4, 7}));
  EXPECT_FALSE(bad_dx.ok());
  EXPECT_NE(bad_dx.ToString().find("dx is [4, 7] f32 but must be [4, 6] f32"), std::string::npos) << bad_dx.ToString();
  const Status bad_w = MatmulBackwardInput(h.ctx, p.Dy(), p.X(), TensorView::Contiguous(out.data(), DType::kF32, {4, 6}));
  EXPECT_NE(bad_w.ToString().find("w is [4, 6] f32 but must be [5, 6] f32"), std::string::npos) << bad_w.ToString();
  const Status bad_dw = MatmulBackwardWeight(h.ctx, p.Dy(), p.X(), TensorView::Contiguous(out.data(), DType::kF32, {6, 5}));
  EXPECT_NE(bad_dw.ToString().find("dw is [6, 5] f32"), std::string::npos) << bad_dw.ToString();
  std::vector<float> shared(64);  // dw's storage overlapping dy's
  const TensorView dy_in = TensorView::Contiguous(shared.data(), DType::kF32, {4, 5});
  const Status overlap = MatmulBackwardWeight(h.ctx, dy_in, p.X(), TensorView::Contiguous(shared.data() + 10, DType::kF32, {5, 6}));
  EXPECT_NE(overlap.ToString().find("dw overlaps dy"), std::string::npos) << overlap.ToString();
  std::vector<uint16_t> half(30);
  const Status dtype = MatmulBackwardInput(h.ctx, p.Dy(), TensorView::Contiguous(half.data(), DType::kBF16, {5, 6}),
                                           TensorView::Contiguous(out.data(), DType::kF32, {4, 6}));
  EXPECT_FALSE(dtype.ok());
  EXPECT_NE(dtype.ToString().find("matmul_backward_input: w"), std::string::npos) << dtype.ToString();
}

// ---- BiasBackward: dbias[n] continues acc = acc + dy[m,n] over m ascending ----

struct BiasProblem {
  int64_t m, n;
  std::vector<float> dy, db0;
  BiasProblem(int64_t m_, int64_t n_, uint64_t seed) : m(m_), n(n_) {
    dy = RandomFloats(static_cast<size_t>(m * n), seed);
    db0 = RandomFloats(static_cast<size_t>(n), seed + 1);
  }
  TensorView Dy() const { return TensorView::Contiguous(dy.data(), DType::kF32, {m, n}); }
  std::vector<float> Run(const KernelContext& ctx) const {
    std::vector<float> db = db0;
    const Status st = BiasBackward(ctx, Dy(), TensorView::Contiguous(db.data(), DType::kF32, {n}));
    EXPECT_TRUE(st.ok()) << st.ToString();
    return db;
  }
};

// Within the rigorous bound of an M-step fp32 summation of the column (initial value included)
// against the sum in double; and the gradient of L = sum dy * (x w^T + b) w.r.t. b (finite
// differences in double) when dbias starts at zero.
TEST(MatmulBackwardTest, BiasWithinTheSummationBoundOfADoubleOracle) {
  const BiasProblem p(300, 77, 21);
  const std::vector<float> db = p.Run(MakeContext(TestableIsas().back(), 2).ctx);
  for (int64_t j = 0; j < p.n; ++j) {
    double want = p.db0[size_t(j)], mag = std::fabs(want);
    for (int64_t i = 0; i < p.m; ++i) {
      want += p.dy[size_t(i * p.n + j)];
      mag += std::fabs(double(p.dy[size_t(i * p.n + j)]));
    }
    ASSERT_LE(std::fabs(db[size_t(j)] - want), Gamma(p.m) * mag) << "column " << j;
  }
  BiasProblem z(4, 6, 22);
  std::fill(z.db0.begin(), z.db0.end(), 0.0f);
  auto loss = [&](const std::vector<double>& b) {
    double l = 0;
    for (int64_t i = 0; i < z.m; ++i)
      for (int64_t j = 0; j < z.n; ++j) l += z.dy[size_t(i * z.n + j)] * (0.25 + b[size_t(j)]);
    return l;
  };
  EXPECT_TRUE(MatchesFiniteDifferences(loss, std::vector<double>(6, 0.5), z.Run(MakeContext(Isa::kScalar, 1).ctx),
                                       1e-6, "dbias"));
}

// Every path equals the documented chain written as plain fp32 code, bit for bit; 1-3 threads;
// columns crossing the task blocks.
TEST(MatmulBackwardTest, BiasEveryPathEqualsTheDocumentedChain) {
  const BiasProblem p(45, 700, 23);
  std::vector<float> want = p.db0;
  for (int64_t j = 0; j < p.n; ++j) {
    float acc = want[size_t(j)];
    for (int64_t i = 0; i < p.m; ++i) acc = acc + p.dy[size_t(i * p.n + j)];
    want[size_t(j)] = acc;
  }
  EXPECT_TRUE(BitsEqual(want, p.Run(MakeContext(Isa::kScalar, 1).ctx)));
  EXPECT_TRUE(SameBitsEverywhere([&](const KernelContext& c) { return p.Run(c); }));
}

// The accumulation contract: calls over consecutive row ranges continue one chain, so any split
// of the rows (one call per sequence, ascending) gives the bits of one call over all rows.
TEST(MatmulBackwardTest, BiasAccumulatedOverARowSplitEqualsOneCall) {
  const BiasProblem p(70, 300, 24);
  for (Isa isa : TestableIsas()) {
    for (int threads : {1, 3}) {
      const auto h = MakeContext(isa, threads);
      const std::vector<float> whole = p.Run(h.ctx);
      for (const std::vector<int64_t>& cuts :
           {std::vector<int64_t>{1}, {35}, {69}, {3, 10, 50}, {0, 70}}) {
        std::vector<float> db = p.db0;
        const TensorView dbv = TensorView::Contiguous(db.data(), DType::kF32, {p.n});
        int64_t begin = 0;
        std::vector<int64_t> ends = cuts;
        ends.push_back(p.m);
        for (int64_t end : ends) {
          const TensorView dy =
              TensorView::Contiguous(p.dy.data() + begin * p.n, DType::kF32, {end - begin, p.n});
          ASSERT_TRUE(BiasBackward(h.ctx, dy, dbv).ok());
          begin = end;
        }
        EXPECT_TRUE(BitsEqual(whole, db)) << IsaName(isa) << " threads " << threads << " split at "
                                          << cuts[0];
      }
    }
  }
}

TEST(MatmulBackwardTest, BiasStridedRowsAndErrors) {
  const BiasProblem p(9, 20, 25);
  std::vector<float> wide(size_t(9 * 27), 1e30f);
  for (int64_t i = 0; i < 9; ++i) std::copy_n(p.dy.begin() + i * 20, 20, wide.begin() + i * 27);
  TensorView dyw = TensorView::Contiguous(wide.data(), DType::kF32, {9, 20});
  dyw.stride[0] = 27;
  const auto h = MakeContext(TestableIsas().back(), 2);
  std::vector<float> db = p.db0;
  ASSERT_TRUE(BiasBackward(h.ctx, dyw, TensorView::Contiguous(db.data(), DType::kF32, {20})).ok());
  EXPECT_TRUE(BitsEqual(p.Run(h.ctx), db));

  std::vector<float> out(30);
  const Status shape = BiasBackward(h.ctx, p.Dy(), TensorView::Contiguous(out.data(), DType::kF32, {21}));
  EXPECT_NE(shape.ToString().find("bias_backward: dbias is [21] f32 but must be [20] f32"), std::string::npos)
      << shape.ToString();
  const Status rank = BiasBackward(h.ctx, p.Dy(), TensorView::Contiguous(out.data(), DType::kF32, {1, 20}));
  EXPECT_NE(rank.ToString().find("bias_backward: dbias"), std::string::npos) << rank.ToString();
  std::vector<float> shared(200);
  const Status overlap = BiasBackward(h.ctx, TensorView::Contiguous(shared.data(), DType::kF32, {9, 20}),
                                      TensorView::Contiguous(shared.data() + 170, DType::kF32, {20}));
  EXPECT_NE(overlap.ToString().find("bias_backward: dbias overlaps dy"), std::string::npos) << overlap.ToString();
  std::vector<uint16_t> half(180);
  const Status dtype = BiasBackward(h.ctx, TensorView::Contiguous(half.data(), DType::kBF16, {9, 20}),
                                    TensorView::Contiguous(out.data(), DType::kF32, {20}));
  EXPECT_NE(dtype.ToString().find("bias_backward: dy"), std::string::npos) << dtype.ToString();
  // M = 0: dbias keeps its bits.
  std::vector<float> keep = p.db0;
  ASSERT_TRUE(BiasBackward(h.ctx, TensorView::Contiguous(p.dy.data(), DType::kF32, {0, 20}),
                           TensorView::Contiguous(keep.data(), DType::kF32, {20})).ok());
  EXPECT_TRUE(BitsEqual(p.db0, keep));
}

}  // namespace
}  // namespace detinfer
