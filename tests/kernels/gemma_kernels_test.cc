// The kernels Gemma 2 needs, against closed forms in double (std::tanh, the GELU formula) and
// bitwise across ISA paths and thread counts: TanhF (kernels/math.h), GeGluTanh and SoftCap
// (kernels/activation.h), and attention-logit soft-capping (AttentionOptions::softcap) alone and
// with a sliding window (Gemma 2's local layers), chunked = prefill = decode.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

#include "attention_test_util.h"
#include "kernels/activation.h"
#include "kernels/math.h"

namespace detinfer::testing {
namespace {

double UlpsFromDouble(float got, double want) {
  const float w = static_cast<float>(want);
  const double ulp = std::fabs(static_cast<double>(std::nextafter(w, INFINITY)) - w);
  return std::fabs(static_cast<double>(got) - want) / (ulp > 0 ? ulp : 1e-45);
}

TEST(GemmaKernelsTest, TanhFIsWithinTwoAndAHalfUlpsOfTheDoubleTanhAndOdd) {
  double worst = 0;
  // Every 97th float bit pattern in [0, +Inf): all exponents, both branches and the boundary.
  for (uint64_t bits = 0; bits < 0x7f800000u; bits += 97) {
    const float x = std::bit_cast<float>(static_cast<uint32_t>(bits));
    const float y = TanhF(x);
    worst = std::max(worst, UlpsFromDouble(y, std::tanh(static_cast<double>(x))));
    ASSERT_EQ(std::bit_cast<uint32_t>(TanhF(-x)), std::bit_cast<uint32_t>(-y)) << x;
  }
  for (const float x : {0.5f, std::nextafter(0.5f, 0.0f), 0.49999f, 1e-30f, 8.0f, 9.5f, 20.0f}) {
    worst = std::max(worst, UlpsFromDouble(TanhF(x), std::tanh(static_cast<double>(x))));
  }
  EXPECT_LE(worst, 2.5);  // measured 2.02 (near |x| = 0.5, where (1 - e) / (1 + e) begins)
  std::printf("[ tanh     ] max error %.3g ulp\n", worst);
  EXPECT_EQ(TanhF(INFINITY), 1.0f);
  EXPECT_EQ(TanhF(-INFINITY), -1.0f);
  EXPECT_EQ(std::bit_cast<uint32_t>(TanhF(-0.0f)), 0x80000000u);
  EXPECT_TRUE(std::isnan(TanhF(NAN)));
}

TEST(GemmaKernelsTest, GeGluTanhMatchesTheGeluFormulaOnEveryPath) {
  const int64_t m = 7, f = 45;
  std::vector<float> gate = RandomFloats(static_cast<size_t>(m * f), 3, -6.0f, 6.0f);
  std::vector<float> up = RandomFloats(gate.size(), 4, -2.0f, 2.0f);
  gate[0] = -INFINITY;
  gate[1] = INFINITY;
  gate[2] = -1e30f;
  gate[3] = NAN;
  const auto view = [&](std::vector<float>& v) {
    return TensorView::Contiguous(v.data(), DType::kF32, {m, f});
  };
  std::vector<float> ref(gate.size());
  ASSERT_TRUE(GeGluTanh(MakeContext(Isa::kScalar, 1).ctx, view(gate), view(up), view(ref)).ok());
  // Relative to the largest output (1 + tanh cancels in the negative tail, in any fp32 code).
  double worst = 0, peak = 0;
  for (size_t i = 4; i < gate.size(); ++i) {
    const double a = gate[i];
    const double g = 0.5 * a * (1 + std::tanh(std::sqrt(2 / M_PI) * (a + 0.044715 * a * a * a)));
    worst = std::max(worst, std::fabs(ref[i] - g * up[i]));
    peak = std::max(peak, std::fabs(g * up[i]));
  }
  EXPECT_LT(worst / peak, 1e-6);
  std::printf("[ geglu    ] max error %.3g of the largest output\n", worst / peak);
  EXPECT_EQ(ref[0], 0.0f);  // gelu(-Inf) = -0, the limit
  EXPECT_EQ(ref[1], INFINITY * (up[1] > 0 ? 1.0f : -1.0f));
  EXPECT_EQ(std::fabs(ref[2]), 0.0f);
  EXPECT_EQ(std::bit_cast<uint32_t>(ref[3]), 0x7fc00000u);
  for (Isa isa : TestableIsas()) {
    for (const int threads : {1, 2, 3}) {
      std::vector<float> out(gate.size());
      ASSERT_TRUE(GeGluTanh(MakeContext(isa, threads).ctx, view(gate), view(up), view(out)).ok());
      ASSERT_TRUE(BitsEqual(out, ref)) << IsaString(isa) << " x" << threads;
    }
  }
}

// The SIMD GeGLU loops evaluate TanhF's two branches on every lane and keep the lane's own, so
// every edge of TanhF and of the GELU around it must give the scalar loop's bits: gates whose
// tanh argument sits on both sides of the |x| = 0.5 switch, tiny and subnormal gates, huge ones
// (x^3 overflows), signed zeros, infinities and NaNs, and arbitrary bit patterns; row lengths
// that leave every tail width.
TEST(GemmaKernelsTest, GeGluTanhSimdLoopsGiveTheScalarBitsOnEdgeInputs) {
  std::vector<float> gate;
  // inner = 0.79788 * (a + 0.044715 a^3) = 0.5 near a = 0.6045: step across it by ulps.
  for (float a = 0.6f; a < 0.61f; a = std::nextafter(a, 1.0f) + 1e-6f) {
    gate.push_back(a);
    gate.push_back(-a);
  }
  for (float v : {0.0f, -0.0f, 1e-45f, -1e-45f, 1e-38f, 3e-20f, 1e13f, -1e13f, 4e12f, 88.0f,
                  -88.0f, 1e30f, INFINITY, -INFINITY, NAN, -NAN}) {
    gate.push_back(v);
  }
  uint32_t state = 12345;
  while (gate.size() < 4096) {  // arbitrary bit patterns (every exponent, NaN payloads)
    state = state * 1664525u + 1013904223u;
    gate.push_back(std::bit_cast<float>(state));
  }
  std::vector<float> up(gate.size());
  for (size_t i = 0; i < up.size(); ++i) up[i] = (i % 7 == 3) ? -1.5f : 0.75f + float(i % 5);
  for (const int64_t f : {int64_t{1}, int64_t{7}, int64_t{15}, int64_t{17}, int64_t{64}}) {
    const int64_t m = static_cast<int64_t>(gate.size()) / f;
    const auto view = [&](std::vector<float>& v) {
      return TensorView::Contiguous(v.data(), DType::kF32, {m, f});
    };
    std::vector<float> ref(gate.size());
    ASSERT_TRUE(GeGluTanh(MakeContext(Isa::kScalar, 1).ctx, view(gate), view(up), view(ref)).ok());
    for (Isa isa : TestableIsas()) {
      std::vector<float> out(gate.size());
      ASSERT_TRUE(GeGluTanh(MakeContext(isa, 2).ctx, view(gate), view(up), view(out)).ok());
      for (int64_t i = 0; i < m * f; ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(out[static_cast<size_t>(i)]),
                  std::bit_cast<uint32_t>(ref[static_cast<size_t>(i)]))
            << IsaString(isa) << " f " << f << " gate " << gate[static_cast<size_t>(i)];
      }
    }
  }
}

TEST(GemmaKernelsTest, SoftCapIsCapTimesTanhOfXOverCap) {
  const int64_t m = 5, n = 33;
  std::vector<float> x = RandomFloats(static_cast<size_t>(m * n), 9, -200.0f, 200.0f);
  std::vector<float> ref(x.size());
  const auto view = [&](std::vector<float>& v) {
    return TensorView::Contiguous(v.data(), DType::kF32, {m, n});
  };
  ASSERT_TRUE(SoftCap(MakeContext(Isa::kScalar, 1).ctx, view(x), 30.0f, view(ref)).ok());
  for (size_t i = 0; i < x.size(); ++i) {
    const double want = 30.0 * std::tanh(static_cast<double>(x[i]) / 30.0);
    ASSERT_NEAR(ref[i], want, 4e-6 * 30.0) << x[i];
    ASSERT_LE(std::fabs(ref[i]), 30.0f);
  }
  for (Isa isa : TestableIsas()) {
    std::vector<float> out = x;  // in place
    ASSERT_TRUE(SoftCap(MakeContext(isa, 3).ctx, view(out), 30.0f, view(out)).ok());
    ASSERT_TRUE(BitsEqual(out, ref)) << IsaString(isa);
  }
  for (const float bad : {0.0f, -1.0f, NAN, INFINITY}) {
    const Status st = SoftCap(MakeContext(Isa::kScalar, 1).ctx, view(x), bad, view(ref));
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("cap"), std::string::npos) << st.message();
  }
}

