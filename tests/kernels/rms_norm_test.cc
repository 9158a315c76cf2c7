// RMSNorm and per-head RMSNorm: accuracy against a double-precision oracle, exact invariance
// across rows, batch sizes, thread counts and ISA paths, special values, operand errors.
#include "kernels/rms_norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::BitsEqual;
using testing::IsaString;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

constexpr float kRmsNormEps = 1e-6f;

// A weight vector stored in `dtype`, plus its exact f32 values (what the kernel sees).
struct Weight {
  DType dtype;
  std::vector<float> f32;       // storage when dtype is f32, and the widened values always
  std::vector<uint16_t> half;   // storage when dtype is bf16 / f16
  TensorView View() const {
    const int64_t n = static_cast<int64_t>(f32.size());
    if (dtype == DType::kF32) return TensorView::Contiguous(f32.data(), dtype, {n});
    return TensorView::Contiguous(half.data(), dtype, {n});
  }
};

Weight MakeWeight(int64_t d, DType dtype, uint64_t seed) {
  Weight w{dtype, RandomFloats(static_cast<size_t>(d), seed, 0.5f, 1.5f), {}};
  if (dtype != DType::kF32) {
    w.half.resize(w.f32.size());
    ConvertFromF32(w.f32.data(), dtype, w.half.data(), w.f32.size());
    ConvertToF32(dtype, w.half.data(), w.f32.data(), w.f32.size());  // exact widening
  }
  return w;
}

// The oracle: plain double loops, y = x / sqrt(mean(x^2) + eps) * w.
std::vector<double> Oracle(const std::vector<float>& x, int64_t m, int64_t d,
                           const std::vector<float>& w, float eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < m; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += double(x[r * d + i]) * double(x[r * d + i]);
    const double inv = 1.0 / std::sqrt(ss / double(d) + double(eps));
    for (int64_t i = 0; i < d; ++i) y[r * d + i] = double(x[r * d + i]) * inv * double(w[i]);
  }
  return y;
}

