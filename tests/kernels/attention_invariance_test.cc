// Attention invariance (SPEC §A1-A3, §A6-A8), all bitwise: batch composition and position,
// chunked prefill / decode through the KV-cache op, cache split points, paged vs contiguous
// storage, thread counts and ISA paths, padded vs packed layouts.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "attention_test_util.h"

namespace detinfer::testing {
namespace {

// §A1, §A2: a sequence alone vs at every position of batches with 1..8 other sequences of
// random lengths, phases (prefill chunk or decode) and masks.
TEST(AttentionInvarianceTest, BatchSizeCompositionAndPosition) {
  const AttnDims dm{4, 2, 40, DType::kBF16};
  const SeqData target = MakeSeq(dm, 23, 71, 1, 0.9);
  std::mt19937_64 rng(5);
  for (Isa isa : TestableIsas()) {
    if (isa == Isa::kScalar) continue;  // covered by the ISA test below (scalar is slow)
    auto h = MakeContext(isa, 2);
    AttentionOptions opts;
    const AttnOut alone = RunOne(h.ctx, dm, target, opts);
    for (int others = 1; others <= 8; ++others) {
      std::vector<SeqData> pool;
      for (int i = 0; i < others; ++i) {
        const int64_t kv = 1 + static_cast<int64_t>(rng() % 150);
        const int64_t ql = (rng() % 2) ? 1 : 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(kv));
        pool.push_back(MakeSeq(dm, ql, kv, 100 + rng() % 1000, (rng() % 2) ? 1.0 : 0.8));
      }
      for (int at = 0; at <= others; ++at) {
        std::vector<const SeqData*> batch;
        for (int i = 0; i < others; ++i) batch.push_back(&pool[static_cast<size_t>(i)]);
        batch.insert(batch.begin() + at, &target);
        const auto res = RunPacked(h.ctx, dm, batch, opts, at % 3);
        ASSERT_TRUE(SameOut(res[static_cast<size_t>(at)], alone))
            << IsaString(isa) << " others=" << others << " at=" << at;
      }
    }
  }
}

// §A3: full prefill == chunked prefill (chunk sizes 1, 2, 3, 16, 64, 100) == token-by-token
// decode, all through AttentionWithCache, and == the packed op.
TEST(AttentionInvarianceTest, PrefillChunkedAndDecodeAgree) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    const AttnDims dm{4, 2, 64, dt};
    const SeqData s = MakeSeq(dm, 200, 200, 31);
    for (Isa isa : TestableIsas()) {
      if (isa == Isa::kScalar && dt != DType::kBF16) continue;  // scalar: one dtype (slow)
      auto h = MakeContext(isa, 2);
      AttentionOptions opts;
      const AttnOut full = RunOne(h.ctx, dm, s, opts);
      ASSERT_TRUE(SameOut(RunChunked(h.ctx, dm, s, {}, opts), full)) << IsaString(isa);
      for (int64_t chunk : {1, 2, 3, 16, 64, 100}) {
        std::vector<int64_t> cuts;
        for (int64_t c = chunk; c < s.q_len; c += chunk) cuts.push_back(c);
        ASSERT_TRUE(SameOut(RunChunked(h.ctx, dm, s, cuts, opts), full))
            << IsaString(isa) << " " << DTypeName(dt) << " chunk=" << chunk;
      }
    }
  }
}

