// exp / log: every ISA path returns the scalar bits; accuracy against double-precision libm;
// specials; operand validation.
#include "kernels/math.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "test_util.h"

namespace detinfer {
namespace {

using testing::Bits;
using testing::BitsEqual;
using testing::FromBits;
using testing::MakeContext;
using testing::TestableIsas;

// ~2^24 inputs spanning every exponent and both signs (NaNs and Infs included): bit pattern
// i * 256 plus a varying low byte, so low mantissa bits are exercised too.
std::vector<float> SweepInputs() {
  std::vector<float> v;
  v.reserve((size_t{1} << 24) + 64);
  for (uint32_t i = 0; i < (1u << 24); ++i) v.push_back(FromBits(i * 256u + ((i * 97u) & 255u)));
  return v;
}

// Specials and boundaries, appended to every sweep.
std::vector<float> SpecialInputs() {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> v = {0.0f, -0.0f, inf, -inf, std::numeric_limits<float>::quiet_NaN(),
                          -std::numeric_limits<float>::quiet_NaN(), FromBits(0x7f800001u),
                          FromBits(0x7fa12345u), FLT_MIN, -FLT_MIN, FLT_MAX, -FLT_MAX,
                          FLT_TRUE_MIN, -FLT_TRUE_MIN, FromBits(0x007fffffu), 1.0f, -1.0f,
                          88.7228317f, 88.7228393f, 88.72284f, 89.0f, 89.5f, 128.0f,
                          -87.3365479f, -87.34f, -100.0f, -103.278931f, -103.972084f,
                          -103.98f, -104.0f, -104.5f, -200.0f, 0.5f, 2.0f, 0.70710677f,
                          0.70710683f, 1.41421354f, 1.0000001f, 0.99999994f};
  for (float x = -110.0f; x <= 95.0f; x += 0.25f) v.push_back(x);
  return v;
}

std::vector<float> RunOp(Status (*op)(const KernelContext&, TensorView, TensorView), Isa isa,
                       int threads, const std::vector<float>& x) {
  auto h = MakeContext(isa, threads);
  std::vector<float> out(x.size());
  const int64_t n = static_cast<int64_t>(x.size());
  EXPECT_TRUE(op(h.ctx, TensorView::Contiguous(x.data(), DType::kF32, {n}),
                 TensorView::Contiguous(out.data(), DType::kF32, {n}))
                  .ok());
  return out;
}

std::vector<float> AllInputs() {
  std::vector<float> x = SweepInputs();
  for (float s : SpecialInputs()) x.push_back(s);
  return x;
}

TEST(MathTest, ExpEveryIsaMatchesScalarBits) {
  const std::vector<float> x = AllInputs();
  const std::vector<float> ref = RunOp(Exp, Isa::kScalar, 1, x);
  for (size_t i = 0; i < x.size(); i += 4099) ASSERT_EQ(Bits(ref[i]), Bits(ExpF(x[i])));
  for (Isa isa : TestableIsas()) {
    SCOPED_TRACE(testing::IsaString(isa));
    EXPECT_TRUE(BitsEqual(RunOp(Exp, isa, 2, x), ref));
  }
}

TEST(MathTest, LogEveryIsaMatchesScalarBits) {
  const std::vector<float> x = AllInputs();
  const std::vector<float> ref = RunOp(Log, Isa::kScalar, 1, x);
  for (size_t i = 0; i < x.size(); i += 4099) ASSERT_EQ(Bits(ref[i]), Bits(LogF(x[i])));
  for (Isa isa : TestableIsas()) {
    SCOPED_TRACE(testing::IsaString(isa));
    EXPECT_TRUE(BitsEqual(RunOp(Log, isa, 2, x), ref));
  }
}

// Tails: every length 0..40 at every offset 0..17 gives each element the bits it has alone.
TEST(MathTest, TailsGiveTheSameBits) {
  const std::vector<float> base = testing::RandomFloats(64, 7, -100.0f, 100.0f);
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 1);
    for (int64_t off = 0; off < 18; ++off) {
      for (int64_t n = 0; n <= 40; ++n) {
        std::vector<float> e(static_cast<size_t>(n)), l(static_cast<size_t>(n));
        const float* xp = base.data() + off;
        ASSERT_TRUE(Exp(h.ctx, TensorView::Contiguous(xp, DType::kF32, {n}),
                        TensorView::Contiguous(e.data(), DType::kF32, {n})).ok());
        ASSERT_TRUE(Log(h.ctx, TensorView::Contiguous(xp, DType::kF32, {n}),
                        TensorView::Contiguous(l.data(), DType::kF32, {n})).ok());
        for (int64_t i = 0; i < n; ++i) {
          ASSERT_EQ(Bits(e[static_cast<size_t>(i)]), Bits(ExpF(xp[i])));
          ASSERT_EQ(Bits(l[static_cast<size_t>(i)]), Bits(LogF(xp[i])));
        }
      }
    }
  }
}

