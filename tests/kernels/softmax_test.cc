// The softmax family: accuracy against a double oracle, exact row / batch / thread / ISA
// invariance, argmax ties, documented special values, operand validation.
#include "kernels/softmax.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "kernels/math.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::Bits;
using testing::BitsEqual;
using testing::MakeContext;
using testing::MaxErrorRelativeToPeak;
using testing::TestableIsas;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr uint32_t kCanonicalNaN = 0x7fc00000u;

TensorView View(const std::vector<float>& v, int64_t m, int64_t n) {
  return TensorView::Contiguous(v.data(), DType::kF32, {m, n});
}

// The three float-valued ops as [M, N] -> vector (lse gives M values).
enum class Op { kLse, kLogSoftmax, kSoftmax };
const Op kOps[] = {Op::kLse, Op::kLogSoftmax, Op::kSoftmax};
const char* OpName(Op op) {
  return op == Op::kLse ? "lse" : op == Op::kLogSoftmax ? "log_softmax" : "softmax";
}

std::vector<float> RunOp(Op op, const KernelContext& ctx, const std::vector<float>& x, int64_t m,
                         int64_t n) {
  std::vector<float> out(static_cast<size_t>(op == Op::kLse ? m : m * n), -12345.0f);
  Status s;
  switch (op) {
    case Op::kLse:
      s = LogSumExp(ctx, View(x, m, n), TensorView::Contiguous(out.data(), DType::kF32, {m}));
      break;
    case Op::kLogSoftmax: s = LogSoftmax(ctx, View(x, m, n), View(out, m, n)); break;
    case Op::kSoftmax: s = Softmax(ctx, View(x, m, n), View(out, m, n)); break;
  }
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

std::vector<int32_t> RunArgmax(const KernelContext& ctx, const std::vector<float>& x, int64_t m,
                               int64_t n) {
  std::vector<int32_t> idx(static_cast<size_t>(m), -1);
  const Status s = Argmax(ctx, View(x, m, n), idx);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return idx;
}

// Plain double-precision oracle for one row.
void Oracle(const float* x, int64_t n, double* lse, double* lsm, double* sm) {
  double m = -INFINITY;
  for (int64_t j = 0; j < n; ++j) m = std::max(m, static_cast<double>(x[j]));
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += std::exp(static_cast<double>(x[j]) - m);
  *lse = m + std::log(s);
  for (int64_t j = 0; j < n; ++j) {
    lsm[j] = static_cast<double>(x[j]) - *lse;
    sm[j] = std::exp(static_cast<double>(x[j]) - m) / s;
  }
}

// Documented tolerances (relative to the peak |oracle| of each row), measured max well below.
constexpr double kLseTol = 1e-6, kLogSoftmaxTol = 2e-6, kSoftmaxTol = 1e-5;

TEST(SoftmaxTest, AccuracyAgainstDoubleOracle) {
  double worst[3] = {0, 0, 0};
  for (int64_t n : {1, 15, 16, 17, 31, 100, 32000}) {
    const int64_t m = 3;
    const std::vector<float> x =
        testing::RandomFloats(static_cast<size_t>(m * n), 100 + static_cast<uint64_t>(n), -12.f, 12.f);
    for (Isa isa : TestableIsas()) {
      auto h = MakeContext(isa, 2);
      const std::vector<float> lse = RunOp(Op::kLse, h.ctx, x, m, n);
      const std::vector<float> lsm = RunOp(Op::kLogSoftmax, h.ctx, x, m, n);
      const std::vector<float> sm = RunOp(Op::kSoftmax, h.ctx, x, m, n);
      std::vector<double> wl(static_cast<size_t>(n)), ws(static_cast<size_t>(n));
      for (int64_t r = 0; r < m; ++r) {
        double wlse;
        Oracle(x.data() + r * n, n, &wlse, wl.data(), ws.data());
        const double e0 = MaxErrorRelativeToPeak(&lse[static_cast<size_t>(r)], &wlse, 1);
        const double e1 = MaxErrorRelativeToPeak(lsm.data() + r * n, wl.data(), static_cast<size_t>(n));
        const double e2 = MaxErrorRelativeToPeak(sm.data() + r * n, ws.data(), static_cast<size_t>(n));
        EXPECT_LE(e0, kLseTol) << "n=" << n;
        EXPECT_LE(e1, kLogSoftmaxTol) << "n=" << n;
        EXPECT_LE(e2, kSoftmaxTol) << "n=" << n;
        worst[0] = std::max(worst[0], e0);
        worst[1] = std::max(worst[1], e1);
        worst[2] = std::max(worst[2], e2);
      }
    }
  }
  std::fprintf(stderr, "[detinfer] softmax family max error / peak: lse %.3g, log_softmax %.3g, "
               "softmax %.3g\n", worst[0], worst[1], worst[2]);
}

// Row i of an M-row call equals, bit for bit, that row computed alone on the scalar path with
// one thread — for every M, thread count, ISA path and row position (rows are also permuted).
void CheckRowInvariance(int64_t n, std::initializer_list<int64_t> ms) {
  const int64_t kMaxM = 512;
  std::vector<float> pool = testing::RandomFloats(static_cast<size_t>(kMaxM * n), 5, -20.f, 20.f);
  // A few -Inf (masked) entries and repeated maxima, so those paths are exercised too.
  for (int64_t r = 0; r < kMaxM; r += 3) pool[static_cast<size_t>(r * n + (r % n))] = -kInf;
  for (int64_t r = 1; r < kMaxM; r += 5) pool[static_cast<size_t>(r * n + n - 1)] = 25.0f;
  for (int64_t r = 1; r < kMaxM; r += 5) pool[static_cast<size_t>(r * n)] = 25.0f;

  auto alone = MakeContext(Isa::kScalar, 1);
  std::vector<std::vector<float>> ref[3];
  std::vector<int32_t> ref_arg;
  for (int64_t r = 0; r < kMaxM; ++r) {
    const std::vector<float> row(pool.begin() + r * n, pool.begin() + (r + 1) * n);
    for (int o = 0; o < 3; ++o) ref[o].push_back(RunOp(kOps[o], alone.ctx, row, 1, n));
    ref_arg.push_back(RunArgmax(alone.ctx, row, 1, n)[0]);
  }
  for (int64_t m : ms) {
    for (bool reversed : {false, true}) {
      std::vector<int64_t> src(static_cast<size_t>(m));
      for (int64_t i = 0; i < m; ++i) src[static_cast<size_t>(i)] = reversed ? kMaxM - 1 - i : i;
      std::vector<float> x;
      for (int64_t s : src) x.insert(x.end(), pool.begin() + s * n, pool.begin() + (s + 1) * n);
      for (Isa isa : TestableIsas()) {
        for (int threads : {1, 2, 3, 5}) {
          SCOPED_TRACE(testing::IsaString(isa) + " threads=" + std::to_string(threads) +
                       " M=" + std::to_string(m) + " N=" + std::to_string(n) +
                       (reversed ? " reversed" : ""));
          auto h = MakeContext(isa, threads);
          for (int o = 0; o < 3; ++o) {
            const std::vector<float> got = RunOp(kOps[o], h.ctx, x, m, n);
            const size_t w = kOps[o] == Op::kLse ? 1 : static_cast<size_t>(n);
            for (int64_t i = 0; i < m; ++i) {
              ASSERT_TRUE(BitsEqual(got.data() + static_cast<size_t>(i) * w,
                                    ref[o][static_cast<size_t>(src[static_cast<size_t>(i)])].data(), w))
                  << OpName(kOps[o]) << " row " << i;
            }
          }
          const std::vector<int32_t> arg = RunArgmax(h.ctx, x, m, n);
          for (int64_t i = 0; i < m; ++i) {
            ASSERT_EQ(arg[static_cast<size_t>(i)], ref_arg[static_cast<size_t>(src[static_cast<size_t>(i)])]);
          }
        }
      }
    }
  }
}

TEST(SoftmaxTest, RowInvarianceAcrossBatchThreadsAndIsas) {
  CheckRowInvariance(100, {1, 2, 3, 7, 16, 64, 129, 512});
  CheckRowInvariance(17, {1, 3, 129});
}

TEST(SoftmaxTest, RowInvarianceOddWidths) {
  for (int64_t n : {1, 15, 31, 32000}) CheckRowInvariance(n, {1, 3});
}

TEST(SoftmaxTest, InPlaceEqualsOutOfPlace) {
  const int64_t m = 5, n = 37;
  const std::vector<float> x = testing::RandomFloats(static_cast<size_t>(m * n), 9, -8.f, 8.f);
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 2);
    for (Op op : {Op::kLogSoftmax, Op::kSoftmax}) {
      const std::vector<float> want = RunOp(op, h.ctx, x, m, n);
      std::vector<float> buf = x;
      const Status s = op == Op::kSoftmax ? Softmax(h.ctx, View(buf, m, n), View(buf, m, n))
                                          : LogSoftmax(h.ctx, View(buf, m, n), View(buf, m, n));
      ASSERT_TRUE(s.ok());
      EXPECT_TRUE(BitsEqual(buf, want)) << OpName(op);
    }
  }
}