std::vector<float> RunNorm(Isa isa, int threads, const std::vector<float>& x, int64_t m, int64_t d,
                       const Weight& w, float eps = kRmsNormEps) {
  auto h = MakeContext(isa, threads);
  std::vector<float> out(x.size(), -7.0f);
  Status s = RmsNorm(h.ctx, TensorView::Contiguous(x.data(), DType::kF32, {m, d}), w.View(), eps,
                     TensorView::Contiguous(out.data(), DType::kF32, {m, d}));
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Documented tolerance (docs/kernels.md): relative to the output's peak magnitude,
// (ceil(D/16) + 10) * 2^-24: each of the 16 lanes rounds ceil(D/16) times, the tree 4 times,
// and mean, +eps, sqrt, 1/x and the two multiplies once each.
double Tolerance(int64_t d) { return double((d + 15) / 16 + 10) * std::ldexp(1.0, -24); }

TEST(RmsNormTest, MatchesDoubleOracleForEveryWidthDTypeAndPath) {
  for (int64_t d : {1, 7, 15, 16, 17, 31, 64, 100, 4096}) {
    for (DType wd : {DType::kF32, DType::kBF16, DType::kF16}) {
      const int64_t m = 5;
      const auto x = RandomFloats(size_t(m * d), 100 + uint64_t(d), -3.f, 3.f);
      const Weight w = MakeWeight(d, wd, 7);
      const auto want = Oracle(x, m, d, w.f32, kRmsNormEps);
      const auto ref = RunNorm(Isa::kScalar, 1, x, m, d, w);
      for (Isa isa : TestableIsas()) {
        SCOPED_TRACE("d=" + std::to_string(d) + " w=" + std::string(DTypeName(wd)) + " isa=" +
                     IsaString(isa));
        const auto got = RunNorm(isa, 1, x, m, d, w);
        EXPECT_TRUE(BitsEqual(got, ref));
        EXPECT_LE(testing::MaxErrorRelativeToPeak(got.data(), want.data(), got.size()),
                  Tolerance(d));
      }
    }
  }
}

TEST(RmsNormTest, WideDynamicRangeRowsStayAccurate) {
  // Rows with magnitudes 1e-20 and 1e15: the squares stay finite fp32 (no rescaling is done).
  for (float scale : {1e-18f, 1e-3f, 1e3f, 1e15f}) {
    const int64_t m = 3, d = 257;
    auto x = RandomFloats(size_t(m * d), 5);
    for (float& v : x) v *= scale;
    const Weight w = MakeWeight(d, DType::kF32, 9);
    const auto want = Oracle(x, m, d, w.f32, 0.0f);
    for (Isa isa : TestableIsas()) {
      const auto got = RunNorm(isa, 1, x, m, d, w, 0.0f);
      EXPECT_LE(testing::MaxErrorRelativeToPeak(got.data(), want.data(), got.size()),
                Tolerance(d))
          << "scale " << scale << " isa " << IsaString(isa);
    }
  }
}

TEST(RmsNormTest, RowsAreInvariantToBatchSizePositionThreadsAndPath) {
  const int64_t d = 100, max_m = 512;
  const auto x = RandomFloats(size_t(max_m * d), 11, -2.f, 2.f);
  const Weight w = MakeWeight(d, DType::kBF16, 3);
  // Each row computed alone, on the scalar path, single-threaded.
  std::vector<float> alone(x.size());
  for (int64_t r = 0; r < max_m; ++r) {
    std::vector<float> row(x.begin() + r * d, x.begin() + (r + 1) * d);
    const auto y = RunNorm(Isa::kScalar, 1, row, 1, d, w);
    std::copy(y.begin(), y.end(), alone.begin() + r * d);
  }
  for (Isa isa : TestableIsas()) {
    for (int threads : {1, 2, 3, 5}) {
      for (int64_t m : {1, 2, 3, 7, 16, 64, 129, 512}) {
        SCOPED_TRACE(IsaString(isa) + " threads=" + std::to_string(threads) + " M=" +
                     std::to_string(m));
        std::vector<float> xs(x.begin(), x.begin() + m * d);
        const auto y = RunNorm(isa, threads, xs, m, d, w);
        EXPECT_TRUE(BitsEqual(y.data(), alone.data(), size_t(m * d)));
        // The same rows at other indices: reversed order.
        std::vector<float> rev(xs.size());
        for (int64_t r = 0; r < m; ++r) {
          std::copy(xs.begin() + r * d, xs.begin() + (r + 1) * d, rev.begin() + (m - 1 - r) * d);
        }
        const auto yr = RunNorm(isa, threads, rev, m, d, w);
        for (int64_t r = 0; r < m; ++r) {
          ASSERT_TRUE(BitsEqual(yr.data() + (m - 1 - r) * d, alone.data() + r * d, size_t(d)))
              << "row " << r;
        }
      }
    }
  }
}

TEST(RmsNormTest, InPlaceAndStridedRowsGiveTheSameBits) {
  const int64_t m = 9, d = 37, stride = 48;
  const auto x = RandomFloats(size_t(m * d), 21);
  const Weight w = MakeWeight(d, DType::kF16, 4);
  const auto ref = RunNorm(Isa::kScalar, 1, x, m, d, w);
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 3);
    std::vector<float> inplace = x;
    TensorView v = TensorView::Contiguous(inplace.data(), DType::kF32, {m, d});
    ASSERT_TRUE(RmsNorm(h.ctx, v, w.View(), kRmsNormEps, v).ok());
    EXPECT_TRUE(BitsEqual(inplace, ref)) << IsaString(isa);

    std::vector<float> padded(size_t(m * stride), 99.f), out(size_t(m * stride), -1.f);
    for (int64_t r = 0; r < m; ++r) {
      std::copy(x.begin() + r * d, x.begin() + (r + 1) * d, padded.begin() + r * stride);
    }
    TensorView xv = TensorView::Contiguous(padded.data(), DType::kF32, {m, d});
    xv.stride[0] = stride;
    TensorView ov = xv;
    ov.data = out.data();
    ASSERT_TRUE(RmsNorm(h.ctx, xv, w.View(), kRmsNormEps, ov).ok());
    for (int64_t r = 0; r < m; ++r) {
      EXPECT_TRUE(BitsEqual(out.data() + r * stride, ref.data() + r * d, size_t(d)));
      EXPECT_EQ(out[size_t(r * stride + d)], -1.f) << "wrote past the row";
    }
  }
}

