// RoPE: both conventions against a double-precision closed form, identity at position 0,
// norm preservation, the permutation relating the conventions, exact invariance across
// tokens, batch sizes, thread counts and ISA paths, special values and operand errors.
#include "kernels/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::BitsEqual;
using testing::IsaString;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

constexpr double kTheta = 10000.0;
constexpr int kMaxPos = 4096;

RopeTable MakeTable(int head_dim, int rotary_dim, double theta = kTheta, int max_pos = kMaxPos) {
  auto t = RopeTable::Create(head_dim, rotary_dim, theta, max_pos);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return std::move(t).value();
}

// Rotates a copy of x [T, H, Dh]; returns it.
std::vector<float> Rope(Isa isa, int threads, const RopeTable& table, RopeStyle style,
                        std::vector<float> x, int64_t heads, const std::vector<int32_t>& pos) {
  auto h = MakeContext(isa, threads);
  const int64_t t = static_cast<int64_t>(pos.size());
  Status s = ApplyRope(h.ctx, table, style,
                       TensorView::Contiguous(x.data(), DType::kF32, {t, heads, table.head_dim()}),
                       pos.data());
  EXPECT_TRUE(s.ok()) << s.ToString();
  return x;
}

// Closed form in double: pair (a, b) rotated by angle pos * theta^(-2i/rotary_dim).
std::vector<double> Oracle(const std::vector<float>& x, int64_t heads, int dh, int rot,
                           double theta, RopeStyle style, const std::vector<int32_t>& pos) {
  std::vector<double> y(x.begin(), x.end());
  const int half = rot / 2;
  for (size_t t = 0; t < pos.size(); ++t) {
    for (int64_t h = 0; h < heads; ++h) {
      const size_t base = (t * size_t(heads) + size_t(h)) * size_t(dh);
      for (int i = 0; i < half; ++i) {
        const double ang = double(pos[t]) * std::pow(theta, -2.0 * i / rot);
        const size_t ia = base + size_t(style == RopeStyle::kRotateHalf ? i : 2 * i);
        const size_t ib = base + size_t(style == RopeStyle::kRotateHalf ? i + half : 2 * i + 1);
        const double a = x[ia], b = x[ib];
        y[ia] = a * std::cos(ang) - b * std::sin(ang);
        y[ib] = a * std::sin(ang) + b * std::cos(ang);
      }
    }
  }
  return y;
}

// Documented tolerance (docs/kernels.md): 2^-21 relative to the output's peak: cos and sin are
// each rounded to fp32 once, then two products and a sum are rounded.
const double kTol = std::ldexp(1.0, -21);

struct Dims { int dh, rot; };
const Dims kDims[] = {{64, 64}, {128, 128}, {128, 64}, {64, 32}, {64, 2}, {64, 6},
                      {80, 34}, {128, 96}, {96, 96}, {8, 8}, {18, 18}, {7, 4}};

TEST(RopeTest, BothStylesMatchTheClosedFormOnEveryPathAndPosition) {
  const std::vector<int32_t> pos = {0, 1, 2, 17, 511, 1000, 4095};
  for (const Dims& d : kDims) {
    for (RopeStyle style : {RopeStyle::kRotateHalf, RopeStyle::kInterleaved}) {
      const RopeTable table = MakeTable(d.dh, d.rot);
      const int64_t heads = 3;
      const auto x = RandomFloats(pos.size() * size_t(heads * d.dh), uint64_t(d.dh * 7 + d.rot),
                                  -2.f, 2.f);
      const auto want = Oracle(x, heads, d.dh, d.rot, kTheta, style, pos);
      const auto ref = Rope(Isa::kScalar, 1, table, style, x, heads, pos);
      for (Isa isa : TestableIsas()) {
        SCOPED_TRACE("dh=" + std::to_string(d.dh) + " rot=" + std::to_string(d.rot) + " style=" +
                     std::to_string(int(style)) + " " + IsaString(isa));
        const auto got = Rope(isa, 1, table, style, x, heads, pos);
        EXPECT_TRUE(BitsEqual(got, ref));
        EXPECT_LE(testing::MaxErrorRelativeToPeak(got.data(), want.data(), got.size()), kTol);
        // Dims past rotary_dim pass through bit for bit.
        for (size_t r = 0; r < pos.size() * size_t(heads); ++r) {
          for (int k = d.rot; k < d.dh; ++k) {
            ASSERT_EQ(testing::Bits(got[r * size_t(d.dh) + size_t(k)]),
                      testing::Bits(x[r * size_t(d.dh) + size_t(k)]));
          }
        }
      }
    }
  }
}

