// Attention: accuracy against a double-precision oracle, closed forms, fully masked rows,
// storage dtypes, inputs left unmodified. (Invariance: attention_invariance_test.cc; errors:
// attention_errors_test.cc.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "attention_test_util.h"

namespace detinfer::testing {
namespace {

// fp32 path vs the double oracle, relative to the output's peak magnitude (SPEC §N). Measured
// maxima are in docs/attention.md; these bounds leave about 10x headroom.
constexpr double kOutTol = 5e-6;   // max |out - oracle| / peak |oracle out| (f32 storage)
constexpr double kLseTol = 2e-6;   // max |lse - oracle| / max(1, |oracle lse|)

struct AttentionCase {
  int64_t hq, hkv, d, q_len, kv_len;
  bool causal;
  double keep;
};

double AttentionLseError(const std::vector<float>& got, const std::vector<double>& want) {
  double e = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isinf(want[i])) {
      if (!(std::isinf(got[i]) && got[i] < 0)) return INFINITY;
      continue;
    }
    e = std::fmax(e, std::fabs(got[i] - want[i]) / std::fmax(1.0, std::fabs(want[i])));
  }
  return e;
}

TEST(AttentionTest, AccuracyAgainstDoubleOracle) {
  const AttentionCase cases[] = {
      {4, 2, 64, 37, 37, true, 1.0},    {4, 2, 64, 1, 130, true, 1.0},
      {4, 4, 128, 20, 150, false, 1.0}, {8, 2, 128, 65, 65, true, 0.7},
      {2, 1, 8, 33, 200, false, 0.5},   {3, 1, 40, 17, 81, true, 1.0},
      {2, 2, 256, 9, 70, true, 0.9},    {4, 1, 24, 3, 3, true, 1.0},
  };
  const Isa isa = TestableIsas().back();
  auto h = MakeContext(isa, 2);
  double worst_out = 0, worst_lse = 0;
  uint64_t seed = 100;
  for (const AttentionCase& c : cases) {
    const AttnDims dm{c.hq, c.hkv, c.d, DType::kF32};
    const SeqData s = MakeSeq(dm, c.q_len, c.kv_len, ++seed, c.keep);
    AttentionOptions opts;
    opts.causal = c.causal;
    const AttnOut got = RunOne(h.ctx, dm, s, opts);
    const OracleOut want = Oracle(dm, s, opts);
    const double eo = MaxErrorRelativeToPeak(got.out.data(), want.out.data(), got.out.size());
    const double el = AttentionLseError(got.lse, want.lse);
    worst_out = std::fmax(worst_out, eo);
    worst_lse = std::fmax(worst_lse, el);
    EXPECT_LE(eo, kOutTol) << "hq=" << c.hq << " hkv=" << c.hkv << " d=" << c.d;
    EXPECT_LE(el, kLseTol) << "hq=" << c.hq << " hkv=" << c.hkv << " d=" << c.d;
  }
  std::printf("[attention] fp32 vs oracle: out %.3g (rel. to peak), lse %.3g\n", worst_out,
              worst_lse);
}

// bf16/f16 storage vs fp32 storage of the same (unrounded) values: the only difference is the
// one rounding of K/V when stored (SPEC §K5), so the bound is the dtype's, not the kernel's.
TEST(AttentionTest, HalfStorageWithinDtypeToleranceOfF32) {
  const Isa isa = TestableIsas().back();
  auto h = MakeContext(isa, 2);
  for (DType dt : {DType::kBF16, DType::kF16}) {
    const AttnDims d32{4, 2, 64, DType::kF32}, dh{4, 2, 64, dt};
    const SeqData a = MakeSeq(d32, 50, 90, 7), b = MakeSeq(dh, 50, 90, 7);
    AttentionOptions opts;
    const AttnOut ra = RunOne(h.ctx, d32, a, opts), rb = RunOne(h.ctx, dh, b, opts);
    const std::vector<double> ref(ra.out.begin(), ra.out.end());
    const double e = MaxErrorRelativeToPeak(rb.out.data(), ref.data(), ref.size());
    const double tol = dt == DType::kBF16 ? 3e-2 : 4e-3;
    EXPECT_LE(e, tol) << DTypeName(dt);
    std::printf("[attention] %s storage vs f32: out %.3g (rel. to peak)\n",
                std::string(DTypeName(dt)).c_str(), e);
    // And the half path is itself exact against the oracle on its widened values.
    const OracleOut want = Oracle(dh, b, opts);
    EXPECT_LE(MaxErrorRelativeToPeak(rb.out.data(), want.out.data(), want.out.size()), kOutTol);
  }
}