// Max ulp distance to double libm rounded to float, split by whether the correct result is a
// normal float or subnormal.
struct UlpStats {
  int64_t normal = 0, subnormal = 0;
  float worst_normal_x = 0;
};

TEST(MathTest, ExpAccuracyAgainstDoubleLibm) {
  UlpStats st;
  const std::vector<float> x = AllInputs();
  const std::vector<float> got = RunOp(Exp, Isa::kScalar, 2, x);
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      ASSERT_TRUE(std::isnan(got[i]));
      continue;
    }
    const float want = static_cast<float>(std::exp(static_cast<double>(x[i])));
    if (std::isinf(want) || want == 0.0f) {
      ASSERT_EQ(Bits(got[i]), Bits(want)) << "x=" << x[i];  // overflow / underflow exact
      continue;
    }
    const int64_t d = testing::UlpDistance(got[i], want);
    if (want >= FLT_MIN) {
      if (d > st.normal) st.worst_normal_x = x[i];
      st.normal = std::max(st.normal, d);
    } else {
      st.subnormal = std::max(st.subnormal, d);
    }
  }
  std::fprintf(stderr, "[detinfer] exp: max ulp %lld (normal results, worst x=%.9g), %lld "
               "(subnormal results, in units of 2^-149)\n", static_cast<long long>(st.normal),
               static_cast<double>(st.worst_normal_x), static_cast<long long>(st.subnormal));
  ::testing::Test::RecordProperty("exp_max_ulp_normal", static_cast<int>(st.normal));
  ::testing::Test::RecordProperty("exp_max_ulp_subnormal", static_cast<int>(st.subnormal));
  EXPECT_LE(st.normal, 1);
  EXPECT_LE(st.subnormal, 1);
}

TEST(MathTest, LogAccuracyAgainstDoubleLibm) {
  int64_t worst = 0;
  float worst_x = 0;
  const std::vector<float> x = AllInputs();
  const std::vector<float> got = RunOp(Log, Isa::kScalar, 2, x);
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || x[i] < 0.0f) {
      ASSERT_TRUE(std::isnan(got[i])) << "x=" << x[i];
      continue;
    }
    const float want = static_cast<float>(std::log(static_cast<double>(x[i])));
    if (std::isinf(want)) {
      ASSERT_EQ(Bits(got[i]), Bits(want)) << "x=" << x[i];
      continue;
    }
    const int64_t d = testing::UlpDistance(got[i], want);
    if (d > worst) worst_x = x[i];
    worst = std::max(worst, d);
  }
  std::fprintf(stderr, "[detinfer] log: max ulp %lld (worst x=%.9g)\n",
               static_cast<long long>(worst), static_cast<double>(worst_x));
  ::testing::Test::RecordProperty("log_max_ulp", static_cast<int>(worst));
  EXPECT_LE(worst, 1);
}