TEST(SoftmaxTest, ArgmaxTiesAndSpecials) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    std::vector<float> row;
    int32_t want;
  };
  std::vector<Case> cases = {
      {{1, 3, 3, 2}, 1},
      {{5, 5, 5}, 0},
      {{-0.0f, 0.0f}, 0},
      {{0.0f, -0.0f}, 0},
      {{-kInf, -kInf, -kInf}, 0},
      {{1, kInf, 2, kInf}, 1},
      {{1, 2, nan, 7, nan}, 2},
      {{nan}, 0},
      {{-1}, 0},
  };
  // Ties and maxima in the vector tails: width 40, max 9 at 35 and 39; a NaN at 38 only.
  std::vector<float> wide(40, 1.0f);
  wide[35] = wide[39] = 9.0f;
  cases.push_back({wide, 35});
  wide[38] = nan;
  cases.push_back({wide, 38});
  std::vector<float> big(32000, -3.0f);
  big[31999] = big[17] = big[16] = 4.0f;
  cases.push_back({big, 16});
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 3);
    for (const Case& c : cases) {
      const int64_t n = static_cast<int64_t>(c.row.size());
      EXPECT_EQ(RunArgmax(h.ctx, c.row, 1, n)[0], c.want)
          << testing::IsaString(isa) << " n=" << n;
    }
  }
}