TEST(RopeTest, PositionZeroIsTheIdentityAndRotationPreservesPairNorms) {
  const RopeTable table = MakeTable(128, 128, 1e6);
  const int64_t heads = 4;
  for (RopeStyle style : {RopeStyle::kRotateHalf, RopeStyle::kInterleaved}) {
    for (Isa isa : TestableIsas()) {
      // No zeros in x, so x0*1 - x1*0 == x0 exactly (a -0 input could become +0).
      const auto x = RandomFloats(size_t(heads * 128), 3, 0.25f, 2.f);
      EXPECT_TRUE(BitsEqual(Rope(isa, 1, table, style, x, heads, {0}), x)) << IsaString(isa);
      for (int32_t p : {1, 77, 4095}) {
        const auto y = Rope(isa, 1, table, style, x, heads, {p});
        for (int64_t h = 0; h < heads; ++h) {
          for (int i = 0; i < 64; ++i) {
            const size_t a = size_t(h * 128 + (style == RopeStyle::kRotateHalf ? i : 2 * i));
            const size_t b = size_t(h * 128 + (style == RopeStyle::kRotateHalf ? i + 64 : 2 * i + 1));
            const double n0 = double(x[a]) * x[a] + double(x[b]) * x[b];
            const double n1 = double(y[a]) * y[a] + double(y[b]) * y[b];
            EXPECT_LE(std::fabs(n1 - n0), 1e-6 * n0) << "pos " << p << " pair " << i;
          }
        }
      }
    }
  }
}

TEST(RopeTest, ConventionsAreRelatedByAPermutationOfDims) {
  // Interleaved on (x[0], x[h], x[1], x[h+1], ...) is rotate-half on x, element for element.
  for (const Dims& d : kDims) {
    const RopeTable table = MakeTable(d.dh, d.rot);
    const int half = d.rot / 2;
    const int64_t heads = 2;
    const std::vector<int32_t> pos = {5, 0, 4095, 300};
    const auto x = RandomFloats(pos.size() * size_t(heads * d.dh), 99);
    std::vector<size_t> perm(size_t(d.dh));  // interleaved slot -> rotate-half slot
    for (int i = 0; i < half; ++i) {
      perm[size_t(2 * i)] = size_t(i);
      perm[size_t(2 * i + 1)] = size_t(i + half);
    }
    for (int k = d.rot; k < d.dh; ++k) perm[size_t(k)] = size_t(k);
    std::vector<float> xp(x.size());
    for (size_t r = 0; r < x.size() / size_t(d.dh); ++r) {
      for (size_t k = 0; k < size_t(d.dh); ++k) xp[r * size_t(d.dh) + k] = x[r * size_t(d.dh) + perm[k]];
    }
    for (Isa isa : TestableIsas()) {
      const auto half_style = Rope(isa, 2, table, RopeStyle::kRotateHalf, x, heads, pos);
      const auto inter = Rope(isa, 2, table, RopeStyle::kInterleaved, xp, heads, pos);
      std::vector<float> back(x.size());
      for (size_t r = 0; r < x.size() / size_t(d.dh); ++r) {
        for (size_t k = 0; k < size_t(d.dh); ++k) {
          back[r * size_t(d.dh) + perm[k]] = inter[r * size_t(d.dh) + k];
        }
      }
      EXPECT_TRUE(BitsEqual(back, half_style)) << IsaString(isa) << " dh=" << d.dh;
    }
  }
}