TEST(MathTest, Specials) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Bits(ExpF(0.0f)), Bits(1.0f));
  EXPECT_EQ(Bits(ExpF(-0.0f)), Bits(1.0f));
  EXPECT_EQ(Bits(ExpF(-inf)), Bits(0.0f));
  EXPECT_EQ(Bits(ExpF(inf)), Bits(inf));
  EXPECT_EQ(Bits(ExpF(nan)), Bits(nan));
  EXPECT_EQ(Bits(ExpF(FromBits(0x7f800001u))), 0x7fc00001u);  // signalling NaN comes out quiet
  EXPECT_EQ(Bits(ExpF(89.0f)), Bits(inf));
  EXPECT_EQ(Bits(ExpF(88.72284f)), Bits(inf));
  EXPECT_TRUE(std::isfinite(ExpF(88.7228317f)));
  EXPECT_EQ(Bits(ExpF(-104.0f)), Bits(0.0f));
  EXPECT_EQ(Bits(ExpF(-200.0f)), Bits(0.0f));
  EXPECT_EQ(Bits(ExpF(-103.9f)), Bits(FLT_TRUE_MIN));
  EXPECT_EQ(ExpF(1.0f), static_cast<float>(std::exp(1.0)));

  EXPECT_EQ(Bits(LogF(1.0f)), Bits(0.0f));
  EXPECT_EQ(Bits(LogF(0.0f)), Bits(-inf));
  EXPECT_EQ(Bits(LogF(-0.0f)), Bits(-inf));
  EXPECT_EQ(Bits(LogF(inf)), Bits(inf));
  EXPECT_EQ(Bits(LogF(-1.0f)), 0x7fc00000u);
  EXPECT_EQ(Bits(LogF(-inf)), 0x7fc00000u);
  EXPECT_EQ(Bits(LogF(-FLT_TRUE_MIN)), 0x7fc00000u);
  EXPECT_EQ(Bits(LogF(nan)), Bits(nan));
  EXPECT_EQ(LogF(FLT_TRUE_MIN), static_cast<float>(std::log(static_cast<double>(FLT_TRUE_MIN))));
  EXPECT_EQ(LogF(FLT_MAX), static_cast<float>(std::log(static_cast<double>(FLT_MAX))));
}

TEST(MathTest, TwoDimensionalStridedAndInPlace) {
  // A [3, 5] view with row stride 8 inside a larger buffer; in place on every path.
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 3);
    std::vector<float> buf = testing::RandomFloats(24, 11, 0.1f, 5.0f);
    const std::vector<float> orig = buf;
    TensorView v = TensorView::Contiguous(buf.data(), DType::kF32, {3, 5});
    v.stride[0] = 8;
    ASSERT_TRUE(Log(h.ctx, v, v).ok());
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 8; ++c) {
        const size_t i = static_cast<size_t>(r * 8 + c);
        const float want = c < 5 ? LogF(orig[i]) : orig[i];  // the gap is never written
        ASSERT_EQ(Bits(buf[i]), Bits(want)) << r << "," << c;
      }
    }
  }
}

TEST(MathTest, RejectsBadOperands) {
  auto h = MakeContext(Isa::kScalar, 1);
  std::vector<float> a(16), b(16);
  auto v = [](float* p, std::initializer_list<int64_t> s) {
    return TensorView::Contiguous(p, DType::kF32, s);
  };
  Status s = Exp(h.ctx, v(a.data(), {3, 4}), v(b.data(), {3, 5}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "exp: out has shape [3, 5] f32 but x is [3, 4] f32");
  EXPECT_FALSE(Exp(h.ctx, v(nullptr, {3, 4}), v(b.data(), {3, 4})).ok());
  EXPECT_FALSE(Log(h.ctx, v(a.data(), {-1, 4}), v(b.data(), {-1, 4})).ok());
  EXPECT_FALSE(Log(h.ctx, v(a.data(), {2, 2, 2}), v(b.data(), {2, 2, 2})).ok());
  TensorView bf = v(a.data(), {4});
  bf.dtype = DType::kBF16;
  EXPECT_FALSE(Exp(h.ctx, bf, v(b.data(), {4})).ok());
  // Partial overlap is rejected; exact aliasing works; empty views are fine.
  s = Exp(h.ctx, v(a.data(), {8}), v(a.data() + 1, {8}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(Exp(h.ctx, v(a.data(), {8}), v(a.data(), {8})).ok());
  EXPECT_TRUE(Exp(h.ctx, v(nullptr, {0, 4}), v(nullptr, {0, 4})).ok());
}

}  // namespace
}  // namespace detinfer
