// Residual add and embedding gather: exact oracles (both ops are exact or single-rounding),
// exact invariance across rows, batch sizes, thread counts and ISA paths, operand errors.
#include "kernels/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::Bits;
using testing::BitsEqual;
using testing::FromBits;
using testing::IsaString;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

std::vector<float> RunAdd(Isa isa, int threads, const std::vector<float>& a,
                          const std::vector<float>& b, int64_t m, int64_t d) {
  auto h = MakeContext(isa, threads);
  std::vector<float> out(a.size(), -3.f);
  Status s = Add(h.ctx, TensorView::Contiguous(a.data(), DType::kF32, {m, d}),
                 TensorView::Contiguous(b.data(), DType::kF32, {m, d}),
                 TensorView::Contiguous(out.data(), DType::kF32, {m, d}));
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

// float(double(a) + double(b)) is the correctly rounded fp32 sum (the double sum of two floats
// rounds innocuously), so the oracle is exact: tolerance 0.
float OracleAdd(float a, float b) { return static_cast<float>(double(a) + double(b)); }

TEST(AddTest, EqualsTheExactOracleOnEveryWidthPathAndThreadCount) {
  for (int64_t d : {1, 7, 8, 15, 16, 17, 64, 100, 4096}) {
    const int64_t m = 3;
    const auto a = RandomFloats(size_t(m * d), uint64_t(d), -100.f, 100.f);
    auto b = RandomFloats(size_t(m * d), uint64_t(d) + 1, -1.f, 1.f);
    std::vector<float> want(a.size());
    for (size_t i = 0; i < a.size(); ++i) want[i] = OracleAdd(a[i], b[i]);
    for (Isa isa : TestableIsas()) {
      for (int threads : {1, 2, 3, 5}) {
        EXPECT_TRUE(BitsEqual(RunAdd(isa, threads, a, b, m, d), want))
            << IsaString(isa) << " d=" << d << " threads=" << threads;
      }
    }
  }
}

TEST(AddTest, RowsAreInvariantToBatchSizeAndInPlaceWorks) {
  const int64_t d = 100;
  const auto a = RandomFloats(512 * d, 1), b = RandomFloats(512 * d, 2);
  const auto full = RunAdd(Isa::kScalar, 1, a, b, 512, d);
  for (Isa isa : TestableIsas()) {
    for (int threads : {1, 2, 3, 5}) {
      for (int64_t m : {1, 2, 3, 7, 16, 64, 129, 512}) {
        std::vector<float> as(a.begin(), a.begin() + m * d), bs(b.begin(), b.begin() + m * d);
        EXPECT_TRUE(BitsEqual(RunAdd(isa, threads, as, bs, m, d).data(), full.data(), size_t(m * d)));
        // In place into a, then into b: the residual stream is updated in place.
        auto h = MakeContext(isa, threads);
        std::vector<float> ia = as, ib = bs;
        const TensorView va = TensorView::Contiguous(ia.data(), DType::kF32, {m, d});
        const TensorView vb = TensorView::Contiguous(ib.data(), DType::kF32, {m, d});
        ASSERT_TRUE(Add(h.ctx, va, TensorView::Contiguous(bs.data(), DType::kF32, {m, d}), va).ok());
        ASSERT_TRUE(Add(h.ctx, TensorView::Contiguous(as.data(), DType::kF32, {m, d}), vb, vb).ok());
        EXPECT_TRUE(BitsEqual(ia.data(), full.data(), size_t(m * d)));
        EXPECT_TRUE(BitsEqual(ib.data(), full.data(), size_t(m * d)));
      }
    }
  }
}

TEST(AddTest, SpecialValuesAreIeeeAdditions) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a = {inf, -inf, nan, 0.0f, -0.0f, 3.4e38f, 1e-45f, 1.0f, inf};
  const std::vector<float> b = {1.0f, inf, 2.0f, -0.0f, -0.0f, 3.4e38f, -1e-45f, nan, inf};
  for (Isa isa : TestableIsas()) {
    const auto y = RunAdd(isa, 1, a, b, 1, int64_t(a.size()));
    EXPECT_EQ(y[0], inf);
    EXPECT_TRUE(std::isnan(y[1]));
    EXPECT_TRUE(std::isnan(y[2]));
    EXPECT_EQ(Bits(y[3]), Bits(0.0f));
    EXPECT_EQ(Bits(y[4]), Bits(-0.0f));
    EXPECT_EQ(y[5], inf);
    EXPECT_EQ(Bits(y[6]), Bits(0.0f));  // subnormals are not flushed: exact cancellation
    EXPECT_TRUE(std::isnan(y[7]));
    EXPECT_EQ(y[8], inf);
  }
}