// §A3/§A4: the same total KV split at every cache/new boundary gives the same last rows.
TEST(AttentionInvarianceTest, EveryCacheSplitPointAgrees) {
  const AttnDims dm{2, 1, 32, DType::kBF16};
  const SeqData s = MakeSeq(dm, 140, 140, 41);
  auto h = MakeContext(TestableIsas().back(), 2);
  AttentionOptions opts;
  const AttnOut full = RunOne(h.ctx, dm, s, opts);
  for (int64_t split = 0; split <= s.q_len - 1; ++split) {
    const AttnOut r = RunChunked(h.ctx, dm, s, {split}, opts);
    ASSERT_TRUE(SameOut(r, full)) << "split=" << split;
  }
  // Non-causal: queries of the new chunk see the whole concatenation either way.
  AttentionOptions nc;
  nc.causal = false;
  SeqData t = MakeSeq(dm, 10, 90, 42);
  for (int64_t s_cache : {0, 1, 63, 64, 65, 80}) {
    // Packed: 10 queries at positions s_cache.., keys [0, s_cache + 10).
    SeqData p = t;
    p.kv_len = s_cache + 10;
    p.q_pos = s_cache;
    p.k.bytes.resize(static_cast<size_t>(p.kv_len * dm.hkv * dm.d) * 2);
    p.v.bytes.resize(p.k.bytes.size());
    const AttnOut want = RunOne(h.ctx, dm, p, nc);
    // Cache form: cache = first s_cache rows, new = next 10.
    SeqData c = p;
    c.q_pos = 0;
    c.q_len = p.kv_len;  // RunChunked feeds rows [s_cache, kv_len) as the last chunk
    std::vector<float> qfull(static_cast<size_t>(c.q_len * dm.hq * dm.d), 0.5f);
    std::copy(p.q.begin(), p.q.end(), qfull.begin() + s_cache * dm.hq * dm.d);
    c.q = qfull;
    const AttnOut got = RunChunked(h.ctx, dm, c, {s_cache}, nc);
    const AttnOut tail{std::vector<float>(got.out.begin() + s_cache * dm.hq * dm.d, got.out.end()),
                       std::vector<float>(got.lse.begin() + s_cache * dm.hq, got.lse.end())};
    ASSERT_TRUE(SameOut(tail, want)) << "non-causal s_cache=" << s_cache;
  }
}

// Paged vs contiguous storage: random block tables, block sizes 7, 16, 64.
TEST(AttentionInvarianceTest, PagedEqualsContiguous) {
  const AttnDims dm{4, 2, 48, DType::kF16};
  const SeqData a = MakeSeq(dm, 1, 150, 51), b = MakeSeq(dm, 40, 90, 52, 0.7),
                c = MakeSeq(dm, 130, 130, 53);
  const std::vector<const SeqData*> batch{&a, &b, &c};
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 3);
    AttentionOptions opts;
    const auto want = RunPacked(h.ctx, dm, batch, opts, 2);
    for (int64_t bs : {7, 16, 64}) {
      const auto got = RunPaged(h.ctx, dm, batch, opts, bs, static_cast<uint64_t>(bs));
      for (size_t i = 0; i < batch.size(); ++i) {
        ASSERT_TRUE(SameOut(got[i], want[i])) << IsaString(isa) << " bs=" << bs << " seq=" << i;
      }
    }
  }
}

// Key-tiled paged storage (KvLayout::kPagedTiled) vs contiguous, bitwise: block sizes 16-128,
// random block tables, every dtype, ISA path and thread count 1/3; a decode step and a prefill
// chunk and a masked sequence (whose gapped blocks take the copied-row path) in one batch.
TEST(AttentionInvarianceTest, KeyTiledPagedEqualsContiguous) {
  for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (const int64_t d : {48, 128}) {
      const AttnDims dm{8, 2, d, dt};
      const SeqData a = MakeSeq(dm, 1, 150, 71), b = MakeSeq(dm, 40, 90, 72, 0.7),
                    c = MakeSeq(dm, 130, 130, 73), e = MakeSeq(dm, 3, 77, 74, 0.9);
      const std::vector<const SeqData*> batch{&a, &b, &c, &e};
      for (Isa isa : TestableIsas()) {
        for (int threads : {1, 3}) {
          auto h = MakeContext(isa, threads);
          AttentionOptions opts;
          const auto want = RunPacked(h.ctx, dm, batch, opts, 1);
          for (int64_t bs : {16, 32, 48, 64, 128}) {
            const auto got = RunPaged(h.ctx, dm, batch, opts, bs, static_cast<uint64_t>(bs + d), true);
            for (size_t i = 0; i < batch.size(); ++i) {
              ASSERT_TRUE(SameOut(got[i], want[i]))
                  << IsaString(isa) << " " << DTypeName(dt) << " d=" << d << " threads=" << threads
                  << " bs=" << bs << " seq=" << i;
            }
          }
        }
      }
    }
  }
}