TEST(SoftmaxTest, SpecialValuesAsDocumented) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (Isa isa : TestableIsas()) {
    SCOPED_TRACE(testing::IsaString(isa));
    auto h = MakeContext(isa, 1);
    // NaN anywhere -> every output of the row is the canonical NaN (the NaN sits in the tail).
    std::vector<float> x = testing::RandomFloats(20, 3);
    x[18] = -nan;
    for (Op op : kOps) {
      for (float v : RunOp(op, h.ctx, x, 1, 20)) EXPECT_EQ(Bits(v), kCanonicalNaN) << OpName(op);
    }
    // -Inf entries: log-prob -Inf, prob 0; the rest as if they were absent.
    std::vector<float> masked = {1.0f, -kInf, 2.0f, -kInf};
    const std::vector<float> kept = {1.0f, 2.0f};
    const std::vector<float> lsm = RunOp(Op::kLogSoftmax, h.ctx, masked, 1, 4);
    const std::vector<float> lsm2 = RunOp(Op::kLogSoftmax, h.ctx, kept, 1, 2);
    const std::vector<float> sm = RunOp(Op::kSoftmax, h.ctx, masked, 1, 4);
    EXPECT_EQ(lsm[1], -kInf);
    EXPECT_EQ(lsm[3], -kInf);
    EXPECT_EQ(Bits(sm[1]), Bits(0.0f));
    EXPECT_EQ(Bits(lsm[0]), Bits(lsm2[0]));
    EXPECT_EQ(Bits(lsm[2]), Bits(lsm2[1]));
    EXPECT_EQ(Bits(RunOp(Op::kLse, h.ctx, masked, 1, 4)[0]), Bits(RunOp(Op::kLse, h.ctx, kept, 1, 2)[0]));
    // +Inf entries (c = 2 of them): lse +Inf, log_softmax -log 2 / -Inf, softmax 1/2 / 0.
    const std::vector<float> pinf = {1.0f, kInf, -kInf, kInf, 3.0f};
    EXPECT_EQ(RunOp(Op::kLse, h.ctx, pinf, 1, 5)[0], kInf);
    const std::vector<float> pl = RunOp(Op::kLogSoftmax, h.ctx, pinf, 1, 5);
    const std::vector<float> ps = RunOp(Op::kSoftmax, h.ctx, pinf, 1, 5);
    const float minus_log2 = -LogF(2.0f);
    const std::vector<float> want_l = {-kInf, minus_log2, -kInf, minus_log2, -kInf};
    const std::vector<float> want_s = {0.0f, 0.5f, 0.0f, 0.5f, 0.0f};
    EXPECT_TRUE(BitsEqual(pl, want_l));
    EXPECT_TRUE(BitsEqual(ps, want_s));
    // All -Inf: lse -Inf, uniform log_softmax -log N and softmax 1/N.
    const std::vector<float> ninf(3, -kInf);
    EXPECT_EQ(RunOp(Op::kLse, h.ctx, ninf, 1, 3)[0], -kInf);
    for (float v : RunOp(Op::kLogSoftmax, h.ctx, ninf, 1, 3)) EXPECT_EQ(Bits(v), Bits(-LogF(3.0f)));
    for (float v : RunOp(Op::kSoftmax, h.ctx, ninf, 1, 3)) EXPECT_EQ(Bits(v), Bits(1.0f / 3.0f));
    // Huge finite values: no overflow (shifted by the max).
    const std::vector<float> huge = {3e38f, 3e38f, -3e38f};
    const std::vector<float> hs = RunOp(Op::kSoftmax, h.ctx, huge, 1, 3);
    EXPECT_EQ(hs[0], 0.5f);
    EXPECT_EQ(hs[2], 0.0f);
    EXPECT_EQ(RunOp(Op::kLse, h.ctx, huge, 1, 3)[0], 3e38f);
    // N == 0: lse = -Inf; the others write nothing.
    std::vector<float> none;
    std::vector<float> lse0(2, 7.0f);
    ASSERT_TRUE(LogSumExp(h.ctx, TensorView::Contiguous(none.data(), DType::kF32, {2, 0}),
                          TensorView::Contiguous(lse0.data(), DType::kF32, {2})).ok());
    EXPECT_EQ(lse0[0], -kInf);
    EXPECT_EQ(lse0[1], -kInf);
    EXPECT_TRUE(Softmax(h.ctx, TensorView::Contiguous(none.data(), DType::kF32, {2, 0}),
                        TensorView::Contiguous(none.data(), DType::kF32, {2, 0})).ok());
  }
}

