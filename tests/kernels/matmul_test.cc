// Matmul tests. Two independent oracles:
//  - a plain fp32 loop that states the documented order (acc = fma(x, w, acc) over k from 0,
//    then + bias) on the *unpacked* weights: every path must equal it bit for bit. For bf16
//    weights (kernels/matmul_bf16.h) the loop rounds x to bf16 and flushes tiny results, written
//    here from the definitions (x86's tininess after rounding to 24 bits, via frexp);
//  - a double-precision loop, against which the fp32 result must stay within the rigorous
//    bound for sequential summation, |err| <= gamma_(K+1) * sum_k |x_k w_k| (+ |bias|),
//    gamma_n = n u / (1 - n u), u = 2^-24.
#include "kernels/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "test_util.h"

namespace detinfer {
namespace {

// bf16 round to nearest even of x's value, subnormals to signed zero (vcvtneps2bf16), as the
// float it stands for: computed with frexp/ldexp, not bit tricks.
float OracleBf16(float x) {
  if (std::isnan(x) || std::isinf(x) || x == 0.0f) return x;
  if (std::fabs(x) < std::numeric_limits<float>::min()) return std::copysign(0.0f, x);
  int e;
  const double mant = std::frexp(static_cast<double>(x), &e);  // [0.5, 1)
  const double r = std::nearbyint(std::ldexp(mant, 8));         // 8 significant bits, ties even
  return static_cast<float>(std::ldexp(r, e - 8));               // may round up to Inf: right
}

// One step of the bf16 rule: fma, then zero (of its sign) if the exact result rounded to 24
// significant bits (unbounded exponent) is below 2^-126. The products are exact in double and
// so is the sum whenever it is near 2^-126 (both terms then lie within 53 bits of it).
float OracleBf16Step(float acc, float x, float w) {
  const float wd = std::fabs(w) < std::numeric_limits<float>::min() ? std::copysign(0.0f, w) : w;
  const float r = std::fma(x, wd, acc);
  const double s = static_cast<double>(x) * wd + acc;
  if (s == 0.0 || !std::isfinite(s)) return r;
  int e;
  const double mant = std::frexp(s, &e);
  const double rounded = std::ldexp(std::nearbyint(std::ldexp(mant, 24)), e - 24);
  return std::fabs(rounded) < 0x1p-126 ? std::copysign(0.0f, r) : r;
}

using testing::BitsEqual;
using testing::EveryCpusTuning;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

struct Problem {
  int64_t m, k, n;
  DType dtype;
  bool bias;
  std::vector<float> x, w_f32, b;
  std::vector<uint16_t> w_half;  // bf16/f16 bits when dtype != f32
  PackedMatrix packed;

  Problem(int64_t m_, int64_t k_, int64_t n_, DType dt, bool with_bias, uint64_t seed)
      : m(m_), k(k_), n(n_), dtype(dt), bias(with_bias) {
    x = RandomFloats(static_cast<size_t>(m * k), seed);
    w_f32 = RandomFloats(static_cast<size_t>(n * k), seed + 1);
    b = RandomFloats(static_cast<size_t>(n), seed + 2);
    TensorView wv;
    if (dt == DType::kF32) {
      wv = TensorView::Contiguous(w_f32.data(), dt, {n, k});
    } else {
      w_half.resize(w_f32.size());
      ConvertFromF32(w_f32.data(), dt, w_half.data(), w_f32.size());
      ConvertToF32(dt, w_half.data(), w_f32.data(), w_f32.size());  // the values actually used
      wv = TensorView::Contiguous(w_half.data(), dt, {n, k});
    }
    auto p = PackedMatrix::Pack(wv);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    packed = std::move(p).value();
  }

  // The documented order, in plain code on the unpacked weights.
  std::vector<float> Oracle() const {
    std::vector<float> y(static_cast<size_t>(m * n));
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        float acc = 0.0f;
        for (int64_t kk = 0; kk < k; ++kk) {
          acc = dtype == DType::kBF16
                    ? OracleBf16Step(acc, OracleBf16(x[i * k + kk]), w_f32[j * k + kk])
                    : std::fma(x[i * k + kk], w_f32[j * k + kk], acc);
        }
        y[i * n + j] = bias ? acc + b[j] : acc;
      }
    }
    return y;
  }

