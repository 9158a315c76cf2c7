// AttentionBackward invariance, always exact (SPEC §A1, §A2, §A6, §A7): a sequence's dq/dk/dv
// are the same bits alone or packed anywhere in a batch with other sequences, at every thread
// count and on every ISA path; rows no sequence uses come out +0.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/attention_backward_ref.h"
#include "test_util.h"

namespace detinfer {
namespace {

using attn_bwd_test::Batch;
using attn_bwd_test::Extract;
using attn_bwd_test::Grads;
using attn_bwd_test::MakeSeq;
using attn_bwd_test::Pack;
using attn_bwd_test::RunBackward;
using attn_bwd_test::SeqData;
using attn_bwd_test::Shape;
using testing::BitsEqual;
using testing::MakeContext;
using testing::TestableIsas;

const Shape kShapes[] = {
    {4, 2, 64, true}, {4, 4, 64, false}, {4, 2, 8, false}, {2, 2, 8, true}, {6, 2, 24, true},
    // A sliding window shorter than the sequences (Mistral-style training), causal and not.
    {4, 2, 24, true, 0.0f, 13}, {2, 1, 8, false, 0.0f, 5},
    // Attention-logit soft caps (Gemma 2), alone and with a sliding window.
    {4, 2, 64, true, 0.0f, 0, 1.5f}, {4, 4, 24, false, 0.0f, 0, 50.0f},
    {4, 2, 24, true, 0.0f, 13, 0.9f},
};

std::string Name(const Shape& s) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "Hq=%lld Hkv=%lld D=%lld %s window=%lld softcap=%g",
                static_cast<long long>(s.hq), static_cast<long long>(s.hkv),
                static_cast<long long>(s.d), s.causal ? "causal" : "non-causal",
                static_cast<long long>(s.window), static_cast<double>(s.softcap));
  return buf;
}

// A random sequence: some prefill-like (q_pos 0), some chunks resuming later; kv_len covers the
// queries (and sometimes more); a third masked. Lengths cross the 64-row task blocks.
SeqData RandomSeq(const Shape& sh, std::mt19937_64& rng) {
  const int64_t q_len = static_cast<int64_t>(rng() % 40);
  const int64_t q_pos = rng() % 2 ? 0 : static_cast<int64_t>(rng() % 50);
  const int64_t kv_len = q_pos + q_len + static_cast<int64_t>(rng() % 8);
  return MakeSeq(sh, q_len, q_pos, kv_len, rng(), rng() % 3 == 0);
}

::testing::AssertionResult SameGrads(const Grads& a, const Grads& b) {
  auto r = BitsEqual(a.dq, b.dq);
  if (!r) return r << " (dq)";
  r = BitsEqual(a.dk, b.dk);
  if (!r) return r << " (dk)";
  r = BitsEqual(a.dv, b.dv);
  if (!r) return r << " (dv)";
  return ::testing::AssertionSuccess();
}

// Every row no sequence covers must be exactly +0 (they started as NaN).
::testing::AssertionResult UnusedRowsZero(const Shape& sh, const Batch& b, const Grads& g) {
  auto check = [](const std::vector<float>& x, const std::vector<uint8_t>& used, int64_t w,
                  const char* name) -> ::testing::AssertionResult {
    for (size_t r = 0; r < used.size(); ++r) {
      if (used[r]) continue;
      for (int64_t e = 0; e < w; ++e) {
        if (testing::Bits(x[r * static_cast<size_t>(w) + static_cast<size_t>(e)]) != 0) {
          return ::testing::AssertionFailure() << name << " unused row " << r << " not +0";
        }
      }
    }
    return ::testing::AssertionSuccess();
  };
  auto r = check(g.dq, b.q_used, sh.hq * sh.d, "dq");
  if (r) r = check(g.dk, b.kv_used, sh.hkv * sh.d, "dk");
  if (r) r = check(g.dv, b.kv_used, sh.hkv * sh.d, "dv");
  return r;
}