AttentionOptions Capped(float cap, int64_t window = 0) {
  AttentionOptions o;
  o.softcap = cap;
  o.window = window;
  o.scale = 0.0625f;  // Gemma's query_pre_attn_scalar^-0.5 for 256
  return o;
}

// Large q/k amplitudes so that the cap binds (scores of tens before capping at 5).
TEST(GemmaKernelsTest, SoftCappedAttentionMatchesTheDoubleOracle) {
  for (DType dt : {DType::kF32, DType::kBF16}) {
    const AttnDims dm{4, 2, 64, dt};
    for (const int64_t w : {0, 40}) {
      const SeqData s = MakeSeq(dm, 100, 700, 61 + static_cast<uint64_t>(w), 1.0, 6.0f);
      const AttnOut got = RunOne(MakeContext(TestableIsas().back(), 2).ctx, dm, s, Capped(5.0f, w));
      const OracleOut want = Oracle(dm, s, Capped(5.0f, w));
      EXPECT_LE(MaxErrorRelativeToPeak(got.out.data(), want.out.data(), want.out.size()), 2e-5)
          << DTypeName(dt) << " window " << w;
      // The cap matters here: without it the outputs are far from the capped oracle.
      const AttnOut uncapped = RunOne(MakeContext(Isa::kScalar, 1).ctx, dm, s, Capped(0.0f, w));
      EXPECT_GT(MaxErrorRelativeToPeak(uncapped.out.data(), want.out.data(), want.out.size()), 1e-2);
    }
  }
}