  std::vector<float> Run(Isa isa, int threads, const float* xrows, int64_t rows) const {
    auto h = MakeContext(isa, threads);
    std::vector<float> y(static_cast<size_t>(rows * n), -7.0f);
    const TensorView xv = TensorView::Contiguous(xrows, DType::kF32, {rows, k});
    const TensorView yv = TensorView::Contiguous(y.data(), DType::kF32, {rows, n});
    const TensorView bv = TensorView::Contiguous(b.data(), DType::kF32, {n});
    Status s = Matmul(h.ctx, xv, packed, bias ? &bv : nullptr, yv);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return y;
  }
  std::vector<float> Run(Isa isa, int threads) const { return Run(isa, threads, x.data(), m); }
};

TEST(MatmulTest, EveryPathEqualsTheDocumentedOrderBitForBit) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (auto [m, k, n] : std::vector<std::array<int64_t, 3>>{
             {1, 1, 1}, {1, 3, 17}, {2, 17, 15}, {7, 100, 33}, {13, 256, 100}, {64, 64, 64},
             {129, 300, 47}, {6, 1000, 16}, {97, 33, 130}}) {
      for (bool bias : {false, true}) {
        Problem p(m, k, n, dt, bias, static_cast<uint64_t>(m * 1000 + k * 10 + n));
        const auto want = p.Oracle();
        for (Isa isa : TestableIsas()) {
          EXPECT_TRUE(BitsEqual(p.Run(isa, 1), want))
              << testing::IsaString(isa) << " " << DTypeName(dt) << " M=" << m << " K=" << k
              << " N=" << n << " bias=" << bias;
        }
      }
    }
  }
}

// Whichever loop (vdpbf16ps or the flushed FMA loop) and prefetch distances a CPU picks, every
// path gives the documented bits, at decode (where the prefetches run) and prefill shapes.
TEST(MatmulTest, EveryCpusChoicesEqualTheDocumentedOrder) {
  for (DType dt : {DType::kBF16, DType::kF16, DType::kF32}) {
    for (auto [m, k, n] : std::vector<std::array<int64_t, 3>>{
             {1, 3, 17}, {1, 1000, 70}, {4, 257, 33}, {13, 257, 100}, {129, 300, 47}}) {
      Problem p(m, k, n, dt, true, static_cast<uint64_t>(m * 31 + k));
      const auto want = p.Oracle();
      for (Isa isa : TestableIsas()) {
        for (int threads : {1, 2}) {
          auto h = MakeContext(isa, threads);
          for (const kernels::CpuTuning& tuning : EveryCpusTuning()) {
            std::vector<float> y(static_cast<size_t>(m * n), -7.0f);
            const TensorView bv = TensorView::Contiguous(p.b.data(), DType::kF32, {n});
            ASSERT_TRUE(kernels::MatmulTuned(
                            h.ctx, TensorView::Contiguous(p.x.data(), DType::kF32, {m, k}),
                            p.packed, &bv, TensorView::Contiguous(y.data(), DType::kF32, {m, n}),
                            tuning)
                            .ok());
            EXPECT_TRUE(BitsEqual(y, want))
                << testing::IsaString(isa) << " " << DTypeName(dt) << " bf16 pairs "
                << tuning.bf16_pairs << " prefetch " << tuning.half_decode_prefetch << " M=" << m
                << " K=" << k;
          }
        }
      }
    }
  }
}

TEST(MatmulTest, WithinTheSequentialSummationBoundOfTheDoubleOracle) {
  const double u = std::ldexp(1.0, -24);
  for (DType dt : {DType::kF32, DType::kBF16}) {
    Problem p(9, 777, 50, dt, true, 42);
    const auto y = p.Run(TestableIsas().back(), 2);
    for (int64_t i = 0; i < p.m; ++i) {
      for (int64_t j = 0; j < p.n; ++j) {
        // bf16: the activations are rounded first (relative error <= 2^-9 each), which the
        // bound adds; the flushes change each step by less than 2^-126.
        double exact = 0, abs_sum = 0;
        for (int64_t kk = 0; kk < p.k; ++kk) {
          const double t = double(p.x[i * p.k + kk]) * double(p.w_f32[j * p.k + kk]);
          exact += t;
          abs_sum += std::fabs(t);
        }
        const double nu = double(p.k + 1) * u;
        const double act = dt == DType::kBF16 ? std::ldexp(1.0, -9) * (1 + nu) * abs_sum : 0.0;
        const double bound = nu / (1 - nu) * (abs_sum * (1 + std::ldexp(1.0, -9)) +
                                              std::fabs(p.b[j])) +
                             u * std::fabs(exact + p.b[j]) + act + double(p.k) * 0x1p-126;
        EXPECT_LE(std::fabs(double(y[i * p.n + j]) - (exact + p.b[j])), bound)
            << "row " << i << " col " << j;
      }
    }
  }
}

