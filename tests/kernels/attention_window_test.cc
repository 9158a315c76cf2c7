// Sliding-window attention (AttentionOptions::window, attention.h): a query at position p sees
// only the keys at (p - W, p]. Checked against the double oracle (which simply skips the keys
// outside the window), and bitwise against the order's own definition: a row's result is the
// one a single query at that position gets with a key mask that keeps exactly its window —
// the window changes which keys are visited, never the order of those that are. Then the SPEC
// axes with a window shorter than the sequences: batch composition, prefill = chunked prefill =
// decode through the cache op, paged and key-tiled storage, thread counts, ISA paths.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "attention_test_util.h"

namespace detinfer::testing {
namespace {

AttentionOptions WindowOf(int64_t w, bool causal = true) {
  AttentionOptions o;
  o.causal = causal;
  o.window = w;
  return o;
}

// Rows [r, r + 1) of a sequence as a single-query sequence whose key mask keeps exactly the
// window of that row (and the sequence's own mask).
SeqData SlidingRowAsMasked(const AttnDims& dm, const SeqData& s, int64_t r, int64_t window) {
  SeqData one = s;
  one.q_len = 1;
  one.q_pos = s.q_pos + r;
  one.q.assign(s.q.begin() + r * dm.hq * dm.d, s.q.begin() + (r + 1) * dm.hq * dm.d);
  one.mask.assign(static_cast<size_t>(s.kv_len), 1);
  for (int64_t t = 0; t < s.kv_len; ++t) {
    const bool kept = s.mask.empty() || s.mask[static_cast<size_t>(t)] != 0;
    one.mask[static_cast<size_t>(t)] = kept && t > one.q_pos - window ? 1 : 0;
  }
  return one;
}

TEST(AttentionWindowTest, MatchesTheDoubleOracle) {
  for (DType dt : {DType::kF32, DType::kBF16}) {
    const AttnDims dm{4, 2, 32, dt};
    // Windows inside a block, equal to it, across blocks and across a partition boundary (the
    // 1100-key sequence's later rows see keys of two partitions).
    for (const int64_t w : {1, 7, 64, 65, 300}) {
      const SeqData s = MakeSeq(dm, 140, 1100, 90 + static_cast<uint64_t>(w), w == 65 ? 0.8 : 1.0);
      auto h = MakeContext(TestableIsas().back(), 2);
      const AttnOut got = RunOne(h.ctx, dm, s, WindowOf(w));
      const OracleOut want = Oracle(dm, s, WindowOf(w));
      // The oracle reads the stored (widened) values: only fp32 arithmetic separates them.
      const double tol = 1e-5;
      EXPECT_LE(MaxErrorRelativeToPeak(got.out.data(), want.out.data(), want.out.size()), tol)
          << DTypeName(dt) << " window " << w;
      for (size_t i = 0; i < want.lse.size(); ++i) {
        if (std::isinf(want.lse[i])) {
          ASSERT_TRUE(std::isinf(got.lse[i]) && got.lse[i] < 0) << i;
        } else {
          ASSERT_NEAR(got.lse[i], want.lse[i], 1e-4 * std::max(1.0, std::fabs(want.lse[i]))) << i;
        }
      }
    }
  }
}

// The window only removes keys: each row's bits are a single query's with a key mask keeping
// exactly its window (the mask path's order, attention.h), on every ISA and thread count, for
// contiguous, paged and key-tiled storage, causal or not.
TEST(AttentionWindowTest, EachRowGetsTheBitsOfItsWindowAsAKeyMask) {
  const AttnDims dm{4, 2, 48, DType::kBF16};
  for (const bool causal : {true, false}) {
    for (const int64_t w : {1, 5, 16, 64, 70, 130}) {
      const SeqData s = MakeSeq(dm, 90, 600, 200 + static_cast<uint64_t>(w), w == 70 ? 0.85 : 1.0);
      std::vector<SeqData> rows;
      for (int64_t r = 0; r < s.q_len; ++r) rows.push_back(SlidingRowAsMasked(dm, s, r, w));
      AttentionOptions plain;
      plain.causal = causal;
      std::vector<AttnOut> want;
      const auto ref = MakeContext(Isa::kScalar, 1);
      for (const SeqData& one : rows) want.push_back(RunOne(ref.ctx, dm, one, plain));
      for (Isa isa : TestableIsas()) {
        for (const int threads : {1, 3}) {
          auto h = MakeContext(isa, threads);
          const AttnOut got = RunOne(h.ctx, dm, s, WindowOf(w, causal));
          const auto tiled = RunPaged(h.ctx, dm, {&s}, WindowOf(w, causal), 16, 3, true)[0];
          const auto paged = RunPaged(h.ctx, dm, {&s}, WindowOf(w, causal), 7, 4)[0];
          const int64_t qrow = dm.hq * dm.d;
          for (int64_t r = 0; r < s.q_len; ++r) {
            const AttnOut& one = want[static_cast<size_t>(r)];
            for (const AttnOut* g : {&got, &tiled, &paged}) {
              const AttnOut row{
                  std::vector<float>(g->out.begin() + r * qrow, g->out.begin() + (r + 1) * qrow),
                  std::vector<float>(g->lse.begin() + r * dm.hq, g->lse.begin() + (r + 1) * dm.hq)};
              ASSERT_TRUE(SameOut(row, one)) << IsaString(isa) << " x" << threads << " window "
                                             << w << " causal " << causal << " row " << r;
            }
          }
        }
      }
    }
  }
}

// A window no shorter than every query's reach changes nothing (the same bits as none).
TEST(AttentionWindowTest, AWindowThatNeverBindsGivesTheUnwindowedBits) {
  const AttnDims dm{4, 1, 40, DType::kF16};
  const SeqData s = MakeSeq(dm, 70, 150, 301);
  auto h = MakeContext(TestableIsas().back(), 2);
  const AttnOut none = RunOne(h.ctx, dm, s, AttentionOptions{});
  EXPECT_TRUE(SameOut(RunOne(h.ctx, dm, s, WindowOf(150)), none));
  EXPECT_TRUE(SameOut(RunOne(h.ctx, dm, s, WindowOf(1000)), none));
  EXPECT_FALSE(SameOut(RunOne(h.ctx, dm, s, WindowOf(149)), none));  // the first row's key 0
}

// §A1/§A2 with a window: alone vs co-batched with windowed prefill chunks and decodes.
TEST(AttentionWindowTest, BatchCompositionDoesNotChangeTheBits) {
  const AttnDims dm{4, 2, 40, DType::kBF16};
  const AttentionOptions opts = WindowOf(37);
  const SeqData target = MakeSeq(dm, 23, 171, 311, 0.9);
  std::mt19937_64 rng(17);
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 2);
    const AttnOut alone = RunOne(h.ctx, dm, target, opts);
    for (int others = 1; others <= 5; ++others) {
      std::vector<SeqData> pool;
      for (int i = 0; i < others; ++i) {
        const int64_t kv = 1 + static_cast<int64_t>(rng() % 700);
        const int64_t ql = (rng() % 2) ? 1 : 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(kv));
        pool.push_back(MakeSeq(dm, ql, kv, 400 + rng() % 1000));
      }
      for (int at = 0; at <= others; at += 2) {
        std::vector<const SeqData*> batch;
        for (SeqData& p : pool) batch.push_back(&p);
        batch.insert(batch.begin() + at, &target);
        const auto res = RunPacked(h.ctx, dm, batch, opts, at % 3);
        ASSERT_TRUE(SameOut(res[static_cast<size_t>(at)], alone))
            << IsaString(isa) << " others=" << others << " at=" << at;
      }
    }
  }
}