// (c) The same sequence alone vs inside batches of 1-5 other random sequences, at a random
// position in the batch, with unused gap rows around: identical bits, on every path and at 1
// and 3 threads.
TEST(AttentionBackwardInvarianceTest, BatchCompositionAndPosition) {
  const auto isas = TestableIsas();
  for (const Shape& sh : kShapes) {
    SCOPED_TRACE(Name(sh));
    std::mt19937_64 rng(static_cast<uint64_t>(sh.hq * 1000 + sh.d * 10 + sh.causal + sh.window * 7 +
                                              static_cast<int64_t>(sh.softcap * 64)));
    // Crosses a 64-key task block and a 64-query task block; masked.
    const SeqData target = MakeSeq(sh, 66, 5, 75, rng(), true);
    const Batch alone = Pack(sh, {&target}, nullptr);
    for (Isa isa : isas) {
      SCOPED_TRACE(testing::IsaString(isa));
      auto h1 = MakeContext(isa, 1);
      Grads ref;
      ASSERT_TRUE(RunBackward(h1.ctx, sh, alone, &ref).ok());
      auto h3 = MakeContext(isa, 3);
      for (int trial = 0; trial < 5; ++trial) {
        std::vector<SeqData> others;
        const int n_others = 1 + trial;
        for (int o = 0; o < n_others; ++o) others.push_back(RandomSeq(sh, rng));
        std::vector<const SeqData*> order;
        for (const SeqData& o : others) order.push_back(&o);
        const size_t at = static_cast<size_t>(rng() % (order.size() + 1));
        order.insert(order.begin() + static_cast<std::ptrdiff_t>(at), &target);
        const Batch b = Pack(sh, order, &rng);
        Grads g;
        ASSERT_TRUE(RunBackward((trial % 2 ? h3 : h1).ctx, sh, b, &g).ok());
        EXPECT_TRUE(SameGrads(Extract(sh, b, at, g), ref)) << "trial " << trial << " at " << at;
        EXPECT_TRUE(UnusedRowsZero(sh, b, g)) << "trial " << trial;
      }
    }
  }
}

// (d) + (e) A whole batch: every ISA path at 1, 2 and 3 threads gives the scalar single-thread
// bits.
TEST(AttentionBackwardInvarianceTest, ThreadCountsAndIsaPaths) {
  for (const Shape& sh : kShapes) {
    SCOPED_TRACE(Name(sh));
    std::mt19937_64 rng(static_cast<uint64_t>(sh.hq * 77 + sh.d + sh.causal));
    std::vector<SeqData> seqs;
    seqs.push_back(MakeSeq(sh, 70, 0, 70, rng(), false));
    seqs.push_back(MakeSeq(sh, 20, 40, 64, rng(), true));
    for (int i = 0; i < 3; ++i) seqs.push_back(RandomSeq(sh, rng));
    std::vector<const SeqData*> ptrs;
    for (const SeqData& s : seqs) ptrs.push_back(&s);
    const Batch b = Pack(sh, ptrs, &rng);
    auto h = MakeContext(Isa::kScalar, 1);
    Grads ref;
    ASSERT_TRUE(RunBackward(h.ctx, sh, b, &ref).ok());
    ASSERT_TRUE(UnusedRowsZero(sh, b, ref));
    for (Isa isa : TestableIsas()) {
      for (int threads : {1, 2, 3}) {
        SCOPED_TRACE(testing::IsaString(isa) + " threads=" + std::to_string(threads));
        auto hc = MakeContext(isa, threads);
        Grads g;
        ASSERT_TRUE(RunBackward(hc.ctx, sh, b, &g).ok());
        EXPECT_TRUE(SameGrads(g, ref));
      }
    }
  }
}

}  // namespace
}  // namespace detinfer