TEST(AddTest, BadOperandsAreNamedErrors) {
  KernelContext ctx;
  std::vector<float> a(24), b(24), out(24);
  Status s = Add(ctx, TensorView::Contiguous(a.data(), DType::kF32, {2, 12}),
                 TensorView::Contiguous(b.data(), DType::kF32, {3, 8}),
                 TensorView::Contiguous(out.data(), DType::kF32, {2, 12}));
  EXPECT_EQ(s.message(), "add: b has shape [3, 8] f32 but a has shape [2, 12] f32");
  s = Add(ctx, TensorView::Contiguous(a.data(), DType::kF32, {2, 12}),
          TensorView::Contiguous(b.data(), DType::kF32, {2, 12}),
          TensorView::Contiguous(out.data(), DType::kF32, {1, 12}));
  EXPECT_EQ(s.message(), "add: out has shape [1, 12] f32 but a has shape [2, 12] f32");
  s = Add(ctx, TensorView::Contiguous(a.data(), DType::kF32, {1, 12}),
          TensorView::Contiguous(b.data(), DType::kF32, {1, 12}),
          TensorView::Contiguous(a.data() + 4, DType::kF32, {1, 12}));
  EXPECT_EQ(s.message(), "add: out overlaps a without being a itself");
  s = Add(ctx, TensorView::Contiguous(a.data(), DType::kBF16, {2, 12}),
          TensorView::Contiguous(b.data(), DType::kF32, {2, 12}),
          TensorView::Contiguous(out.data(), DType::kF32, {2, 12}));
  EXPECT_NE(s.message().find("add: a must be f32"), std::string::npos) << s.message();
}

// Independent exact oracle for f16 -> f32: sign * 2^(e-15) * (1 + m/1024), or m * 2^-24 for
// subnormals, computed in double; NaNs are expected quiet with their payload kept.
uint32_t OracleF16(uint16_t h) {
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  const bool neg = (h & 0x8000) != 0;
  if (e == 31) {
    if (m == 0) return Bits(neg ? -std::numeric_limits<float>::infinity()
                                : std::numeric_limits<float>::infinity());
    return (neg ? 0x80000000u : 0u) | 0x7fc00000u | (uint32_t(m) << 13);
  }
  const double mag = e == 0 ? std::ldexp(double(m), -24) : std::ldexp(1.0 + m / 1024.0, e - 15);
  return Bits(static_cast<float>(neg ? -mag : mag));
}

TEST(EmbeddingTest, WideningIsExactForAllSixteenBitPatterns) {
  // A [4096, 16] table holding every 16-bit pattern once; ids visit rows in a scrambled order.
  const int64_t v = 4096, d = 16;
  std::vector<uint16_t> table(size_t(v * d));
  for (size_t i = 0; i < table.size(); ++i) table[i] = uint16_t(i);
  std::vector<int32_t> ids(static_cast<size_t>(v));
  for (int64_t i = 0; i < v; ++i) ids[size_t(i)] = int32_t((i * 1237) % v);
  for (DType dt : {DType::kBF16, DType::kF16}) {
    for (Isa isa : TestableIsas()) {
      auto h = MakeContext(isa, 3);
      std::vector<float> out(size_t(v * d));
      ASSERT_TRUE(EmbeddingGather(h.ctx, TensorView::Contiguous(table.data(), dt, {v, d}),
                                  ids.data(), v, TensorView::Contiguous(out.data(), DType::kF32, {v, d}))
                      .ok());
      for (int64_t i = 0; i < v; ++i) {
        for (int64_t k = 0; k < d; ++k) {
          const uint16_t pat = table[size_t(ids[size_t(i)] * d + k)];
          const uint32_t want = dt == DType::kBF16 ? uint32_t(pat) << 16 : OracleF16(pat);
          ASSERT_EQ(Bits(out[size_t(i * d + k)]), want)
              << DTypeName(dt) << " pattern 0x" << std::hex << pat << " " << IsaString(isa);
        }
      }
    }
  }
}