// Identical keys: every visible key gets the same probability, out = mean of visible values.
TEST(AttentionTest, IdenticalKeysGiveMeanOfValues) {
  const AttnDims dm{2, 1, 32, DType::kF32};
  SeqData s = MakeSeq(dm, 1, 70, 3, 0.6);
  for (int64_t t = 1; t < s.kv_len; ++t) {
    std::copy(s.k.widened.begin(), s.k.widened.begin() + dm.d, s.k.widened.begin() + t * dm.d);
  }
  s.k = Store(s.k.widened, DType::kF32);
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 1);
    AttentionOptions opts;
    const AttnOut got = RunOne(h.ctx, dm, s, opts);
    for (int64_t hh = 0; hh < dm.hq; ++hh) {
      for (int64_t d = 0; d < dm.d; ++d) {
        double mean = 0;
        int n = 0;
        for (int64_t t = 0; t < s.kv_len; ++t) {
          if (!s.mask[static_cast<size_t>(t)]) continue;
          mean += s.v.widened[static_cast<size_t>(t * dm.d + d)];
          ++n;
        }
        mean /= n;
        EXPECT_NEAR(got.out[static_cast<size_t>(hh * dm.d + d)], mean, 2e-6) << IsaString(isa);
      }
    }
  }
}

// One visible key: out = its value, lse = its score.
TEST(AttentionTest, OneVisibleKeyGivesItsValueAndScore) {
  const AttnDims dm{2, 2, 16, DType::kF32};
  SeqData s = MakeSeq(dm, 1, 100, 9);
  s.mask.assign(100, 0);
  s.mask[77] = 1;
  AttentionOptions opts;
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 1);
    const AttnOut got = RunOne(h.ctx, dm, s, opts);
    for (int64_t hh = 0; hh < dm.hq; ++hh) {
      double dot = 0;
      for (int64_t d = 0; d < dm.d; ++d) {
        dot += double(s.q[static_cast<size_t>(hh * dm.d + d)]) *
               s.k.widened[static_cast<size_t>((77 * dm.hkv + hh) * dm.d + d)];
        EXPECT_EQ(got.out[static_cast<size_t>(hh * dm.d + d)],
                  s.v.widened[static_cast<size_t>((77 * dm.hkv + hh) * dm.d + d)]);
      }
      EXPECT_NEAR(got.lse[static_cast<size_t>(hh)], dot / 4.0, 1e-5);
    }
  }
}

// A query that sees no key: out = +0 exactly, lse = -Inf, no NaN; its neighbours unaffected.
TEST(AttentionTest, FullyMaskedRowGivesZerosAndMinusInf) {
  const AttnDims dm{4, 2, 24, DType::kF32};
  SeqData s = MakeSeq(dm, 10, 10, 11);
  s.mask.assign(10, 1);
  s.mask[0] = s.mask[1] = s.mask[2] = 0;  // rows 0..2 (causal) see nothing
  AttentionOptions opts;
  const AttnOut ref = RunOne(MakeContext(Isa::kScalar, 1).ctx, dm, s, opts);
  for (Isa isa : TestableIsas()) {
    const AttnOut got = RunOne(MakeContext(isa, 2).ctx, dm, s, opts);
    EXPECT_TRUE(SameOut(got, ref)) << IsaString(isa);
    for (int64_t i = 0; i < 3 * dm.hq; ++i) {
      EXPECT_TRUE(std::isinf(got.lse[static_cast<size_t>(i)]) && got.lse[static_cast<size_t>(i)] < 0);
      for (int64_t d = 0; d < dm.d; ++d) EXPECT_EQ(Bits(got.out[static_cast<size_t>(i * dm.d + d)]), 0u);
    }
    for (float x : got.out) EXPECT_FALSE(std::isnan(x));
    for (size_t i = 3 * dm.hq; i < got.lse.size(); ++i) EXPECT_TRUE(std::isfinite(got.lse[i]));
  }
  // Everything masked, and kv_len = 0 non-causal: the same.
  SeqData e = MakeSeq(dm, 3, 0, 12);
  e.q_pos = 0;
  AttentionOptions nc;
  nc.causal = false;
  const AttnOut ge = RunOne(MakeContext(TestableIsas().back(), 1).ctx, dm, e, nc);
  for (float x : ge.lse) EXPECT_TRUE(std::isinf(x) && x < 0);
  for (float x : ge.out) EXPECT_EQ(Bits(x), 0u);
}