TEST(SoftmaxTest, RejectsBadOperands) {
  auto h = MakeContext(Isa::kScalar, 1);
  std::vector<float> a(32), b(32);
  auto v = [](float* p, std::initializer_list<int64_t> s) {
    return TensorView::Contiguous(p, DType::kF32, s);
  };
  Status s = LogSoftmax(h.ctx, v(a.data(), {3, 4}), v(b.data(), {3, 5}));
  EXPECT_EQ(s.message(), "log_softmax: out has shape [3, 5] f32 but x is [3, 4] f32");
  s = Softmax(h.ctx, v(a.data(), {3, 4}), v(b.data(), {4, 3}));
  EXPECT_EQ(s.message(), "softmax: out has shape [4, 3] f32 but x is [3, 4] f32");
  s = LogSumExp(h.ctx, v(a.data(), {3, 4}), v(b.data(), {4}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("log_sum_exp: lse has shape [4] f32"), std::string::npos);
  EXPECT_FALSE(LogSumExp(h.ctx, v(a.data(), {3, 4}), v(a.data(), {3})).ok());  // overlaps x
  EXPECT_FALSE(Softmax(h.ctx, v(nullptr, {3, 4}), v(b.data(), {3, 4})).ok());
  EXPECT_FALSE(Softmax(h.ctx, v(a.data(), {3, -4}), v(b.data(), {3, -4})).ok());
  EXPECT_FALSE(Softmax(h.ctx, v(a.data(), {12}), v(b.data(), {12})).ok());
  EXPECT_FALSE(Softmax(h.ctx, v(a.data(), {3, 4}), v(a.data() + 2, {3, 4})).ok());
  TensorView f16 = v(a.data(), {3, 4});
  f16.dtype = DType::kF16;
  EXPECT_FALSE(LogSoftmax(h.ctx, f16, v(b.data(), {3, 4})).ok());
  std::vector<int32_t> idx(3);
  EXPECT_FALSE(Argmax(h.ctx, v(a.data(), {4, 4}), idx).ok());    // idx too short
  EXPECT_FALSE(Argmax(h.ctx, v(a.data(), {3, 0}), idx).ok());    // empty rows
  EXPECT_FALSE(Argmax(h.ctx, v(nullptr, {3, 4}), idx).ok());
  EXPECT_FALSE(Argmax(h.ctx, v(a.data(), {3, 4}), std::span<int32_t>(
                                                      reinterpret_cast<int32_t*>(a.data()), 3)).ok());
  EXPECT_TRUE(Argmax(h.ctx, v(a.data(), {0, 4}), std::span<int32_t>()).ok());
}

}  // namespace
}  // namespace detinfer