// SPEC §A1/§A2/§K1: a row's result does not depend on M or on the row's index.
TEST(MatmulTest, RowInvariantAcrossBatchSizesAndPositions) {
  const int64_t k = 130, n = 70;
  for (Isa isa : TestableIsas()) {
    Problem p(512, k, n, DType::kBF16, true, 7);
    for (int64_t m : {1, 2, 3, 7, 16, 64, 129, 512}) {
      const auto batch = p.Run(isa, 2, p.x.data(), m);
      for (int64_t i : {int64_t{0}, m / 2, m - 1}) {
        const auto alone = p.Run(isa, 1, p.x.data() + i * k, 1);
        ASSERT_TRUE(BitsEqual(batch.data() + i * n, alone.data(), static_cast<size_t>(n)))
            << testing::IsaString(isa) << " M=" << m << " row " << i;
        // The same row at another index of another batch (row 0 of a batch starting at i).
        const int64_t rest = std::min<int64_t>(5, 512 - i);
        const auto shifted = p.Run(isa, 3, p.x.data() + i * k, rest);
        ASSERT_TRUE(BitsEqual(shifted.data(), alone.data(), static_cast<size_t>(n)));
      }
    }
  }
}

// SPEC §A6/§A7.
TEST(MatmulTest, ThreadCountAndIsaNeverChangeBits) {
  Problem p(100, 200, 300, DType::kF32, true, 9);
  const auto ref = p.Run(Isa::kScalar, 1);
  for (Isa isa : TestableIsas()) {
    for (int threads : {1, 2, 3, 5}) {
      EXPECT_TRUE(BitsEqual(p.Run(isa, threads), ref)) << testing::IsaString(isa) << " x" << threads;
    }
  }
}

TEST(MatmulTest, KZeroGivesBiasOrZero) {
  for (Isa isa : TestableIsas()) {
    for (bool bias : {false, true}) {
      Problem p(3, 0, 20, DType::kF32, bias, 1);
      const auto y = p.Run(isa, 1);
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 20; ++j) EXPECT_EQ(y[i * 20 + j], bias ? 0.0f + p.b[j] : 0.0f);
    }
  }
}

// NaN in x poisons exactly its own row; Inf * 0 is NaN; Inf otherwise propagates with sign.
TEST(MatmulTest, NanAndInfPropagateOnlyWithinTheirRow) {
  for (Isa isa : TestableIsas()) {
    Problem p(4, 40, 21, DType::kF32, false, 3);
    p.x[1 * 40 + 5] = std::numeric_limits<float>::quiet_NaN();
    for (int64_t kk = 0; kk < 40; ++kk) p.x[2 * 40 + kk] = 0.0f;
    p.x[2 * 40 + 7] = std::numeric_limits<float>::infinity();
    const auto y = p.Run(isa, 2);
    const auto want = p.Oracle();
    EXPECT_TRUE(BitsEqual(y, want)) << testing::IsaString(isa);
    for (int64_t j = 0; j < 21; ++j) {
      EXPECT_TRUE(std::isnan(y[1 * 21 + j]));
      EXPECT_FALSE(std::isnan(y[0 * 21 + j]));
      EXPECT_FALSE(std::isnan(y[3 * 21 + j]));
      const float w = p.w_f32[j * 40 + 7];
      EXPECT_EQ(y[2 * 21 + j], w > 0 ? INFINITY : -INFINITY);
    }
  }
}

