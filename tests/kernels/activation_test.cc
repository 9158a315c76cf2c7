// SwiGLU: accuracy against a double oracle, exact ISA / thread / row invariance, in-place
// aliasing, special values, operand validation.
#include "kernels/activation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "test_util.h"

namespace detinfer {
namespace {

using testing::Bits;
using testing::BitsEqual;
using testing::MakeContext;
using testing::TestableIsas;

constexpr float kInf = std::numeric_limits<float>::infinity();

TensorView View(const std::vector<float>& v, int64_t m, int64_t n) {
  return TensorView::Contiguous(v.data(), DType::kF32, {m, n});
}

std::vector<float> RunSwiGlu(const KernelContext& ctx, const std::vector<float>& g,
                       const std::vector<float>& u, int64_t m, int64_t f) {
  std::vector<float> out(g.size());
  const Status s = SwiGlu(ctx, View(g, m, f), View(u, m, f), View(out, m, f));
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// Documented tolerance: max |error| / peak |oracle| over the tensor (measured ~1e-7).
constexpr double kSwiGluTol = 1e-6;

TEST(SwiGluTest, AccuracyAgainstDoubleOracle) {
  double worst = 0;
  for (int64_t f : {1, 7, 16, 33, 1000}) {
    const int64_t m = 4;
    const auto g = testing::RandomFloats(static_cast<size_t>(m * f), 1, -20.f, 20.f);
    const auto u = testing::RandomFloats(static_cast<size_t>(m * f), 2, -3.f, 3.f);
    std::vector<double> want(g.size());
    for (size_t i = 0; i < g.size(); ++i) {
      const double a = g[i];
      want[i] = a / (1.0 + std::exp(-a)) * static_cast<double>(u[i]);
    }
    for (Isa isa : TestableIsas()) {
      auto h = MakeContext(isa, 2);
      const auto got = RunSwiGlu(h.ctx, g, u, m, f);
      const double e = testing::MaxErrorRelativeToPeak(got.data(), want.data(), got.size());
      EXPECT_LE(e, kSwiGluTol) << "f=" << f;
      worst = std::max(worst, e);
    }
  }
  std::fprintf(stderr, "[detinfer] swiglu max error / peak: %.3g\n", worst);
}

TEST(SwiGluTest, RowThreadAndIsaInvariance) {
  const int64_t f = 45, kMaxM = 129;
  const auto g = testing::RandomFloats(static_cast<size_t>(kMaxM * f), 3, -30.f, 30.f);
  const auto u = testing::RandomFloats(static_cast<size_t>(kMaxM * f), 4, -2.f, 2.f);
  auto ref_ctx = MakeContext(Isa::kScalar, 1);
  const auto ref = RunSwiGlu(ref_ctx.ctx, g, u, kMaxM, f);  // elementwise: each row as if alone
  for (int64_t m : {1, 2, 3, 7, 16, 64, 129}) {
    // Rows taken from the end of the pool, so a row sits at a different index than in ref.
    const size_t off = static_cast<size_t>((kMaxM - m) * f);
    const std::vector<float> gs(g.begin() + static_cast<int64_t>(off), g.end());
    const std::vector<float> us(u.begin() + static_cast<int64_t>(off), u.end());
    const std::vector<float> want(ref.begin() + static_cast<int64_t>(off), ref.end());
    for (Isa isa : TestableIsas()) {
      for (int threads : {1, 2, 3, 5}) {
        auto h = MakeContext(isa, threads);
        EXPECT_TRUE(BitsEqual(RunSwiGlu(h.ctx, gs, us, m, f), want))
            << testing::IsaString(isa) << " threads=" << threads << " M=" << m;
      }
    }
  }
}

TEST(SwiGluTest, InPlaceOnGateOrUp) {
  const int64_t m = 3, f = 21;
  const auto g = testing::RandomFloats(static_cast<size_t>(m * f), 5, -6.f, 6.f);
  const auto u = testing::RandomFloats(static_cast<size_t>(m * f), 6);
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 2);
    const auto want = RunSwiGlu(h.ctx, g, u, m, f);
    std::vector<float> gg = g, uu = u;
    ASSERT_TRUE(SwiGlu(h.ctx, View(gg, m, f), View(u, m, f), View(gg, m, f)).ok());
    ASSERT_TRUE(SwiGlu(h.ctx, View(g, m, f), View(uu, m, f), View(uu, m, f)).ok());
    EXPECT_TRUE(BitsEqual(gg, want));
    EXPECT_TRUE(BitsEqual(uu, want));
  }
}

// The model's feed-forward layout: gate and up are the two column halves of one [M, 2F] buffer,
// and the activation overwrites the gate half. The halves' byte spans interleave but share no
// element, so this is accepted and gives the contiguous operands' bits.
TEST(SwiGluTest, InPlaceOnTheGateHalfOfAFusedBuffer) {
  const int64_t m = 5, f = 19;
  const auto g = testing::RandomFloats(static_cast<size_t>(m * f), 7, -6.f, 6.f);
  const auto u = testing::RandomFloats(static_cast<size_t>(m * f), 8);
  auto half = [&](std::vector<float>& buf, int64_t col0) {
    TensorView v = TensorView::Contiguous(buf.data() + col0, DType::kF32, {m, f});
    v.stride[0] = 2 * f;
    return v;
  };
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 2);
    const auto want = RunSwiGlu(h.ctx, g, u, m, f);
    std::vector<float> fused(static_cast<size_t>(2 * m * f));
    for (int64_t r = 0; r < m; ++r) {
      std::copy_n(g.data() + r * f, f, fused.data() + r * 2 * f);
      std::copy_n(u.data() + r * f, f, fused.data() + r * 2 * f + f);
    }
    const Status s = SwiGlu(h.ctx, half(fused, 0), half(fused, f), half(fused, 0));
    ASSERT_TRUE(s.ok()) << s.ToString();
    for (int64_t r = 0; r < m; ++r) {
      EXPECT_EQ(std::memcmp(fused.data() + r * 2 * f, want.data() + r * f, f * sizeof(float)), 0)
          << testing::IsaString(isa) << " row " << r;
      EXPECT_EQ(std::memcmp(fused.data() + r * 2 * f + f, u.data() + r * f, f * sizeof(float)), 0)
          << "up changed, row " << r;
    }
    // Overlapping columns stay refused: out shifted one column into up, or up one column
    // into the gate half.
    EXPECT_FALSE(SwiGlu(h.ctx, half(fused, 0), half(fused, f), half(fused, 1)).ok());
    EXPECT_FALSE(SwiGlu(h.ctx, half(fused, 0), half(fused, f - 1), half(fused, 0)).ok());
  }
}