// §A3 with a window: full prefill = chunked prefill = token-by-token decode through the cache
// op, across block and partition boundaries, on every ISA (threads 1/2/3), every dtype.
TEST(AttentionWindowTest, PrefillChunkedAndDecodeAgree) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    const AttnDims dm{4, 2, 32, dt};
    const SeqData s = MakeSeq(dm, 600, 600, 321);
    for (const int64_t w : {3, 100}) {
      const AttnOut full = RunOne(MakeContext(Isa::kScalar, 1).ctx, dm, s, WindowOf(w));
      for (Isa isa : TestableIsas()) {
        for (const int threads : {1, 2, 3}) {
          if (threads != 2 && dt != DType::kBF16) continue;  // every thread count on one dtype
          auto h = MakeContext(isa, threads);
          for (int64_t chunk : {1, 7, 64, 600}) {
            if (chunk == 1 && isa == Isa::kScalar && dt != DType::kBF16) continue;  // slow
            std::vector<int64_t> cuts;
            for (int64_t c = chunk; c < s.q_len; c += chunk) cuts.push_back(c);
            ASSERT_TRUE(SameOut(RunChunked(h.ctx, dm, s, cuts, WindowOf(w)), full))
                << IsaString(isa) << " x" << threads << " " << DTypeName(dt) << " window " << w
                << " chunk " << chunk;
          }
        }
      }
    }
  }
}

// Decode reads only its window: a decode query far past the window gives the bits of the same
// query over just the keys of its window's partitions (keys before them set to NaN-filled junk
// that would poison any sum they entered).
TEST(AttentionWindowTest, DecodeNeverReadsKeysBeforeItsWindow) {
  const AttnDims dm{4, 2, 32, DType::kF16};
  // Windows starting on a 16-key chunk boundary (2800) and inside one (2797).
  for (const int64_t w : {200, 203}) {
    SeqData s = MakeSeq(dm, 1, 3000, 331);
    const AttnOut want = RunOne(MakeContext(Isa::kScalar, 1).ctx, dm, s, WindowOf(w));
    // Positions before 3000 - w are outside the window of the query at 2999: poison them
    // (0x7f7f is a NaN in f16).
    const auto poisoned = static_cast<ptrdiff_t>((3000 - w) * dm.hkv * dm.d * 2);
    std::fill(s.k.bytes.begin(), s.k.bytes.begin() + poisoned, 0x7f);
    std::fill(s.v.bytes.begin(), s.v.bytes.begin() + poisoned, 0x7f);
    for (Isa isa : TestableIsas()) {
      for (const int threads : {1, 3}) {
        auto h = MakeContext(isa, threads);
        ASSERT_TRUE(SameOut(RunOne(h.ctx, dm, s, WindowOf(w)), want)) << IsaString(isa) << w;
        ASSERT_TRUE(SameOut(RunPaged(h.ctx, dm, {&s}, WindowOf(w), 16, 5, true)[0], want))
            << IsaString(isa) << " tiled " << w;
        ASSERT_TRUE(SameOut(RunPaged(h.ctx, dm, {&s}, WindowOf(w), 16, 6)[0], want))
            << IsaString(isa) << " paged " << w;
      }
    }
  }
}

TEST(AttentionWindowTest, ANegativeWindowIsAnErrorNamingIt) {
  const Status st = AttentionStatusWith(WindowOf(-3), 341);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("window"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("-3"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace detinfer::testing