// Decode against several partitions of key-tiled storage (GQA group 4, the benchmark's
// shape scaled down): the partition split, the next-block prefetch across scattered blocks
// and the fold give the contiguous call's bits, causal and not, on every ISA and thread count.
TEST(AttentionInvarianceTest, KeyTiledDecodeOverPartitionsEqualsContiguous) {
  const AttnDims dm{8, 2, 128, DType::kBF16};
  const SeqData a = MakeSeq(dm, 1, 1300, 81), b = MakeSeq(dm, 2, 1100, 82),
                c = MakeSeq(dm, 1, 700, 83, 0.95);
  const std::vector<const SeqData*> batch{&a, &b, &c};
  for (bool causal : {true, false}) {
    AttentionOptions opts;
    opts.causal = causal;
    const auto want = RunPacked(MakeContext(Isa::kScalar, 1).ctx, dm, batch, opts);
    for (Isa isa : TestableIsas()) {
      for (int threads : {1, 2, 3}) {
        const auto got = RunPaged(MakeContext(isa, threads).ctx, dm, batch, opts, 16, 9, true);
        for (size_t i = 0; i < batch.size(); ++i) {
          ASSERT_TRUE(SameOut(got[i], want[i])) << IsaString(isa) << " threads=" << threads
                                                << " causal=" << causal << " seq=" << i;
        }
      }
    }
  }
}

// §A6, §A7: thread counts 1, 2, 3 and every ISA path give the scalar path's bits, over head
// dims that exercise every tail (8, 24, 40, 64, 128, 256) and both masks.
TEST(AttentionInvarianceTest, EveryIsaAndThreadCountMatchesScalar) {
  struct Shape {
    int64_t hq, hkv, d;
  };
  for (const Shape sh : {Shape{2, 1, 8}, Shape{3, 3, 24}, Shape{4, 2, 40}, Shape{4, 1, 64},
                         Shape{2, 2, 128}, Shape{2, 1, 256}}) {
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
      const AttnDims dm{sh.hq, sh.hkv, sh.d, dt};
      const SeqData a = MakeSeq(dm, 19, 83, 61, 0.8), b = MakeSeq(dm, 1, 131, 62);
      for (bool causal : {true, false}) {
        AttentionOptions opts;
        opts.causal = causal;
        const auto ref = RunPacked(MakeContext(Isa::kScalar, 1).ctx, dm, {&a, &b}, opts);
        for (Isa isa : TestableIsas()) {
          for (int threads : {1, 2, 3}) {
            const auto got = RunPacked(MakeContext(isa, threads).ctx, dm, {&a, &b}, opts);
            for (size_t i = 0; i < 2; ++i) {
              ASSERT_TRUE(SameOut(got[i], ref[i]))
                  << IsaString(isa) << " threads=" << threads << " d=" << sh.d << " "
                  << DTypeName(dt) << " causal=" << causal << " seq=" << i;
            }
          }
        }
      }
    }
  }
}