TEST(SwiGluTest, SpecialValues) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> g = {kInf, -kInf, -100.0f, 100.0f, nan, 0.0f, -0.0f, 1.0f, -kInf, 5.0f};
  const std::vector<float> u = {2.0f, 2.0f, 2.0f, 1.0f, 1.0f, 3.0f, 3.0f, -nan, kInf, kInf};
  const std::vector<uint32_t> want = {Bits(kInf),  Bits(-0.0f), Bits(-0.0f), Bits(100.0f),
                                      0x7fc00000u, Bits(0.0f),  Bits(-0.0f), 0x7fc00000u,
                                      0x7fc00000u, Bits(kInf)};
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 1);
    const auto got = RunSwiGlu(h.ctx, g, u, 1, static_cast<int64_t>(g.size()));
    for (size_t i = 0; i < g.size(); ++i) {
      EXPECT_EQ(Bits(got[i]), want[i]) << testing::IsaString(isa) << " i=" << i;
    }
  }
}

TEST(SwiGluTest, RejectsBadOperands) {
  auto h = MakeContext(Isa::kScalar, 1);
  std::vector<float> a(32), b(32), c(32);
  auto v = [](float* p, std::initializer_list<int64_t> s) {
    return TensorView::Contiguous(p, DType::kF32, s);
  };
  Status s = SwiGlu(h.ctx, v(a.data(), {3, 4}), v(b.data(), {3, 4}), v(c.data(), {3, 5}));
  EXPECT_EQ(s.message(), "swiglu: out has shape [3, 5] f32 but gate is [3, 4] f32");
  s = SwiGlu(h.ctx, v(a.data(), {3, 4}), v(b.data(), {4, 3}), v(c.data(), {3, 4}));
  EXPECT_EQ(s.message(), "swiglu: up has shape [4, 3] f32 but gate is [3, 4] f32");
  EXPECT_FALSE(SwiGlu(h.ctx, v(nullptr, {3, 4}), v(b.data(), {3, 4}), v(c.data(), {3, 4})).ok());
  EXPECT_FALSE(SwiGlu(h.ctx, v(a.data(), {-3, 4}), v(b.data(), {-3, 4}), v(c.data(), {-3, 4})).ok());
  EXPECT_FALSE(SwiGlu(h.ctx, v(a.data(), {3, 4}), v(b.data(), {3, 4}), v(a.data() + 1, {3, 4})).ok());
  EXPECT_FALSE(SwiGlu(h.ctx, v(a.data(), {3, 4}), v(b.data(), {3, 4}), v(b.data() + 4, {3, 4})).ok());
  // gate and up may overlap each other (both read only).
  EXPECT_TRUE(SwiGlu(h.ctx, v(a.data(), {3, 4}), v(a.data() + 2, {3, 4}), v(c.data(), {3, 4})).ok());
  TensorView bf = v(a.data(), {3, 4});
  bf.dtype = DType::kBF16;
  EXPECT_FALSE(SwiGlu(h.ctx, bf, v(b.data(), {3, 4}), v(c.data(), {3, 4})).ok());
}

}  // namespace
}  // namespace detinfer
