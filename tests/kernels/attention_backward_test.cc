// AttentionBackward accuracy: against the analytic gradients in double (plain loops), against
// central finite differences of L = sum(out * G) through a double forward, fully masked rows,
// and operand validation. Invariance (batch, threads, ISA) is in
// attention_backward_invariance_test.cc. The forward values (out, lse) come from the test's own
// double forward, never from the engine's Attention().
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "kernels/attention_backward_ref.h"
#include "test_util.h"

namespace detinfer {
namespace {

using attn_bwd_test::Batch;
using attn_bwd_test::ComputeForward;
using attn_bwd_test::Extract;
using attn_bwd_test::ForwardD;
using attn_bwd_test::Grads;
using attn_bwd_test::MakeSeq;
using attn_bwd_test::OracleGrads;
using attn_bwd_test::Pack;
using attn_bwd_test::RunBackward;
using attn_bwd_test::SeqData;
using attn_bwd_test::Shape;
using testing::MakeContext;
using testing::MaxErrorRelativeToPeak;

// Documented tolerances (docs/attention_backward.md), max |kernel - oracle| / peak |oracle| per
// gradient tensor. Measured worst cases are printed by the tests and sit well below these.
constexpr double kOracleTol = 5e-6;  // vs the analytic gradients in double
constexpr double kFdTol = 5e-6;      // vs central differences of a double forward

const Shape kBackwardShapes[] = {
    {4, 2, 64, true}, {4, 2, 64, false}, {2, 2, 8, true, 0.3f}, {4, 1, 8, false}, {3, 3, 24, true},
    // Sliding windows shorter than the sequences (a window of 1: each query sees only itself).
    {4, 2, 64, true, 0.0f, 17}, {2, 1, 8, true, 0.0f, 1}, {4, 1, 8, false, 0.0f, 9},
    // Attention-logit soft caps (Gemma 2: 50; small caps that bend most scores), alone and
    // with a sliding window (Gemma 2's local layers).
    {4, 2, 64, true, 0.0f, 0, 50.0f}, {4, 2, 64, true, 0.0f, 0, 1.5f},
    {2, 1, 24, false, 0.7f, 0, 0.8f}, {4, 2, 64, true, 0.0f, 17, 2.0f},
    {4, 1, 8, false, 0.0f, 9, 1.0f},
};

std::string BackwardShapeName(const Shape& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "Hq=%lld Hkv=%lld D=%lld %s scale=%g window=%lld softcap=%g",
                static_cast<long long>(s.hq), static_cast<long long>(s.hkv),
                static_cast<long long>(s.d), s.causal ? "causal" : "non-causal",
                static_cast<double>(s.scale), static_cast<long long>(s.window),
                static_cast<double>(s.softcap));
  return buf;
}

double RelErr(const std::vector<float>& got, const std::vector<double>& want) {
  return got.empty() ? 0.0 : MaxErrorRelativeToPeak(got.data(), want.data(), got.size());
}

TEST(AttentionBackwardTest, MatchesDoubleOracle) {
  auto h = MakeContext(Isa::kScalar, 1);
  double worst = 0;
  for (const Shape& sh : kBackwardShapes) {
    SCOPED_TRACE(BackwardShapeName(sh));
    // A prefill spanning two key blocks, a chunk resuming at position 20, a masked sequence
    // whose keys run past its queries (visible only without causal masking).
    const SeqData seqs[] = {MakeSeq(sh, 70, 0, 70, 1, false), MakeSeq(sh, 15, 20, 35, 2, false),
                            MakeSeq(sh, 9, 3, 30, 3, true)};
    const Batch b = Pack(sh, {&seqs[0], &seqs[1], &seqs[2]}, nullptr);
    Grads g;
    ASSERT_TRUE(RunBackward(h.ctx, sh, b, &g).ok());
    for (size_t i = 0; i < 3; ++i) {
      const Grads gs = Extract(sh, b, i, g);
      const attn_bwd_test::GradsD want = OracleGrads(sh, seqs[i]);
      const double e[] = {RelErr(gs.dq, want.dq), RelErr(gs.dk, want.dk), RelErr(gs.dv, want.dv)};
      for (double x : e) {
        EXPECT_LT(x, kOracleTol) << "seq " << i;
        worst = std::fmax(worst, x);
      }
    }
  }
  std::printf("[attention_backward] max error vs double oracle (rel. to peak): %.3g\n", worst);
}

// L(q, k, v) = sum(out * G) in double; dL/dx by central differences, step 1e-3 (truncation
// ~1e-7, rounding ~1e-13 relative). The kernel gets dout = G and the forward's out/lse.
TEST(AttentionBackwardTest, MatchesFiniteDifferences) {
  auto h = MakeContext(Isa::kScalar, 1);
  double worst = 0;
  const Shape shapes[] = {{4, 2, 8, true}, {4, 2, 8, false}, {2, 1, 24, true, 0.5f},
                          {4, 2, 8, true, 0.0f, 0, 1.5f}, {2, 1, 24, false, 0.5f, 4, 0.9f}};
  for (const Shape& sh : shapes) {
    SCOPED_TRACE(BackwardShapeName(sh));
    const SeqData seqs[] = {MakeSeq(sh, 5, 3, 9, 11, true), MakeSeq(sh, 4, 0, 6, 12, false)};
    const Batch b = Pack(sh, {&seqs[0], &seqs[1]}, nullptr);
    Grads g;
    ASSERT_TRUE(RunBackward(h.ctx, sh, b, &g).ok());
    for (size_t si = 0; si < 2; ++si) {
      const SeqData& s = seqs[si];
      auto q = attn_bwd_test::ToDouble(s.q), k = attn_bwd_test::ToDouble(s.k),
           v = attn_bwd_test::ToDouble(s.v);
      const auto gd = attn_bwd_test::ToDouble(s.dout);
      std::vector<double> out(q.size()), lse(static_cast<size_t>(s.q_len * sh.hq));
      auto loss = [&]() {
        ForwardD(sh, s, q.data(), k.data(), v.data(), out.data(), lse.data(), nullptr);
        double l = 0;
        for (size_t e = 0; e < out.size(); ++e) l += out[e] * gd[e];
        return l;
      };
      auto fd = [&](std::vector<double>& x) {
        std::vector<double> grad(x.size());
        const double step = 1e-3;
        for (size_t e = 0; e < x.size(); ++e) {
          const double x0 = x[e];
          x[e] = x0 + step;
          const double lp = loss();
          x[e] = x0 - step;
          const double lm = loss();
          x[e] = x0;
          grad[e] = (lp - lm) / (2 * step);
        }
        return grad;
      };
      const Grads gs = Extract(sh, b, si, g);
      const double e[] = {RelErr(gs.dq, fd(q)), RelErr(gs.dk, fd(k)), RelErr(gs.dv, fd(v))};
      for (double x : e) {
        EXPECT_LT(x, kFdTol) << "seq " << si;
        worst = std::fmax(worst, x);
      }
    }
  }
  std::printf("[attention_backward] max error vs finite differences (rel. to peak): %.3g\n",
              worst);
}

// Rows with no visible key (lse = -Inf): every key masked, kv_len = 0, and causal queries whose
// only keys are masked. They contribute nothing: exact +0 gradients, no NaN, on every path.
TEST(AttentionBackwardTest, FullyMaskedRowsGiveZeroGradients) {
  const Shape sh{4, 2, 8, true};
  SeqData all_masked = MakeSeq(sh, 5, 2, 10, 21, false);
  all_masked.mask.assign(10, 0);
  ComputeForward(sh, &all_masked);
  const SeqData no_keys = MakeSeq(sh, 3, 0, 0, 22, false);
  SeqData partly = MakeSeq(sh, 8, 0, 8, 23, false);
  partly.mask = {0, 0, 0, 0, 1, 1, 0, 1};  // queries at positions 0-3 see nothing
  ComputeForward(sh, &partly);
  const Batch b = Pack(sh, {&all_masked, &no_keys, &partly}, nullptr);
  for (Isa isa : testing::TestableIsas()) {
    SCOPED_TRACE(testing::IsaString(isa));
    auto h = MakeContext(isa, 2);
    Grads g;
    ASSERT_TRUE(RunBackward(h.ctx, sh, b, &g).ok());
    for (const auto* t : {&g.dq, &g.dk, &g.dv}) {
      for (float x : *t) ASSERT_FALSE(std::isnan(x));
    }
    auto all_zero = [](const std::vector<float>& x, size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        if (testing::Bits(x[i]) != 0) return false;
      }
      return true;
    };
    const Grads g0 = Extract(sh, b, 0, g), g2 = Extract(sh, b, 2, g);
    EXPECT_TRUE(all_zero(g0.dq, 0, g0.dq.size()));
    EXPECT_TRUE(all_zero(g0.dk, 0, g0.dk.size()));
    EXPECT_TRUE(all_zero(g0.dv, 0, g0.dv.size()));
    EXPECT_TRUE(all_zero(Extract(sh, b, 1, g).dq, 0, 3 * 4 * 8));
    const size_t qrow = 4 * 8;
    EXPECT_TRUE(all_zero(g2.dq, 0, 4 * qrow));   // positions 0-3
    EXPECT_FALSE(all_zero(g2.dq, 4 * qrow, 8 * qrow));
    const attn_bwd_test::GradsD want = OracleGrads(sh, partly);
    EXPECT_LT(RelErr(g2.dq, want.dq), kOracleTol);
    EXPECT_LT(RelErr(g2.dk, want.dk), kOracleTol);
    EXPECT_LT(RelErr(g2.dv, want.dv), kOracleTol);
  }
}