TEST(GemmaKernelsTest, SoftCappedAttentionIsBitwiseInvariant) {
  const AttnDims dm{8, 2, 48, DType::kBF16};
  const SeqData a = MakeSeq(dm, 300, 300, 71, 1.0, 6.0f), b = MakeSeq(dm, 1, 900, 72, 1.0, 6.0f);
  for (const int64_t w : {0, 33}) {
    const AttentionOptions opts = Capped(7.5f, w);
    const auto ref = RunPacked(MakeContext(Isa::kScalar, 1).ctx, dm, {&a, &b}, opts);
    for (Isa isa : TestableIsas()) {
      for (const int threads : {1, 2, 3}) {
        auto h = MakeContext(isa, threads);
        const auto got = RunPacked(h.ctx, dm, {&b, &a}, opts, 1);
        ASSERT_TRUE(SameOut(got[1], ref[0])) << IsaString(isa) << " x" << threads << " w" << w;
        ASSERT_TRUE(SameOut(got[0], ref[1])) << IsaString(isa) << " x" << threads << " w" << w;
        const auto tiled = RunPaged(h.ctx, dm, {&a, &b}, opts, 16, 8, true);
        ASSERT_TRUE(SameOut(tiled[0], ref[0]) && SameOut(tiled[1], ref[1])) << IsaString(isa);
        for (const int64_t chunk : {1, 37}) {
          std::vector<int64_t> cuts;
          for (int64_t c = chunk; c < a.q_len; c += chunk) cuts.push_back(c);
          ASSERT_TRUE(SameOut(RunChunked(h.ctx, dm, a, cuts, opts), ref[0]))
              << IsaString(isa) << " chunk " << chunk;
        }
      }
    }
  }
}

TEST(GemmaKernelsTest, BadSoftCapsAreErrorsNamingIt) {
  for (const float bad : {-1.0f, NAN, INFINITY}) {
    const Status st = AttentionStatusWith(Capped(bad), 81);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find("softcap"), std::string::npos) << st.message();
  }
}

}  // namespace
}  // namespace detinfer::testing