TEST(RmsNormTest, HeadsMatchRowWiseNormOfEachHead) {
  for (int64_t dh : {64, 128, 17}) {
    const int64_t m = 7, heads = 5;
    const auto x = RandomFloats(size_t(m * heads * dh), 31 + uint64_t(dh));
    const Weight w = MakeWeight(dh, DType::kBF16, 8);
    // Reference: the plain RmsNorm over [M*H, Dh] rows.
    const auto ref = RunNorm(Isa::kScalar, 1, x, m * heads, dh, w);
    for (Isa isa : TestableIsas()) {
      for (int threads : {1, 2, 3, 5}) {
        auto h = MakeContext(isa, threads);
        std::vector<float> out2(x.size()), out3(x.size());
        ASSERT_TRUE(RmsNormHeads(h.ctx, TensorView::Contiguous(x.data(), DType::kF32,
                                                               {m, heads * dh}),
                                 w.View(), kRmsNormEps,
                                 TensorView::Contiguous(out2.data(), DType::kF32,
                                                        {m, heads * dh}))
                        .ok());
        ASSERT_TRUE(RmsNormHeads(h.ctx, TensorView::Contiguous(x.data(), DType::kF32,
                                                               {m, heads, dh}),
                                 w.View(), kRmsNormEps,
                                 TensorView::Contiguous(out3.data(), DType::kF32,
                                                        {m, heads, dh}))
                        .ok());
        EXPECT_TRUE(BitsEqual(out2, ref)) << IsaString(isa) << " dh=" << dh;
        EXPECT_TRUE(BitsEqual(out3, ref)) << IsaString(isa) << " dh=" << dh;
        std::vector<float> inplace = x;
        TensorView v = TensorView::Contiguous(inplace.data(), DType::kF32, {m, heads, dh});
        ASSERT_TRUE(RmsNormHeads(h.ctx, v, w.View(), kRmsNormEps, v).ok());
        EXPECT_TRUE(BitsEqual(inplace, ref));
      }
    }
  }
}

TEST(RmsNormTest, SpecialValuesFollowTheDocumentedRules) {
  const int64_t d = 19, m = 4;
  const float inf = std::numeric_limits<float>::infinity();
  auto x = RandomFloats(size_t(m * d), 41);
  x[0 * d + 5] = std::numeric_limits<float>::quiet_NaN();  // row 0: NaN
  x[1 * d + 17] = -inf;                                   // row 1: -Inf
  for (int64_t i = 0; i < d; ++i) x[size_t(2 * d + i)] = 0.0f;  // row 2: zeros
  const Weight w = MakeWeight(d, DType::kF32, 2);
  const auto ref = RunNorm(Isa::kScalar, 1, x, m, d, w);
  for (Isa isa : TestableIsas()) {
    const auto y = RunNorm(isa, 2, x, m, d, w);
    for (int64_t i = 0; i < d; ++i) {
      EXPECT_TRUE(std::isnan(y[size_t(i)])) << "NaN row, element " << i;
      if (i == 17) {
        EXPECT_TRUE(std::isnan(y[size_t(d + i)]));
      } else {
        EXPECT_EQ(y[size_t(d + i)], 0.0f) << "Inf row, finite element " << i;
      }
      EXPECT_EQ(y[size_t(2 * d + i)], 0.0f) << "zero row";
      EXPECT_TRUE(std::isfinite(y[size_t(3 * d + i)])) << "untouched row";
    }
    for (size_t i = 0; i < y.size(); ++i) {
      if (std::isnan(ref[i])) {
        EXPECT_TRUE(std::isnan(y[i]));
      } else {
        EXPECT_EQ(testing::Bits(y[i]), testing::Bits(ref[i])) << i << " " << IsaString(isa);
      }
    }
    // eps = 0: an all-zero row is 0 * (1/0) = NaN, documented.
    const auto z = RunNorm(isa, 1, std::vector<float>(size_t(d), 0.0f), 1, d, w, 0.0f);
    for (float v : z) EXPECT_TRUE(std::isnan(v));
  }
}