// The bf16 rule's edges (kernels/matmul_bf16.h), each with its answer worked out by hand, on
// every path and with every CPU's choice of loop (on an AVX512_BF16 machine one of them is the
// hardware's own vdpbf16ps).
TEST(MatmulTest, Bf16RuleEdgesOnEveryPath) {
  struct Case {
    const char* what;
    std::vector<float> x, w;  // w values are bf16-representable (or bf16 subnormals)
    float want;
  };
  const float tiny = std::numeric_limits<float>::min();  // 2^-126
  const float sub_bf16 = std::ldexp(1.0f, -133);         // bf16 0x0001, subnormal
  const std::vector<Case> cases = {
      {"2^-126 - 2^-150 is tiny after rounding: flushed", {0x1p-63f, 0x1p-75f},
       {0x1p-63f, -0x1p-75f}, 0.0f},
      {"2^-126 - 2^-151 rounds to 2^-126: kept", {0x1p-63f, 0x1p-75f}, {0x1p-63f, -0x1p-76f},
       tiny},
      {"a subnormal weight reads as zero", {0x1p100f}, {sub_bf16}, 0.0f},
      {"a subnormal activation rounds to zero", {1e-40f}, {0x1p100f}, 0.0f},
      {"activations round to bf16, ties to even", {1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f},
       {1.0f, 1.0f}, 1.0f + (1.0f + 0x1p-6f)},
      {"a tiny negative result keeps its sign (odd K)", {-0x1p-70f}, {0x1p-70f}, -0.0f},
      {"ascending k, one rounding per k", {1.0f, 1.0f, 1.0f}, {0x1p24f, 1.0f, -0x1p24f}, 0.0f},
  };
  for (const Case& c : cases) {
    const int64_t k = static_cast<int64_t>(c.x.size());
    std::vector<uint16_t> wb(c.w.size());
    ConvertFromF32(c.w.data(), DType::kBF16, wb.data(), c.w.size());
    auto packed = PackedMatrix::Pack(TensorView::Contiguous(wb.data(), DType::kBF16, {1, k}));
    ASSERT_TRUE(packed.ok());
    for (Isa isa : TestableIsas()) {
      auto h = MakeContext(isa, 1);
      for (const kernels::CpuTuning& tuning : EveryCpusTuning()) {
        float y = 7.0f;
        ASSERT_TRUE(kernels::MatmulTuned(
                        h.ctx, TensorView::Contiguous(c.x.data(), DType::kF32, {1, k}), *packed,
                        nullptr, TensorView::Contiguous(&y, DType::kF32, {1, 1}), tuning)
                        .ok());
        EXPECT_TRUE(BitsEqual(std::vector<float>{y}, std::vector<float>{c.want}))
            << c.what << " on " << testing::IsaString(isa) << " (bf16 pairs "
            << tuning.bf16_pairs << "): got " << y << " (sign " << std::signbit(y) << ")";
      }
    }
  }
}

TEST(MatmulTest, PackKeepsStoredValues) {
  Problem p(1, 37, 19, DType::kF16, false, 5);
  for (int64_t j = 0; j < 19; ++j)
    for (int64_t kk = 0; kk < 37; ++kk) ASSERT_EQ(p.packed.At(j, kk), p.w_f32[j * 37 + kk]);
}