TEST(EmbeddingTest, GathersAreInvariantToBatchThreadsPathAndWidth) {
  for (int64_t d : {1, 7, 15, 17, 64, 100}) {
    const int64_t v = 50;
    const auto f32 = RandomFloats(size_t(v * d), uint64_t(d), -4.f, 4.f);
    std::vector<uint16_t> half(f32.size());
    for (size_t i = 0; i < half.size(); ++i) half[i] = uint16_t(Bits(f32[i]) >> 7);
    std::vector<int32_t> ids(512);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * 31 + 7) % size_t(v));
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
      const void* data = dt == DType::kF32 ? static_cast<const void*>(f32.data()) : half.data();
      const TensorView tv = TensorView::Contiguous(data, dt, {v, d});
      // Reference: each id alone, scalar, one thread.
      std::vector<float> alone(ids.size() * size_t(d));
      KernelContext one;
      for (size_t i = 0; i < ids.size(); ++i) {
        ASSERT_TRUE(EmbeddingGather(one, tv, &ids[i], 1,
                                    TensorView::Contiguous(alone.data() + i * size_t(d),
                                                           DType::kF32, {1, d}))
                        .ok());
      }
      for (size_t i = 0; dt == DType::kF32 && i < ids.size(); ++i) {
        ASSERT_TRUE(BitsEqual(alone.data() + i * size_t(d), f32.data() + ids[i] * d, size_t(d)));
      }
      for (Isa isa : TestableIsas()) {
        for (int threads : {1, 2, 3, 5}) {
          for (int64_t n : {1, 2, 3, 7, 16, 64, 129, 512}) {
            auto h = MakeContext(isa, threads);
            std::vector<float> out(size_t(n * d));
            ASSERT_TRUE(EmbeddingGather(h.ctx, tv, ids.data(), n,
                                        TensorView::Contiguous(out.data(), DType::kF32, {n, d}))
                            .ok());
            EXPECT_TRUE(BitsEqual(out.data(), alone.data(), out.size()))
                << IsaString(isa) << " " << DTypeName(dt) << " d=" << d << " n=" << n;
          }
        }
      }
    }
  }
}

TEST(EmbeddingTest, BadIdsAndOperandsAreNamedErrors) {
  KernelContext ctx;
  std::vector<float> table(10 * 4, 1.0f), out(3 * 4, 0.0f);
  const TensorView tv = TensorView::Contiguous(table.data(), DType::kF32, {10, 4});
  const TensorView ov = TensorView::Contiguous(out.data(), DType::kF32, {3, 4});
  for (int32_t bad : {10, -1}) {
    const std::vector<int32_t> ids = {0, 9, bad};
    Status s = EmbeddingGather(ctx, tv, ids.data(), 3, ov);
    EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
    EXPECT_EQ(s.message(), "embedding: id " + std::to_string(bad) +
                               " at index 2 is outside the table's range [0, 10)");
  }
  for (float v : out) EXPECT_EQ(v, 0.0f) << "written despite the error";
  const std::vector<int32_t> ids = {0, 1, 2};
  Status s = EmbeddingGather(ctx, tv, ids.data(), 2, ov);
  EXPECT_EQ(s.message(),
            "embedding: out has shape [3, 4] f32 but expected [2, 4] for 2 ids and table [10, 4] f32");
  s = EmbeddingGather(ctx, tv, nullptr, 3, ov);
  EXPECT_EQ(s.message(), "embedding: ids is null for n=3");
  s = EmbeddingGather(ctx, TensorView::Contiguous(table.data(), DType::kF32, {40}), ids.data(), 3, ov);
  EXPECT_NE(s.message().find("embedding: table must have rank 2"), std::string::npos) << s.message();
  s = EmbeddingGather(ctx, tv, ids.data(), 3, TensorView::Contiguous(table.data(), DType::kF32, {3, 4}));
  EXPECT_NE(s.message().find("embedding: out overlaps the table"), std::string::npos) << s.message();
  EXPECT_TRUE(EmbeddingGather(ctx, tv, nullptr, 0,
                              TensorView::Contiguous(out.data(), DType::kF32, {0, 4})).ok());
}

}  // namespace
}  // namespace detinfer