namespace detinfer {
namespace {

// Strided operands (every [T, H, D] view a slice of a wider buffer with padded heads and rows)
// give the bits of contiguous ones: only strides change, never an order.
TEST(AttentionBackwardInvarianceTest, StridedViewsMatchContiguous) {
  const attn_bwd_test::Shape sh{4, 2, 8, true};
  std::mt19937_64 rng(5);
  const attn_bwd_test::SeqData s0 = attn_bwd_test::MakeSeq(sh, 20, 0, 20, 1, true);
  const attn_bwd_test::SeqData s1 = attn_bwd_test::MakeSeq(sh, 7, 9, 16, 2, false);
  const attn_bwd_test::Batch b = attn_bwd_test::Pack(sh, {&s0, &s1}, &rng);
  auto h = testing::MakeContext(Isa::kScalar, 1);
  attn_bwd_test::Grads ref;
  ASSERT_TRUE(attn_bwd_test::RunBackward(h.ctx, sh, b, &ref).ok());
  // Each 3-D operand lives in a [T, H, 2D] buffer (head stride 2D, row stride H*2D + 8); lse in
  // a [T, H + 3] buffer.
  struct Padded {
    std::vector<float> buf;
    TensorView view;
  };
  auto pad3 = [](const std::vector<float>* src, int64_t t, int64_t hh, int64_t d) {
    Padded p;
    const int64_t rs = hh * 2 * d + 8;
    p.buf.assign(static_cast<size_t>(t * rs), 777.0f);
    p.view = TensorView::Contiguous(p.buf.data(), DType::kF32, {t, hh, d});
    p.view.stride[0] = rs;
    p.view.stride[1] = 2 * d;
    if (src) {
      for (int64_t r = 0; r < t * hh; ++r) {
        for (int64_t e = 0; e < d; ++e) {
          p.buf[static_cast<size_t>(r / hh * rs + r % hh * 2 * d + e)] =
              (*src)[static_cast<size_t>(r * d + e)];
        }
      }
    }
    return p;
  };
  Padded q = pad3(&b.q, b.tq, sh.hq, sh.d), out = pad3(&b.out, b.tq, sh.hq, sh.d),
         dout = pad3(&b.dout, b.tq, sh.hq, sh.d), dq = pad3(nullptr, b.tq, sh.hq, sh.d);
  Padded k = pad3(&b.k, b.tkv, sh.hkv, sh.d), v = pad3(&b.v, b.tkv, sh.hkv, sh.d),
         dk = pad3(nullptr, b.tkv, sh.hkv, sh.d), dv = pad3(nullptr, b.tkv, sh.hkv, sh.d);
  std::vector<float> lse(static_cast<size_t>(b.tq * (sh.hq + 3)));
  TensorView lv = TensorView::Contiguous(lse.data(), DType::kF32, {b.tq, sh.hq});
  lv.stride[0] = sh.hq + 3;
  for (int64_t r = 0; r < b.tq; ++r) {
    for (int64_t hh = 0; hh < sh.hq; ++hh) {
      lse[static_cast<size_t>(r * (sh.hq + 3) + hh)] = b.lse[static_cast<size_t>(r * sh.hq + hh)];
    }
  }
  const AttentionOptions opts{sh.causal, sh.scale, sh.window, 0.0f};
  ASSERT_TRUE(AttentionBackward(h.ctx, q.view, k.view, v.view, b.seqs, opts, out.view,
                                dout.view, lv, dq.view, dk.view, dv.view).ok());
  // Gather back and compare; the padding must be untouched.
  auto unpad = [](const Padded& p, const std::vector<float>& want) {
    const TensorView& w = p.view;
    for (int64_t r = 0; r < w.shape[0]; ++r) {
      for (int64_t hh = 0; hh < w.shape[1]; ++hh) {
        const float* got = p.buf.data() + r * w.stride[0] + hh * w.stride[1];
        const float* exp = want.data() + (r * w.shape[1] + hh) * w.shape[2];
        if (!testing::BitsEqual(got, exp, static_cast<size_t>(w.shape[2]))) return false;
        if (got[w.shape[2]] != 777.0f) return false;  // the padding after this head
      }
    }
    return true;
  };
  EXPECT_TRUE(unpad(dq, ref.dq));
  EXPECT_TRUE(unpad(dk, ref.dk));
  EXPECT_TRUE(unpad(dv, ref.dv));
}

}  // namespace
}  // namespace detinfer
