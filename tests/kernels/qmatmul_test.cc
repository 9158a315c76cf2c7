// Block-format matmul (kernels/qmatmul.h). Oracles written here:
//  - the documented order in plain code: activations quantised by the header's rule, the
//    weights' integers from the block definition (core/quant_blocks.h, itself checked against
//    the published dequantisers in quant_blocks_test.cc), exact integer sums, the fp32 steps in
//    order — every ISA path, thread count and batch size must equal it bit for bit;
//  - double precision: the product of the dequantised operands, within the rigorous bound of
//    the fp32 steps; and the f32 product of the dequantised weights with the unquantised
//    activations, within the activation-rounding bound (half a step per element).
#include "kernels/qmatmul.h"

#include <gtest/gtest.h>

#include <utility>

#include "kernels/qmatmul_isa.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/quant_blocks.h"
#include "core/storage_format.h"
#include "kernels/matmul.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::BitsEqual;
using testing::MakeContext;
using testing::RandomFloats;
using testing::TestableIsas;

constexpr DType kBlockFormats[] = {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0,
                                   DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

struct QWeight {
  DType f;
  int64_t n, k;
  std::vector<uint8_t> bytes;
  std::vector<float> widened;  // [n, k]
  PackedMatrix packed;
};

QWeight MakeWeight(DType f, int64_t n, int64_t k, uint64_t seed) {
  QWeight w{f, n, k, {}, {}, {}};
  const auto v = RandomFloats(static_cast<size_t>(n * k), seed);
  w.bytes.resize(StorageBytes(f, n * k));
  ConvertFromF32(v.data(), f, w.bytes.data(), v.size());
  w.widened.resize(v.size());
  ConvertToF32(f, w.bytes.data(), w.widened.data(), v.size());
  auto p = PackedMatrix::Pack(TensorView::Contiguous(w.bytes.data(), f, {n, k}));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  w.packed = std::move(p).value();
  return w;
}

struct QuantRow {
  std::vector<int> q;
  std::vector<float> dx;
};

// The header's step 1, as written there.
QuantRow QuantiseRow(const float* x, int64_t k) {
  QuantRow r{std::vector<int>(static_cast<size_t>(k)), std::vector<float>(static_cast<size_t>(k / 32))};
  for (int64_t g = 0; g < k / 32; ++g) {
    float amax = 0.0f;
    bool finite = true;
    for (int i = 0; i < 32; ++i) {
      amax = std::max(amax, std::fabs(x[32 * g + i]));
      finite = finite && std::isfinite(x[32 * g + i]);
    }
    if (!finite) {
      r.dx[g] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    r.dx[g] = amax / 127.0f;
    for (int i = 0; i < 32; ++i) {
      float scaled = amax == 0.0f ? 0.0f : x[32 * g + i] * (127.0f / amax);
      if (std::isnan(scaled)) scaled = 0.0f;  // 0 * Inf: 127 / amax overflowed
      r.q[32 * g + i] = static_cast<int>(std::clamp(std::nearbyint(scaled), -127.0f, 127.0f));
    }
  }
  return r;
}

bool HasMin(DType f) {
  return f == DType::kQ4_1 || f == DType::kQ5_1 || f == DType::kQ4_K || f == DType::kQ5_K;
}
bool KScales(DType f) { return f == DType::kQ4_K || f == DType::kQ5_K; }

// Step 2 for one output, as written in the header.
float OracleOutput(const QWeight& w, const QuantRow& xr, int64_t n, const float* bias) {
  const StorageFormat& fmt = FormatOf(w.f);
  float acc = 0.0f;
  QuantInts b;
  for (int64_t g = 0; g < w.k / 32; ++g) {
    const int64_t blk = (n * w.k + 32 * g) / fmt.block_elems;
    DecodeQuantBlock(w.f, w.bytes.data() + blk * fmt.block_bytes, &b);
    const int first = static_cast<int>((32 * g) % fmt.block_elems);
    int64_t p = 0, s32 = 0;
    for (int i = 0; i < 32; ++i) {
      const int e = first + i;
      const int64_t w_int = w.f == DType::kQ6_K ? int64_t{b.sc[e / 16]} * b.q[e] : b.q[e];
      p += xr.q[32 * g + i] * w_int;
      s32 += xr.q[32 * g + i];
    }
    const float d = F16ToF32(b.d_bits);
    const float s = KScales(w.f) ? d * static_cast<float>(b.sc[first / 32]) : d;
    const float dx = xr.dx[g];
    acc = std::fma(dx * s, static_cast<float>(p), acc);
    if (HasMin(w.f)) {
      const float mn = KScales(w.f) ? -(F16ToF32(b.dmin_bits) * static_cast<float>(b.m[first / 32]))
                                    : F16ToF32(b.dmin_bits);
      acc = std::fma(dx * mn, static_cast<float>(s32), acc);
    }
  }
  return bias ? acc + bias[n] : acc;
}

std::vector<float> RunMatmul(const KernelContext& ctx, const QWeight& w, const std::vector<float>& x,
                       int64_t m, const std::vector<float>* bias) {
  std::vector<float> y(static_cast<size_t>(m * w.n), -7.0f);
  TensorView bv;
  if (bias) bv = TensorView::Contiguous(bias->data(), DType::kF32, {w.n});
  const Status st = Matmul(ctx, TensorView::Contiguous(x.data(), DType::kF32, {m, w.k}), w.packed,
                           bias ? &bv : nullptr, TensorView::Contiguous(y.data(), DType::kF32, {m, w.n}));
  EXPECT_TRUE(st.ok()) << st.ToString();
  return y;
}

class QMatmulTest : public ::testing::TestWithParam<DType> {
 protected:
  int64_t K() const { return FormatOf(GetParam()).block_elems == 256 ? 512 : 160; }
};

TEST_P(QMatmulTest, EveryPathEqualsTheDocumentedOrderForAnyBatch) {
  const DType f = GetParam();
  const int64_t n = 40, k = K();  // 40 columns: a partial last panel (and half-panel)
  const QWeight w = MakeWeight(f, n, k, 3);
  const auto bias = RandomFloats(static_cast<size_t>(n), 4);
  auto x = RandomFloats(static_cast<size_t>(512 * k), 5, -3.0f, 3.0f);
  // Row 3 subnormal (127 / amax overflows to Inf), row 4 with zero groups and exact zeros.
  for (int64_t i = 0; i < k; ++i) {
    x[3 * k + i] *= 1e-39f;
    if (i < 32 || i % 5 == 0) x[4 * k + i] = 0.0f;
  }
  std::vector<float> want(static_cast<size_t>(512 * n));
  for (int64_t r = 0; r < 512; ++r) {
    const QuantRow xr = QuantiseRow(x.data() + r * k, k);
    for (int64_t j = 0; j < n; ++j) want[r * n + j] = OracleOutput(w, xr, j, bias.data());
  }
  for (Isa isa : TestableIsas()) {
    for (int threads : {1, 2, 3}) {
      auto h = MakeContext(isa, threads);
      for (int64_t m : {1, 2, 7, 64, 512}) {
        if (isa == Isa::kScalar && m == 512 && threads != 1) continue;  // slow; same code
        const std::vector<float> xm(x.begin(), x.begin() + m * k);
        const auto y = RunMatmul(h.ctx, w, xm, m, &bias);
        ASSERT_TRUE(BitsEqual(y.data(), want.data(), y.size()))
            << FormatOf(f).name << " " << IsaName(isa) << " threads " << threads << " M " << m;
      }
    }
  }
}

// The prefetch distance is a hint chosen per CPU (kernels/cpu_tuning.h): every vendor's choice
// (no prefetch, 4 KiB, 1 MiB past the end of the panels; AVX2 and NEON always 16 KiB) gives the
// documented bits on every path, at decode (where the AVX-512 tiles prefetch) and beyond.
TEST_P(QMatmulTest, PrefetchDistanceChangesNoBit) {
  const DType f = GetParam();
  const int64_t n = 40, k = K();
  const QWeight w = MakeWeight(f, n, k, 11);
  const auto x = RandomFloats(static_cast<size_t>(7 * k), 12, -3.0f, 3.0f);
  for (int64_t m : {1, 4, 7}) {
    std::vector<float> want(static_cast<size_t>(m * n));
    for (int64_t r = 0; r < m; ++r) {
      const QuantRow xr = QuantiseRow(x.data() + r * k, k);
      for (int64_t j = 0; j < n; ++j) want[r * n + j] = OracleOutput(w, xr, j, nullptr);
    }
    for (Isa isa : TestableIsas()) {
      auto h = MakeContext(isa, 2);
      for (const kernels::CpuTuning& tuning : testing::EveryCpusTuning()) {
        std::vector<float> y(static_cast<size_t>(m * n), -7.0f);
        ASSERT_TRUE(kernels::MatmulTuned(h.ctx, TensorView::Contiguous(x.data(), DType::kF32, {m, k}),
                                         w.packed, nullptr,
                                         TensorView::Contiguous(y.data(), DType::kF32, {m, n}), tuning)
                        .ok());
        ASSERT_TRUE(BitsEqual(y.data(), want.data(), y.size()))
            << FormatOf(f).name << " " << IsaName(isa) << " M " << m << " prefetch "
            << tuning.quant_decode_prefetch;
      }
    }
  }
}

TEST_P(QMatmulTest, WithinTheFp32BoundOfTheDequantisedProduct) {
  const DType f = GetParam();
  const int64_t n = 48, k = K(), m = 9;
  const QWeight w = MakeWeight(f, n, k, 6);
  const auto x = RandomFloats(static_cast<size_t>(m * k), 7, -2.0f, 2.0f);
  auto h = MakeContext(TestableIsas().back(), 2);
  const auto y = RunMatmul(h.ctx, w, x, m, nullptr);
  const double u = std::ldexp(1.0, -24);
  const double gamma = (2.0 * double(k / 32) + 2) * u / (1 - (2.0 * double(k / 32) + 2) * u);
  for (int64_t r = 0; r < m; ++r) {
    const QuantRow xr = QuantiseRow(x.data() + r * k, k);
    for (int64_t j = 0; j < n; ++j) {
      // Against the quantised activations (exact integers times their scale): only the fp32
      // steps round. The magnitude counts the min term apart (it is a separate product).
      double exact = 0, mag = 0, vs_f32 = 0, act_bound = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        const double xq = double(xr.dx[kk / 32]) * xr.q[kk];
        const double wv = w.widened[j * k + kk];
        exact += xq * wv;
        // With a min the two products are rounded apart: |s q| + |mn| <= |w| + 2 |mn|, and the
        // random weights keep |mn| <= 1 (a min is at most the block's largest |w|).
        mag += std::fabs(xq) * (std::fabs(wv) + (HasMin(f) ? 2.0 : 0.0));
        vs_f32 += double(x[r * k + kk]) * wv;
        act_bound += 0.5 * double(xr.dx[kk / 32]) * std::fabs(wv);
      }
      const double got = y[r * n + j];
      EXPECT_LE(std::fabs(got - exact), gamma * mag * 1.5 + 1e-30) << "row " << r << " col " << j;
      // Against the unquantised activations: each x moved by at most half its group's step.
      EXPECT_LE(std::fabs(got - vs_f32), act_bound * 1.001 + gamma * mag * 1.5)
          << "row " << r << " col " << j;
    }
  }
}

TEST_P(QMatmulTest, PackedValuesWidenLikeTheFile) {
  const DType f = GetParam();
  const QWeight w = MakeWeight(f, 33, K(), 8);
  for (int64_t j = 0; j < w.n; ++j) {
    for (int64_t kk = 0; kk < w.k; ++kk) {
      ASSERT_EQ(testing::Bits(w.packed.At(j, kk)), testing::Bits(w.widened[j * w.k + kk]))
          << "W[" << j << ", " << kk << "]";
    }
  }
}

TEST_P(QMatmulTest, FusedAndStridedPartsKeepEachColumnsBits) {
  // q/k/v packed as one weight, and the rotate-half reorder's strided row views
  // (transformer.cc): each column is the same as with its own rows packed alone.
  const DType f = GetParam();
  const int64_t k = K();
  const QWeight a = MakeWeight(f, 24, k, 9), b = MakeWeight(f, 17, k, 10);
  TensorView odd = TensorView::Contiguous(a.bytes.data(), f, {12, k});
  odd.data = const_cast<uint8_t*>(a.bytes.data()) + StorageBytes(f, k);  // rows 1, 3, 5, ...
  odd.stride[0] = 2 * k;
  const TensorView parts[] = {odd, TensorView::Contiguous(b.bytes.data(), f, {17, k})};
  auto fused = PackedMatrix::PackRows(parts);
  ASSERT_TRUE(fused.ok()) << fused.status().ToString();
  std::vector<uint8_t> odd_rows;
  for (int64_t r = 1; r < 24; r += 2) {
    const size_t row = StorageBytes(f, k);
    odd_rows.insert(odd_rows.end(), a.bytes.begin() + r * row, a.bytes.begin() + (r + 1) * row);
  }
  auto odd_alone = PackedMatrix::Pack(TensorView::Contiguous(odd_rows.data(), f, {12, k}));
  ASSERT_TRUE(odd_alone.ok());
  const int64_t m = 5;
  const auto x = RandomFloats(static_cast<size_t>(m * k), 11);
  auto h = MakeContext(TestableIsas().back(), 2);
  std::vector<float> y(static_cast<size_t>(m * 29)), y1(static_cast<size_t>(m * 12));
  const TensorView xv = TensorView::Contiguous(x.data(), DType::kF32, {m, k});
  ASSERT_TRUE(Matmul(h.ctx, xv, *fused, nullptr, TensorView::Contiguous(y.data(), DType::kF32, {m, 29})).ok());
  ASSERT_TRUE(Matmul(h.ctx, xv, *odd_alone, nullptr, TensorView::Contiguous(y1.data(), DType::kF32, {m, 12})).ok());
  const auto y2 = RunMatmul(h.ctx, b, x, m, nullptr);
  for (int64_t r = 0; r < m; ++r) {
    ASSERT_TRUE(BitsEqual(y.data() + r * 29, y1.data() + r * 12, 12)) << "row " << r;
    ASSERT_TRUE(BitsEqual(y.data() + r * 29 + 12, y2.data() + r * 17, 17)) << "row " << r;
  }
}

TEST_P(QMatmulTest, NonFiniteActivationsPoisonOnlyTheirRow) {
  const DType f = GetParam();
  const int64_t k = K(), n = 16, m = 3;
  const QWeight w = MakeWeight(f, n, k, 12);
  auto x = RandomFloats(static_cast<size_t>(m * k), 13);
  x[k + 5] = std::numeric_limits<float>::infinity();
  auto h = MakeContext(TestableIsas().back(), 1);
  const auto y = RunMatmul(h.ctx, w, x, m, nullptr);
  const std::vector<float> row0(x.begin(), x.begin() + k), row2(x.begin() + 2 * k, x.end());
  for (int64_t j = 0; j < n; ++j) EXPECT_TRUE(std::isnan(y[n + j])) << j;
  EXPECT_TRUE(BitsEqual(y.data(), RunMatmul(h.ctx, w, row0, 1, nullptr).data(), n));
  EXPECT_TRUE(BitsEqual(y.data() + 2 * n, RunMatmul(h.ctx, w, row2, 1, nullptr).data(), n));
}

INSTANTIATE_TEST_SUITE_P(Formats, QMatmulTest, ::testing::ValuesIn(kBlockFormats),
                         [](const auto& p) { return std::string(FormatOf(p.param).ggml_name); });

TEST(QuantizeRowsTest, EveryPathEqualsTheStatedRuleOnHardValues) {
  // Ties of x * inv at k + 0.5, signed zeros, subnormals, the largest floats, NaN and Inf.
  const int64_t k = 256, rows = 6;
  auto x = RandomFloats(static_cast<size_t>(rows * k), 14, -5.0f, 5.0f);
  for (int64_t i = 0; i < 32; ++i) {
    x[i] = i == 0 ? 127.0f : 0.5f * float(i - 16);  // amax 127: x * inv = x exactly, ties at .5
    x[k + i] = i % 2 ? -0.0f : 1e-40f * float(i);
    x[2 * k + i] = i % 3 ? 3.0e38f : -3.4e38f;
  }
  x[3 * k + 40] = std::numeric_limits<float>::quiet_NaN();
  x[4 * k + 70] = -std::numeric_limits<float>::infinity();
  using Fn = void (*)(const float*, int64_t, int64_t, int64_t, int64_t, int8_t*, float*, int32_t*);
  const std::pair<Isa, Fn> paths[] = {{Isa::kScalar, &kernels::scalar::QuantizeRows},
#if defined(DETINFER_ARCH_X86_64)
                                      {Isa::kAvx2, &kernels::avx2::QuantizeRows},
                                      {Isa::kAvx512, &kernels::avx512::QuantizeRows}
#elif defined(DETINFER_ARCH_AARCH64)
                                      {Isa::kNeon, &kernels::neon::QuantizeRows}
#endif
  };
  std::vector<int8_t> q0(static_cast<size_t>(rows * k));
  std::vector<float> d0(static_cast<size_t>(rows * k / 32));
  std::vector<int32_t> s0(static_cast<size_t>(rows * k / 16));
  kernels::scalar::QuantizeRows(x.data(), k, 0, rows, k, q0.data(), d0.data(), s0.data());
  for (int64_t r = 0; r < rows; ++r) {  // the scalar path against the test's own statement
    const QuantRow want = QuantiseRow(x.data() + r * k, k);
    for (int64_t i = 0; i < k; ++i) ASSERT_EQ(q0[r * k + i], want.q[i]) << r << " " << i;
    for (int64_t g = 0; g < k / 32; ++g) {
      ASSERT_EQ(testing::Bits(d0[r * k / 32 + g]), testing::Bits(want.dx[g])) << r << " " << g;
    }
  }
  // Ties round to even: x = 0.5 * (i - 16) with inv = 1 gives q = nearest even.
  EXPECT_EQ(q0[17], 0);   // 0.5
  EXPECT_EQ(q0[19], 2);   // 1.5
  EXPECT_EQ(q0[21], 2);   // 2.5
  for (const auto& [isa, fn] : paths) {
    bool runnable = false;
    for (Isa s : TestableIsas()) runnable = runnable || s == isa;
    if (!runnable) continue;
    std::vector<int8_t> q(q0.size());
    std::vector<float> d(d0.size());
    std::vector<int32_t> s(s0.size());
    fn(x.data(), k, 0, rows, k, q.data(), d.data(), s.data());
    EXPECT_EQ(q, q0) << IsaName(isa);
    EXPECT_TRUE(BitsEqual(d.data(), d0.data(), d.size())) << IsaName(isa);
    EXPECT_EQ(s, s0) << IsaName(isa);
  }
}

TEST(QMatmulErrorsTest, RowsThatAreNotWholeBlocksAreRefused) {
  std::vector<uint8_t> bytes(1024);
  TensorView w = TensorView::Contiguous(bytes.data(), DType::kQ4_K, {2, 128});
  const auto p = PackedMatrix::Pack(w);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("not whole blocks"), std::string::npos) << p.status().ToString();
}

}  // namespace
}  // namespace detinfer