// §A8: padded [B, S] with left, right and interior padding == the packed call of the real
// tokens; padded positions give 0 / -Inf.
TEST(AttentionInvarianceTest, PaddedEqualsPacked) {
  const AttnDims dm{4, 2, 32, DType::kBF16};
  const int64_t nb = 3, ns = 40;
  const int64_t lens[nb] = {40, 25, 9};
  std::vector<SeqData> seqs;
  for (int64_t b = 0; b < nb; ++b) seqs.push_back(MakeSeq(dm, lens[b], lens[b], 70 + static_cast<uint64_t>(b)));
  // Row 0 full, row 1 left-padded, row 2 padding interleaved.
  std::vector<uint8_t> mask(static_cast<size_t>(nb * ns), 0);
  std::vector<std::vector<int64_t>> where(nb);
  for (int64_t s = 0; s < ns; ++s) where[0].push_back(s);
  for (int64_t s = ns - lens[1]; s < ns; ++s) where[1].push_back(s);
  for (int64_t i = 0; i < lens[2]; ++i) where[2].push_back(i * 4 + 1);
  const size_t el = DTypeSize(dm.dtype);
  const int64_t qrow = dm.hq * dm.d, krow = dm.hkv * dm.d;
  std::vector<float> q(static_cast<size_t>(nb * ns * qrow), 9.0f);
  std::vector<uint8_t> k(static_cast<size_t>(nb * ns * krow) * el, 0x55), v(k.size(), 0x66);
  for (int64_t b = 0; b < nb; ++b) {
    for (size_t i = 0; i < where[b].size(); ++i) {
      const int64_t row = b * ns + where[b][i];
      mask[static_cast<size_t>(row)] = 1;
      std::copy_n(seqs[b].q.begin() + static_cast<int64_t>(i) * qrow, qrow, q.begin() + row * qrow);
      std::copy_n(seqs[b].k.bytes.begin() + static_cast<int64_t>(i) * krow * static_cast<int64_t>(el), krow * static_cast<int64_t>(el),
                  k.begin() + row * krow * static_cast<int64_t>(el));
      std::copy_n(seqs[b].v.bytes.begin() + static_cast<int64_t>(i) * krow * static_cast<int64_t>(el), krow * static_cast<int64_t>(el),
                  v.begin() + row * krow * static_cast<int64_t>(el));
    }
  }
  for (Isa isa : TestableIsas()) {
    auto h = MakeContext(isa, 2);
    AttentionOptions opts;
    std::vector<float> out(q.size()), lse(static_cast<size_t>(nb * ns * dm.hq));
    ASSERT_TRUE(AttentionPadded(h.ctx, TensorView::Contiguous(q.data(), DType::kF32, {nb, ns, dm.hq, dm.d}),
                                TensorView::Contiguous(k.data(), dm.dtype, {nb, ns, dm.hkv, dm.d}),
                                TensorView::Contiguous(v.data(), dm.dtype, {nb, ns, dm.hkv, dm.d}),
                                mask, opts,
                                TensorView::Contiguous(out.data(), DType::kF32, {nb, ns, dm.hq, dm.d}),
                                TensorView::Contiguous(lse.data(), DType::kF32, {nb, ns, dm.hq}))
                    .ok());
    // The packed call, in a different batch order.
    const auto packed = RunPacked(h.ctx, dm, {&seqs[2], &seqs[0], &seqs[1]}, opts, 1);
    const AttnOut* want[nb] = {&packed[1], &packed[2], &packed[0]};
    for (int64_t b = 0; b < nb; ++b) {
      for (int64_t s = 0; s < ns; ++s) {
        const int64_t row = b * ns + s;
        const auto it = std::find(where[b].begin(), where[b].end(), s);
        for (int64_t hh = 0; hh < dm.hq; ++hh) {
          const float l = lse[static_cast<size_t>(row * dm.hq + hh)];
          const float* o = out.data() + (row * dm.hq + hh) * dm.d;
          if (it == where[b].end()) {
            ASSERT_TRUE(std::isinf(l) && l < 0);
            for (int64_t d = 0; d < dm.d; ++d) ASSERT_EQ(Bits(o[d]), 0u);
            continue;
          }
          const int64_t i = it - where[b].begin();
          ASSERT_EQ(Bits(l), Bits(want[b]->lse[static_cast<size_t>(i * dm.hq + hh)]))
              << IsaString(isa) << " b=" << b << " s=" << s;
          ASSERT_TRUE(BitsEqual(o, want[b]->out.data() + (i * dm.hq + hh) * dm.d, static_cast<size_t>(dm.d)));
        }
      }
    }
  }
}

}  // namespace
}  // namespace detinfer::testing
