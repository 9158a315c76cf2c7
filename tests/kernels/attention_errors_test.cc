// Attention errors: every malformed call is rejected before memory is touched, with a message
// naming the thing at fault. Plus the labelled large test at Qwen3-8B head shapes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "attention_test_util.h"

namespace detinfer::testing {
namespace {

struct Fixture {
  int64_t tq = 6, hq = 4, hkv = 2, d = 16, tkv = 10;
  std::vector<float> q, out, lse, k, v;
  std::vector<AttentionSeq> seqs;
  Fixture() : q(static_cast<size_t>(tq * hq * d)), out(q.size()), lse(static_cast<size_t>(tq * hq)),
              k(static_cast<size_t>(tkv * hkv * d)), v(k.size()) {
    AttentionSeq s;
    s.q_len = tq;
    s.q_pos = 4;
    s.kv_len = tkv;
    seqs.push_back(s);
  }
  TensorView Q() { return TensorView::Contiguous(q.data(), DType::kF32, {tq, hq, d}); }
  TensorView Out() { return TensorView::Contiguous(out.data(), DType::kF32, {tq, hq, d}); }
  TensorView Lse() { return TensorView::Contiguous(lse.data(), DType::kF32, {tq, hq}); }
  KvView Kv() {
    KvView kv;
    kv.k = TensorView::Contiguous(k.data(), DType::kF32, {tkv, hkv, d});
    kv.v = TensorView::Contiguous(v.data(), DType::kF32, {tkv, hkv, d});
    return kv;
  }
  Status Run(const KvView& kv, AttentionOptions opts = {}) {
    return Attention(KernelContext{}, Q(), kv, seqs, opts, Out(), Lse());
  }
};

::testing::AssertionResult FailsWith(const Status& s, std::vector<std::string> words) {
  if (s.ok()) return ::testing::AssertionFailure() << "unexpectedly OK";
  for (const auto& w : words) {
    if (s.message().find(w) == std::string::npos) {
      return ::testing::AssertionFailure() << "message lacks '" << w << "': " << s.ToString();
    }
  }
  return ::testing::AssertionSuccess();
}

TEST(AttentionErrorsTest, ShapesAndHeads) {
  Fixture f;
  ASSERT_TRUE(f.Run(f.Kv()).ok());
  {  // Hq % Hkv != 0
    Fixture g;
    g.hkv = 3;
    g.k.resize(static_cast<size_t>(g.tkv * 3 * g.d));
    g.v = g.k;
    EXPECT_TRUE(FailsWith(g.Run(g.Kv()), {"Hq=4", "Hkv=3"}));
  }
  {  // D not a multiple of 8, D > 256
    for (int64_t d : {12, 264}) {
      Fixture g;
      g.d = d;
      g.q.resize(static_cast<size_t>(g.tq * g.hq * d));
      g.out = g.q;
      g.k.resize(static_cast<size_t>(g.tkv * g.hkv * d));
      g.v = g.k;
      EXPECT_TRUE(FailsWith(g.Run(g.Kv()), {"D=" + std::to_string(d)}));
    }
  }
  {  // k/v head dim != q's, k vs v shapes, lse shape
    KvView kv = f.Kv();
    kv.k.shape[2] = 8;
    kv.v.shape[2] = 8;
    EXPECT_TRUE(FailsWith(f.Run(kv), {"head dim 8", "D=16"}));
    kv = f.Kv();
    kv.v.shape[0] = 9;
    EXPECT_TRUE(FailsWith(f.Run(kv), {"v is [9, 2, 16] f32"}));
    kv = f.Kv();
    kv.v.dtype = DType::kBF16;
    EXPECT_TRUE(FailsWith(f.Run(kv), {"bf16"}));
    EXPECT_TRUE(FailsWith(Attention(KernelContext{}, f.Q(), f.Kv(), f.seqs, {}, f.Out(),
                                    TensorView::Contiguous(f.lse.data(), DType::kF32, {f.tq, 3})),
                          {"lse is [6, 3] f32"}));
  }
  {  // out overlapping q
    EXPECT_TRUE(FailsWith(Attention(KernelContext{}, f.Q(), f.Kv(), f.seqs, {}, f.Q(), f.Lse()),
                          {"out", "overlaps q"}));
  }
  {  // non-finite scale
    AttentionOptions o;
    o.scale = INFINITY;
    EXPECT_TRUE(FailsWith(f.Run(f.Kv(), o), {"scale"}));
  }
}

TEST(AttentionErrorsTest, Sequences) {
  {  // kv_len beyond contiguous storage
    Fixture f;
    f.seqs[0].kv_begin = 3;
    EXPECT_TRUE(FailsWith(f.Run(f.Kv()), {"sequence 0", "beyond", "[10, 2, 16] f32"}));
  }
  {  // query rows outside q; overlapping sequences
    Fixture f;
    f.seqs[0].q_begin = 2;
    EXPECT_TRUE(FailsWith(f.Run(f.Kv()), {"sequence 0", "outside q"}));
    f.seqs[0].q_begin = 0;
    f.seqs[0].q_len = 3;
    AttentionSeq s2 = f.seqs[0];
    s2.q_begin = 2;
    f.seqs.push_back(s2);
    EXPECT_TRUE(FailsWith(f.Run(f.Kv()), {"sequences 0 and 1", "share query rows"}));
  }
  {  // causal queries beyond the stored keys; key_mask length
    Fixture f;
    f.seqs[0].q_pos = 5;
    EXPECT_TRUE(FailsWith(f.Run(f.Kv()), {"sequence 0", "kv_len=10"}));
    Fixture g;
    std::vector<uint8_t> m(9, 1);
    g.seqs[0].key_mask = m;
    EXPECT_TRUE(FailsWith(g.Run(g.Kv()), {"key_mask has 9", "kv_len=10"}));
  }
  {  // paged: block ids out of range, too few blocks
    Fixture f;
    KvView kv;
    kv.layout = KvLayout::kPaged;
    kv.k = TensorView::Contiguous(f.k.data(), DType::kF32, {5, 2, 2, 16});
    kv.v = TensorView::Contiguous(f.v.data(), DType::kF32, {5, 2, 2, 16});
    std::vector<int32_t> blocks{0, 1, 2, 3, 5};
    f.seqs[0].blocks = blocks;
    EXPECT_TRUE(FailsWith(f.Run(kv), {"sequence 0", "block id 5", "blocks[4]", "[0, 5)"}));
    std::vector<int32_t> few{0, 1, 2};
    f.seqs[0].blocks = few;
    EXPECT_TRUE(FailsWith(f.Run(kv), {"sequence 0", "needs 5 blocks"}));
    std::vector<int32_t> neg{0, -1, 2, 3, 4};
    f.seqs[0].blocks = neg;
    EXPECT_TRUE(FailsWith(f.Run(kv), {"block id -1"}));
    std::vector<int32_t> ok{4, 3, 2, 1, 0};
    f.seqs[0].blocks = ok;
    EXPECT_TRUE(f.Run(kv).ok());
  }
}

TEST(AttentionErrorsTest, KeyTiledPagedShapes) {
  Fixture f;  // kv_len 10: one block of 16
  std::vector<float> kt(2 * 2 * 16 * 16), vt(kt.size());
  const auto view = [&](std::initializer_list<int64_t> k, std::initializer_list<int64_t> v) {
    KvView kv;
    kv.layout = KvLayout::kPagedTiled;
    kv.k = TensorView::Contiguous(kt.data(), DType::kF32, k);
    kv.v = TensorView::Contiguous(vt.data(), DType::kF32, v);
    return kv;
  };
  std::vector<int32_t> blocks{1};
  f.seqs[0].blocks = blocks;
  EXPECT_TRUE(f.Run(view({2, 2, 16, 16}, {2, 2, 16, 16})).ok());
  EXPECT_TRUE(FailsWith(f.Run(view({2, 2, 16, 16}, {2, 4, 8, 16})),
                        {"block_size 8", "multiple of 16", "v [2, 4, 8, 16] f32"}));
  EXPECT_TRUE(FailsWith(f.Run(view({2, 2, 16, 8}, {2, 2, 16, 16})),
                        {"key-tiled k [2, 2, 16, 8] f32", "[2, 2, 16, 16]"}));
  EXPECT_TRUE(FailsWith(f.Run(view({2, 3, 16, 16}, {2, 2, 16, 16})), {"key-tiled k [2, 3, 16, 16]"}));
  EXPECT_TRUE(FailsWith(f.Run(view({2, 2, 16, 16}, {2, 2, 16, 8})), {"head dim 8", "D=16"}));
  EXPECT_TRUE(FailsWith(f.Run(view({3, 2, 16, 16}, {3, 2, 16, 16})), {"Hq=4", "Hkv=3"}));
  KvView strided = view({2, 1, 16, 16}, {2, 1, 16, 16});
  strided.k.stride[2] = 32;  // rows of 16 keys with gaps between them
  strided.k.stride[1] = 512;
  strided.k.stride[0] = 1024;
  std::vector<int32_t> first{0};
  f.seqs[0].blocks = first;
  EXPECT_TRUE(FailsWith(f.Run(strided), {"last two dims contiguous"}));
  std::vector<int32_t> beyond{2};
  f.seqs[0].blocks = beyond;
  EXPECT_TRUE(FailsWith(f.Run(view({2, 2, 16, 16}, {2, 2, 16, 16})),
                        {"block id 2", "[0, 2)", "[2, 2, 16, 16] f32"}));
}

TEST(AttentionErrorsTest, CacheAndPadded) {
  const AttnDims dm{4, 2, 16, DType::kBF16};
  std::vector<float> q(3 * 4 * 16), out(q.size()), lse(12);
  std::vector<uint16_t> kc(5 * 2 * 16), kn(2 * 2 * 16), kn3(3 * 2 * 16);
  const TensorView qv = TensorView::Contiguous(q.data(), DType::kF32, {3, 4, 16});
  const TensorView ov = TensorView::Contiguous(out.data(), DType::kF32, {3, 4, 16});
  const TensorView lv = TensorView::Contiguous(lse.data(), DType::kF32, {3, 4});
  const TensorView kcv = TensorView::Contiguous(kc.data(), DType::kBF16, {5, 2, 16});
  const TensorView knv = TensorView::Contiguous(kn.data(), DType::kBF16, {2, 2, 16});
  const TensorView kn3v = TensorView::Contiguous(kn3.data(), DType::kBF16, {3, 2, 16});
  KernelContext ctx;
  EXPECT_TRUE(FailsWith(AttentionWithCache(ctx, qv, kcv, kcv, knv, knv, {}, ov, lv),
                        {"q_new has 3", "k_new has 2", "v_new has 2"}));
  EXPECT_TRUE(AttentionWithCache(ctx, qv, kcv, kcv, kn3v, kn3v, {}, ov, lv).ok());
  const TensorView kn3f = TensorView::Contiguous(q.data(), DType::kF32, {3, 2, 16});
  EXPECT_TRUE(FailsWith(AttentionWithCache(ctx, qv, kcv, kcv, kn3f, kn3f, {}, ov, lv),
                        {"k_new", "cache's dtype"}));
  // Padded: mask size.
  std::vector<uint8_t> mask(5, 1);
  EXPECT_TRUE(FailsWith(
      AttentionPadded(ctx, TensorView::Contiguous(q.data(), DType::kF32, {1, 3, 4, 16}),
                      TensorView::Contiguous(kn3.data(), DType::kBF16, {1, 3, 2, 16}),
                      TensorView::Contiguous(kn3.data(), DType::kBF16, {1, 3, 2, 16}), mask, {},
                      TensorView::Contiguous(out.data(), DType::kF32, {1, 3, 4, 16}),
                      TensorView::Contiguous(lse.data(), DType::kF32, {1, 3, 4})),
      {"key_padding_mask has 5", "B*S = 3"}));
  (void)dm;
}

// Qwen3-8B head shapes: 32 query heads, 8 KV heads, D = 128, S = 2048, bf16 K/V. Full prefill
// == chunked-64 prefill == scattered single-token decode steps, bit for bit.
TEST(AttentionLargeTest, Qwen3HeadsPrefillChunkedDecode) {
  const AttnDims dm{32, 8, 128, DType::kBF16};
  const SeqData s = MakeSeq(dm, 2048, 2048, 99, 1.0, 1.0f);
  auto h = MakeContext(TestableIsas().back(), 2);
  AttentionOptions opts;
  const AttnOut full = RunOne(h.ctx, dm, s, opts);
  std::vector<int64_t> cuts;
  for (int64_t c = 64; c < 2048; c += 64) cuts.push_back(c);
  ASSERT_TRUE(SameOut(RunChunked(h.ctx, dm, s, cuts, opts), full));
  // Decode steps at scattered positions: row p computed alone with cache [0, p).
  const int64_t qrow = dm.hq * dm.d;
  for (int64_t p : {0, 1, 63, 64, 65, 777, 1500, 2047}) {
    std::vector<int64_t> c2{p, p + 1};
    if (p + 1 >= 2048) c2.pop_back();
    const AttnOut r = RunChunked(h.ctx, dm, s, c2, opts);
    ASSERT_TRUE(BitsEqual(r.out.data() + p * qrow, full.out.data() + p * qrow, static_cast<size_t>(qrow)))
        << "p=" << p;
    ASSERT_TRUE(BitsEqual(r.lse.data() + p * dm.hq, full.lse.data() + p * dm.hq, static_cast<size_t>(dm.hq)));
  }
}

}  // namespace
}  // namespace detinfer::testing