TEST(RopeTest, TokensAreInvariantToBatchSizeIndexThreadsAndPath) {
  const int dh = 128, rot = 128;
  const int64_t heads = 3, max_t = 512;
  const RopeTable table = MakeTable(dh, rot);
  const auto x = RandomFloats(size_t(max_t * heads * dh), 17);
  std::vector<int32_t> pos(static_cast<size_t>(max_t));
  for (int64_t t = 0; t < max_t; ++t) pos[size_t(t)] = int32_t((t * 37) % kMaxPos);
  const size_t row = size_t(heads * dh);
  for (RopeStyle style : {RopeStyle::kRotateHalf, RopeStyle::kInterleaved}) {
    std::vector<float> alone(x.size());
    for (int64_t t = 0; t < max_t; ++t) {
      std::vector<float> one(x.begin() + t * int64_t(row), x.begin() + (t + 1) * int64_t(row));
      const auto y = Rope(Isa::kScalar, 1, table, style, one, heads, {pos[size_t(t)]});
      std::copy(y.begin(), y.end(), alone.begin() + t * int64_t(row));
    }
    for (Isa isa : TestableIsas()) {
      for (int threads : {1, 2, 3, 5}) {
        for (int64_t m : {1, 2, 3, 7, 16, 64, 129, 512}) {
          SCOPED_TRACE(IsaString(isa) + " threads=" + std::to_string(threads) + " T=" +
                       std::to_string(m));
          std::vector<float> xs(x.begin(), x.begin() + m * int64_t(row));
          std::vector<int32_t> ps(pos.begin(), pos.begin() + m);
          EXPECT_TRUE(BitsEqual(Rope(isa, threads, table, style, xs, heads, ps).data(),
                                alone.data(), size_t(m) * row));
          // Same tokens, reversed order (other indices in the batch).
          std::vector<float> rx(xs.size());
          std::vector<int32_t> rp(ps.rbegin(), ps.rend());
          for (int64_t t = 0; t < m; ++t) {
            std::copy(xs.begin() + t * int64_t(row), xs.begin() + (t + 1) * int64_t(row),
                      rx.begin() + (m - 1 - t) * int64_t(row));
          }
          const auto ry = Rope(isa, threads, table, style, rx, heads, rp);
          for (int64_t t = 0; t < m; ++t) {
            ASSERT_TRUE(BitsEqual(ry.data() + (m - 1 - t) * int64_t(row),
                                  alone.data() + t * int64_t(row), row));
          }
        }
      }
    }
  }
}

TEST(RopeTest, StridedHeadsInAFusedBufferLeaveTheRestUntouched) {
  // q of a fused [T, (Hq + 2 Hkv) * Dh] qkv row: x is a view with row stride > H * Dh.
  const int dh = 64;
  const int64_t t = 5, hq = 4, row = (4 + 2 * 2) * dh;
  const RopeTable table = MakeTable(dh, dh);
  const auto fused = RandomFloats(size_t(t * row), 8);
  const std::vector<int32_t> pos = {3, 9, 0, 100, 4000};
  std::vector<float> packed(size_t(t * hq * dh));
  for (int64_t i = 0; i < t; ++i) {
    std::copy(fused.begin() + i * row, fused.begin() + i * row + hq * dh, packed.begin() + i * hq * dh);
  }
  const auto want = Rope(Isa::kScalar, 1, table, RopeStyle::kRotateHalf, packed, hq, pos);
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 2);
    std::vector<float> buf = fused;
    TensorView v = TensorView::Contiguous(buf.data(), DType::kF32, {t, hq, dh});
    v.stride[0] = row;
    ASSERT_TRUE(ApplyRope(h.ctx, table, RopeStyle::kRotateHalf, v, pos.data()).ok());
    for (int64_t i = 0; i < t; ++i) {
      EXPECT_TRUE(BitsEqual(buf.data() + i * row, want.data() + i * hq * dh, size_t(hq * dh)));
      EXPECT_TRUE(BitsEqual(buf.data() + i * row + hq * dh, fused.data() + i * row + hq * dh,
                            size_t(row - hq * dh)));
    }
  }
}