TEST(MatmulTest, BadOperandsAreErrorsNamingTheOperand) {
  Problem p(2, 8, 4, DType::kF32, true, 1);
  KernelContext ctx;
  std::vector<float> y(8), x(2 * 9), bad_bias(5);
  const TensorView xv = TensorView::Contiguous(p.x.data(), DType::kF32, {2, 8});
  const TensorView yv = TensorView::Contiguous(y.data(), DType::kF32, {2, 4});
  auto msg = [&](const Status& s) { return s.ok() ? std::string("ok") : s.message(); };

  Status s = Matmul(ctx, TensorView::Contiguous(x.data(), DType::kF32, {2, 9}), p.packed, nullptr, yv);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(msg(s).find("K=9"), std::string::npos) << msg(s);

  s = Matmul(ctx, xv, p.packed, nullptr, TensorView::Contiguous(y.data(), DType::kF32, {2, 3}));
  EXPECT_NE(msg(s).find("matmul: y"), std::string::npos) << msg(s);

  const TensorView bb = TensorView::Contiguous(bad_bias.data(), DType::kF32, {5});
  s = Matmul(ctx, xv, p.packed, &bb, yv);
  EXPECT_NE(msg(s).find("bias"), std::string::npos) << msg(s);

  s = Matmul(ctx, TensorView::Contiguous(static_cast<const void*>(nullptr), DType::kF32, {2, 8}), p.packed, nullptr, yv);
  EXPECT_NE(msg(s).find("matmul: x is null"), std::string::npos) << msg(s);

  s = Matmul(ctx, TensorView::Contiguous(p.x.data(), DType::kBF16, {2, 8}), p.packed, nullptr, yv);
  EXPECT_NE(msg(s).find("matmul: x must be f32"), std::string::npos) << msg(s);

  s = Matmul(ctx, xv, p.packed, nullptr, TensorView::Contiguous(p.x.data(), DType::kF32, {2, 4}));
  EXPECT_NE(msg(s).find("overlaps x"), std::string::npos) << msg(s);

  std::vector<uint8_t> raw(64);
  TensorView misaligned = TensorView::Contiguous(raw.data() + 1, DType::kF32, {2, 4});
  s = Matmul(ctx, xv, p.packed, nullptr, misaligned);
  EXPECT_NE(msg(s).find("not aligned"), std::string::npos) << msg(s);

  auto packed = PackedMatrix::Pack(TensorView::Contiguous(p.w_f32.data(), DType::kF32, {4, 8, 1}));
  EXPECT_FALSE(packed.ok());
}

// Qwen3-8B-sized shapes; rows are checked against the scalar path computed one row at a time.
TEST(MatmulLargeTest, PrefillShapeMatchesScalarRowsAlone) {
  Problem p(512, 4096, 4096, DType::kBF16, false, 11);
  const Isa best = TestableIsas().back();
  const auto big = p.Run(best, 2);
  for (int64_t i : {0, 1, 255, 511}) {
    const auto row = p.Run(Isa::kScalar, 2, p.x.data() + i * p.k, 1);
    ASSERT_TRUE(BitsEqual(big.data() + i * p.n, row.data(), static_cast<size_t>(p.n))) << i;
  }
}

}  // namespace
}  // namespace detinfer

namespace detinfer {
namespace {

// Packing q/k/v (or gate/up) as one weight changes no column's bits.
TEST(MatmulTest, PackRowsEqualsSeparateMatmuls) {
  const int64_t m = 5, k = 40;
  const auto x = testing::RandomFloats(m * k, 1);
  const auto a = testing::RandomFloats(17 * k, 2), b = testing::RandomFloats(9 * k, 3);
  const TensorView parts[2] = {TensorView::Contiguous(a.data(), DType::kF32, {17, k}),
                               TensorView::Contiguous(b.data(), DType::kF32, {9, k})};
  auto both = PackedMatrix::PackRows(parts);
  auto pa = PackedMatrix::Pack(parts[0]), pb = PackedMatrix::Pack(parts[1]);
  ASSERT_TRUE(both.ok() && pa.ok() && pb.ok());
  for (Isa isa : testing::TestableIsas()) {
    KernelContext ctx{isa, nullptr};
    std::vector<float> y(m * 26), ya(m * 17), yb(m * 9);
    const TensorView xv = TensorView::Contiguous(x.data(), DType::kF32, {m, k});
    ASSERT_TRUE(Matmul(ctx, xv, *both, nullptr, TensorView::Contiguous(y.data(), DType::kF32, {m, 26})).ok());
    ASSERT_TRUE(Matmul(ctx, xv, *pa, nullptr, TensorView::Contiguous(ya.data(), DType::kF32, {m, 17})).ok());
    ASSERT_TRUE(Matmul(ctx, xv, *pb, nullptr, TensorView::Contiguous(yb.data(), DType::kF32, {m, 9})).ok());
    for (int64_t i = 0; i < m; ++i) {
      ASSERT_TRUE(testing::BitsEqual(y.data() + i * 26, ya.data() + i * 17, 17));
      ASSERT_TRUE(testing::BitsEqual(y.data() + i * 26 + 17, yb.data() + i * 9, 9));
    }
  }
  std::vector<uint16_t> h(9 * k);
  const TensorView mixed[2] = {parts[0], TensorView::Contiguous(h.data(), DType::kBF16, {9, k})};
  EXPECT_FALSE(PackedMatrix::PackRows(mixed).ok());
}

}  // namespace
}  // namespace detinfer