TEST(RmsNormTest, BadOperandsAreNamedErrors) {
  KernelContext ctx;
  std::vector<float> x(64 * 2), out(64 * 2), w(64);
  const TensorView xv = TensorView::Contiguous(x.data(), DType::kF32, {2, 64});
  const TensorView ov = TensorView::Contiguous(out.data(), DType::kF32, {2, 64});
  Status s = RmsNorm(ctx, xv, TensorView::Contiguous(w.data(), DType::kF32, {63}), kRmsNormEps, ov);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "rms_norm: weight has shape [63] f32 but x rows have 64 elements");

  s = RmsNorm(ctx, TensorView::Contiguous(x.data(), DType::kBF16, {2, 64}),
              TensorView::Contiguous(w.data(), DType::kF32, {64}), kRmsNormEps, ov);
  EXPECT_NE(s.message().find("rms_norm: x must be f32"), std::string::npos) << s.message();

  s = RmsNorm(ctx, xv, TensorView::Contiguous(w.data(), DType::kF32, {64}), kRmsNormEps,
              TensorView::Contiguous(out.data(), DType::kF32, {1, 64}));
  EXPECT_NE(s.message().find("rms_norm: out has shape [1, 64] f32 but x has shape [2, 64] f32"),
            std::string::npos) << s.message();

  s = RmsNorm(ctx, TensorView::Contiguous(static_cast<void*>(nullptr), DType::kF32, {2, 64}),
              TensorView::Contiguous(w.data(), DType::kF32, {64}), kRmsNormEps, ov);
  EXPECT_NE(s.message().find("rms_norm: x is null"), std::string::npos) << s.message();

  for (float eps : {-1.0f, std::numeric_limits<float>::quiet_NaN()}) {
    s = RmsNorm(ctx, xv, TensorView::Contiguous(w.data(), DType::kF32, {64}), eps, ov);
    EXPECT_NE(s.message().find("rms_norm: eps"), std::string::npos) << s.message();
  }

  // out overlapping x, shifted by one element: rejected (in place must be exact).
  TensorView shifted = TensorView::Contiguous(x.data() + 1, DType::kF32, {1, 64});
  s = RmsNorm(ctx, TensorView::Contiguous(x.data(), DType::kF32, {1, 64}),
              TensorView::Contiguous(w.data(), DType::kF32, {64}), kRmsNormEps, shifted);
  EXPECT_NE(s.message().find("rms_norm: out overlaps x"), std::string::npos) << s.message();

  s = RmsNormHeads(ctx, xv, TensorView::Contiguous(w.data(), DType::kF32, {48}), kRmsNormEps, ov);
  EXPECT_NE(s.message().find("rms_norm_heads: weight has shape [48] f32"), std::string::npos)
      << s.message();
  s = RmsNormHeads(ctx, TensorView::Contiguous(x.data(), DType::kF32, {2, 2, 32}),
                   TensorView::Contiguous(w.data(), DType::kF32, {64}), kRmsNormEps,
                   TensorView::Contiguous(out.data(), DType::kF32, {2, 2, 32}));
  EXPECT_NE(s.message().find("rms_norm_heads: weight has shape [64] f32 but x heads have 32"),
            std::string::npos) << s.message();
  s = RmsNormHeads(ctx, TensorView::Contiguous(x.data(), DType::kF32, {128}),
                   TensorView::Contiguous(w.data(), DType::kF32, {64}), kRmsNormEps,
                   TensorView::Contiguous(out.data(), DType::kF32, {128}));
  EXPECT_NE(s.message().find("rms_norm_heads: x must be"), std::string::npos) << s.message();
  // Untouched outputs on error.
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(RmsNormTest, EmptyInputsAreFine) {
  KernelContext ctx;
  std::vector<float> w(8, 1.0f);
  EXPECT_TRUE(RmsNorm(ctx, TensorView::Contiguous(static_cast<void*>(nullptr), DType::kF32, {0, 8}),
                      TensorView::Contiguous(w.data(), DType::kF32, {8}), kRmsNormEps,
                      TensorView::Contiguous(static_cast<void*>(nullptr), DType::kF32, {0, 8}))
                  .ok());
}

}  // namespace
}  // namespace detinfer