TEST(RopeTest, NanAndInfPropagateAsDocumented) {
  const RopeTable table = MakeTable(16, 16);
  std::vector<float> x = RandomFloats(32, 4);
  x[0] = std::numeric_limits<float>::quiet_NaN();        // head 0, pair 0 (rotate-half: 0 & 8)
  x[16 + 1] = std::numeric_limits<float>::infinity();    // head 1, pair 1
  for (RopeStyle style : {RopeStyle::kRotateHalf, RopeStyle::kInterleaved}) {
    const auto ref = Rope(Isa::kScalar, 1, table, style, x, 2, {0});
    const auto ref5 = Rope(Isa::kScalar, 1, table, style, x, 2, {5});
    for (Isa isa : TestableIsas()) {
      const auto y0 = Rope(isa, 1, table, style, x, 2, {0});
      const auto y5 = Rope(isa, 1, table, style, x, 2, {5});
      for (size_t i = 0; i < x.size(); ++i) {
        EXPECT_EQ(std::isnan(y0[i]), std::isnan(ref[i])) << i;
        EXPECT_EQ(std::isnan(y5[i]), std::isnan(ref5[i])) << i;
        if (!std::isnan(ref[i])) {
          EXPECT_EQ(testing::Bits(y0[i]), testing::Bits(ref[i]));
        }
        if (!std::isnan(ref5[i])) {
          EXPECT_EQ(testing::Bits(y5[i]), testing::Bits(ref5[i]));
        }
      }
    }
    // The NaN's pair is NaN at any position; at position 0 the Inf's partner is Inf*0 = NaN
    // and the Inf itself stays Inf; at position 5 both of the Inf's pair are non-finite.
    const size_t partner0 = style == RopeStyle::kRotateHalf ? 8 : 1;
    const size_t partner1 = style == RopeStyle::kRotateHalf ? 16 + 9 : 16 + 0;
    EXPECT_TRUE(std::isnan(ref[0]) && std::isnan(ref[partner0]));
    EXPECT_TRUE(std::isnan(ref5[0]) && std::isnan(ref5[partner0]));
    EXPECT_TRUE(std::isinf(ref[17]));
    EXPECT_TRUE(std::isnan(ref[partner1]));
    EXPECT_FALSE(std::isfinite(ref5[17]));
    EXPECT_FALSE(std::isfinite(ref5[partner1]));
    // Untouched pairs stay finite.
    EXPECT_TRUE(std::isfinite(ref5[2]) && std::isfinite(ref5[16 + 4]));
  }
}

TEST(RopeTest, BadTablesAndOperandsAreNamedErrors) {
  EXPECT_NE(RopeTable::Create(64, 63, kTheta, 16).status().message().find("rotary_dim"),
            std::string::npos);
  EXPECT_FALSE(RopeTable::Create(64, 66, kTheta, 16).ok());
  EXPECT_FALSE(RopeTable::Create(64, 0, kTheta, 16).ok());
  EXPECT_FALSE(RopeTable::Create(0, 0, kTheta, 16).ok());
  EXPECT_NE(RopeTable::Create(64, 64, 0.0, 16).status().message().find("theta"), std::string::npos);
  EXPECT_FALSE(RopeTable::Create(64, 64, std::nan(""), 16).ok());
  EXPECT_NE(RopeTable::Create(64, 64, kTheta, 0).status().message().find("max_positions"),
            std::string::npos);

  const RopeTable table = MakeTable(64, 64, kTheta, 4096);
  KernelContext ctx;
  std::vector<float> x(2 * 2 * 64, 1.0f);
  const TensorView xv = TensorView::Contiguous(x.data(), DType::kF32, {2, 2, 64});
  for (int32_t bad : {-1, 4096, 1 << 30}) {
    const std::vector<int32_t> pos = {0, bad};
    Status s = ApplyRope(ctx, table, RopeStyle::kRotateHalf, xv, pos.data());
    EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
    EXPECT_EQ(s.message(), "rope: position " + std::to_string(bad) +
                               " (token 1) is outside the table's range [0, 4096)");
  }
  for (float v : x) EXPECT_EQ(v, 1.0f) << "x modified despite the error";

  const std::vector<int32_t> pos = {0, 1};
  Status s = ApplyRope(ctx, table, RopeStyle::kRotateHalf,
                       TensorView::Contiguous(x.data(), DType::kF32, {2, 4, 32}), pos.data());
  EXPECT_EQ(s.message(), "rope: x has shape [2, 4, 32] f32 but the table's head_dim is 64");
  s = ApplyRope(ctx, table, RopeStyle::kRotateHalf,
                TensorView::Contiguous(x.data(), DType::kF32, {2, 128}), pos.data());
  EXPECT_NE(s.message().find("rope: x must have rank 3"), std::string::npos) << s.message();
  s = ApplyRope(ctx, table, RopeStyle::kRotateHalf, xv, nullptr);
  EXPECT_NE(s.message().find("rope: positions is null"), std::string::npos) << s.message();
  s = ApplyRope(ctx, table, RopeStyle::kRotateHalf,
                TensorView::Contiguous(x.data(), DType::kF16, {2, 2, 64}), pos.data());
  EXPECT_NE(s.message().find("rope: x must be f32"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace detinfer