// The soft cap is really applied: with a cap small enough to bend the scores, the uncapped
// oracle is far from the kernel, and the capped one close (so the test above can fail).
TEST(AttentionBackwardTest, SoftCapChangesTheGradientAsTheOracleSays) {
  auto h = MakeContext(Isa::kScalar, 1);
  const Shape capped{4, 2, 64, true, 0.0f, 0, 0.5f};
  Shape plain = capped;
  plain.softcap = 0.0f;
  const SeqData s = MakeSeq(capped, 30, 0, 30, 31, false);  // out/lse of the capped forward
  const Batch b = Pack(capped, {&s}, nullptr);
  Grads g;
  ASSERT_TRUE(RunBackward(h.ctx, capped, b, &g).ok());
  const attn_bwd_test::GradsD want = OracleGrads(capped, s);
  // The uncapped formula on the same saved forward, for contrast.
  const attn_bwd_test::GradsD other = OracleGrads(plain, s);
  EXPECT_LT(RelErr(g.dq, want.dq), kOracleTol);
  EXPECT_GT(RelErr(g.dq, other.dq), 100 * kOracleTol);
  EXPECT_GT(RelErr(g.dk, other.dk), 100 * kOracleTol);
}

// With out and lse from the engine's own capped forward (Attention with opts.softcap), on
// every path: the backward's recomputed capped scores agree with the forward's lse (P sums to
// one), so the gradients still match the double oracle, sliding window included.
TEST(AttentionBackwardTest, SoftCapWithTheEnginesForwardMatchesTheOracle) {
  for (const Shape& sh : {Shape{4, 2, 64, true, 0.0f, 0, 1.5f}, Shape{4, 2, 64, true, 0.0f, 17, 2.0f}}) {
    SCOPED_TRACE(BackwardShapeName(sh));
    const SeqData seqs[] = {MakeSeq(sh, 70, 0, 70, 51, false), MakeSeq(sh, 9, 3, 30, 52, true)};
    Batch b = Pack(sh, {&seqs[0], &seqs[1]}, nullptr);
    auto q3 = [&](std::vector<float>& x) {
      return TensorView::Contiguous(x.data(), DType::kF32, {b.tq, sh.hq, sh.d});
    };
    auto k3 = [&](std::vector<float>& x) {
      return TensorView::Contiguous(x.data(), DType::kF32, {b.tkv, sh.hkv, sh.d});
    };
    const AttentionOptions opts{sh.causal, sh.scale, sh.window, sh.softcap};
    for (Isa isa : testing::TestableIsas()) {
      SCOPED_TRACE(testing::IsaString(isa));
      auto h = MakeContext(isa, 2);
      ASSERT_TRUE(Attention(h.ctx, q3(b.q), KvView{k3(b.k), k3(b.v), KvLayout::kContiguous}, b.seqs, opts, q3(b.out),
                            TensorView::Contiguous(b.lse.data(), DType::kF32, {b.tq, sh.hq}))
                      .ok());
      Grads g;
      ASSERT_TRUE(RunBackward(h.ctx, sh, b, &g).ok());
      for (size_t i = 0; i < 2; ++i) {
        const Grads gs = Extract(sh, b, i, g);
        const attn_bwd_test::GradsD want = OracleGrads(sh, seqs[i]);
        EXPECT_LT(RelErr(gs.dq, want.dq), kOracleTol) << "seq " << i;
        EXPECT_LT(RelErr(gs.dk, want.dk), kOracleTol) << "seq " << i;
        EXPECT_LT(RelErr(gs.dv, want.dv), kOracleTol) << "seq " << i;
      }
    }
  }
}

}  // namespace
}  // namespace detinfer