// Large scores (peaky softmax) and an explicit scale stay finite and accurate.
TEST(AttentionTest, ExplicitScaleAndPeakyScores) {
  const AttnDims dm{2, 1, 64, DType::kF32};
  const SeqData s = MakeSeq(dm, 20, 80, 13, 1.0, 4.0f);
  AttentionOptions opts;
  opts.scale = 0.9f;
  const AttnOut got = RunOne(MakeContext(TestableIsas().back(), 2).ctx, dm, s, opts);
  const OracleOut want = Oracle(dm, s, opts);
  EXPECT_LE(MaxErrorRelativeToPeak(got.out.data(), want.out.data(), want.out.size()), 1e-5);
  EXPECT_LE(AttentionLseError(got.lse, want.lse), 2e-6);
}

// Inputs are read-only: every input buffer is byte-identical after each entry point runs.
TEST(AttentionTest, InputsUnmodified) {
  const AttnDims dm{4, 2, 64, DType::kBF16};
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 2);
    AttentionOptions opts;
    // Packed, directly on the sequence's own buffers.
    SeqData s = MakeSeq(dm, 30, 100, 21, 0.8);
    const SeqData s0 = s;
    AttentionSeq as;
    as.q_len = s.q_len;
    as.q_pos = s.q_pos;
    as.kv_len = s.kv_len;
    as.key_mask = s.mask;
    std::vector<float> out(s.q.size()), lse(static_cast<size_t>(s.q_len * dm.hq));
    KvView kv;
    kv.k = TensorView::Contiguous(s.k.bytes.data(), dm.dtype, {s.kv_len, dm.hkv, dm.d});
    kv.v = TensorView::Contiguous(s.v.bytes.data(), dm.dtype, {s.kv_len, dm.hkv, dm.d});
    ASSERT_TRUE(Attention(h.ctx, TensorView::Contiguous(s.q.data(), DType::kF32, {s.q_len, dm.hq, dm.d}),
                          kv, std::span<const AttentionSeq>(&as, 1), opts,
                          TensorView::Contiguous(out.data(), DType::kF32, {s.q_len, dm.hq, dm.d}),
                          TensorView::Contiguous(lse.data(), DType::kF32, {s.q_len, dm.hq}))
                    .ok());
    // Padded, on the same buffers viewed as B = 1.
    std::vector<uint8_t> pm(static_cast<size_t>(s.q_len), 1);
    pm[3] = 0;
    const std::vector<uint8_t> pm0 = pm;
    ASSERT_TRUE(AttentionPadded(
                    h.ctx, TensorView::Contiguous(s.q.data(), DType::kF32, {1, s.q_len, dm.hq, dm.d}),
                    TensorView::Contiguous(s.k.bytes.data(), dm.dtype, {1, s.q_len, dm.hkv, dm.d}),
                    TensorView::Contiguous(s.v.bytes.data(), dm.dtype, {1, s.q_len, dm.hkv, dm.d}),
                    pm, opts, TensorView::Contiguous(out.data(), DType::kF32, {1, s.q_len, dm.hq, dm.d}),
                    TensorView::Contiguous(lse.data(), DType::kF32, {1, s.q_len, dm.hq}))
                    .ok());
    EXPECT_EQ(s.q, s0.q);
    EXPECT_EQ(s.k.bytes, s0.k.bytes);
    EXPECT_EQ(s.v.bytes, s0.v.bytes);
    EXPECT_EQ(s.mask, s0.mask);
    EXPECT_EQ(pm, pm0);
    // With cache: RunChunked hands the kernel the sequence's own buffers.
    SeqData c = MakeSeq(dm, 100, 100, 22);
    const SeqData c0 = c;
    RunChunked(h.ctx, dm, c, {40, 41}, opts);
    EXPECT_EQ(c.q, c0.q);
    EXPECT_EQ(c.k.bytes, c0.k.bytes);
    EXPECT_EQ(c.v.bytes, c0.v.bytes);
  }
}

}  // namespace
}  // namespace detinfer::testing
