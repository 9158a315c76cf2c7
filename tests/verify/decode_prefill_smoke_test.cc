// CI smoke (issue #6 item 4): decode vs prefill on a small random model, exact bits, for a
// short prompt, a long one (>= 512 tokens), a variable-length batch and a padded layout.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "kernels/attention.h"
#include "model/random_model.h"
#include "model/transformer.h"
#include "verify/axes_direct.h"
#include "verify/localiser.h"

namespace detinfer::verify {
namespace {

constexpr int64_t kVocab = 80;

const Transformer& Model() {
  static const Transformer* m = [] {
    ModelConfig c;
    c.arch = Arch::kQwen3;
    c.dim = 32;
    c.n_layers = 2;
    c.n_heads = 4;
    c.n_kv_heads = 2;
    c.head_dim = 8;
    c.ffn_dim = 48;
    c.vocab_size = kVocab;
    c.max_seq_len = 640;
    c.rope_style = RopeStyle::kRotateHalf;
    c.qk_norm = true;
    auto t = Transformer::Create(testing::RandomModel(c, 77));
    EXPECT_TRUE(t.ok());
    return new Transformer(std::move(t).value());
  }();
  return *m;
}

KernelContext Ctx() {
  KernelContext ctx;
  ctx.isa = BestIsa(DetectCpuFeatures());
  return ctx;
}

std::vector<int32_t> Tokens(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % kVocab);
  return t;
}

struct Fed {
  PagedKvCache cache;
  std::vector<std::vector<float>> rows;  // logits of every position
};

// pieces: {n} = one prefill; {1, 1, ...} = token-by-token decode.
Fed Feed(const std::vector<int32_t>& t, const std::vector<int64_t>& pieces) {
  auto cache = Model().NewCache(static_cast<int64_t>(t.size()), DType::kBF16);
  EXPECT_TRUE(cache.ok());
  Fed f{std::move(cache).value(), {}};
  EXPECT_TRUE(f.cache.AddSequence(0).ok());
  EXPECT_TRUE(FeedPieces(Model(), Ctx(), f.cache, t, pieces, true, &f.rows).ok());
  return f;
}

void ExpectDecodeEqualsPrefill(size_t n, uint64_t seed) {
  const auto t = Tokens(n, seed);
  const Fed prefill = Feed(t, {static_cast<int64_t>(n)});
  const Fed decode = Feed(t, std::vector<int64_t>(n, 1));
  ASSERT_EQ(prefill.rows.size(), n);
  ASSERT_EQ(decode.rows.size(), n);
  for (size_t p = 0; p < n; ++p) {
    ASSERT_EQ(std::memcmp(prefill.rows[p].data(), decode.rows[p].data(), kVocab * 4), 0)
        << "logits of position " << p;
    for (int64_t l = 0; l < Model().config().n_layers; ++l) {
      for (bool v : {false, true}) {
        const auto a = StoredRow(prefill.cache, l, v, 0, static_cast<int64_t>(p));
        const auto b = StoredRow(decode.cache, l, v, 0, static_cast<int64_t>(p));
        ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0)
            << (v ? "V" : "K") << " slot, layer " << l << ", position " << p;
      }
    }
  }
}

TEST(DecodePrefillSmokeTest, ShortPrompt) { ExpectDecodeEqualsPrefill(5, 1); }

TEST(DecodePrefillSmokeTest, LongPromptOver512Tokens) { ExpectDecodeEqualsPrefill(530, 2); }

// Three sequences of different lengths prefilled in one step (packed, variable length) give
// the bits each gets decoded alone; their layer-0 attention, recomputed from the tapped q and
// stored K/V in a padded [batch, max_len] layout with padding left, right and none, too.
TEST(DecodePrefillSmokeTest, VariableLengthBatchAndPaddedLayout) {
  const std::vector<size_t> lens{3, 17, 40};
  std::vector<std::vector<int32_t>> toks;
  for (size_t i = 0; i < lens.size(); ++i) toks.push_back(Tokens(lens[i], 10 + i));
  auto cache = Model().NewCache(128, DType::kBF16);  // 6 blocks of 16
  ASSERT_TRUE(cache.ok());
  std::vector<Segment> segs;
  for (size_t i = 0; i < lens.size(); ++i) {
    ASSERT_TRUE(cache->AddSequence(static_cast<SeqId>(i)).ok());
    segs.push_back({static_cast<SeqId>(i), 0, toks[i], true});
  }
  TraceRecorder rec;
  Transformer& model = const_cast<Transformer&>(Model());
  model.SetObserver(&rec);
  std::vector<float> batch;
  const Status st = model.Forward(Ctx(), *cache, segs, &batch);
  model.SetObserver(nullptr);
  ASSERT_TRUE(st.ok()) << st.ToString();
  size_t row = 0;
  for (size_t i = 0; i < lens.size(); ++i) {
    const Fed alone = Feed(toks[i], std::vector<int64_t>(lens[i], 1));
    for (size_t p = 0; p < lens[i]; ++p, ++row) {
      ASSERT_EQ(std::memcmp(batch.data() + row * kVocab, alone.rows[p].data(), kVocab * 4), 0)
          << "sequence " << i << " position " << p;
    }
  }

  const ModelConfig& c = Model().config();
  const int64_t B = 3, S = 40, hq = c.n_heads, hkv = c.n_kv_heads, d = c.head_dim;
  std::vector<float> q(static_cast<size_t>(B * S * hq * d)), k(static_cast<size_t>(B * S * hkv * d));
  std::vector<float> v(k.size()), out(q.size()), lse(static_cast<size_t>(B * S * hq));
  std::vector<uint8_t> mask(static_cast<size_t>(B * S), 0);
  const int64_t first_slot[3] = {S - 3, 0, 0};  // left padding, right padding, none
  std::vector<Trace> traces;
  for (size_t i = 0; i < lens.size(); ++i) traces.push_back(rec.TraceOf(toks[i]));
  const int qi = static_cast<int>(TapOp::kQ), ki = static_cast<int>(TapOp::kKCache);
  const int vi = static_cast<int>(TapOp::kVCache), ai = static_cast<int>(TapOp::kAttention);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t p = 0; p < static_cast<int64_t>(lens[size_t(b)]); ++p) {
      const int64_t s = first_slot[b] + p;
      mask[size_t(b * S + s)] = 1;
      const Trace& t = traces[size_t(b)];
      std::memcpy(&q[size_t((b * S + s) * hq * d)], t.at({0, qi, p}).values.data(), size_t(hq * d) * 4);
      std::memcpy(&k[size_t((b * S + s) * hkv * d)], t.at({0, ki, p}).values.data(), size_t(hkv * d) * 4);
      std::memcpy(&v[size_t((b * S + s) * hkv * d)], t.at({0, vi, p}).values.data(), size_t(hkv * d) * 4);
    }
  }
  ASSERT_TRUE(AttentionPadded(Ctx(), TensorView::Contiguous(q.data(), DType::kF32, {B, S, hq, d}),
                              TensorView::Contiguous(k.data(), DType::kF32, {B, S, hkv, d}),
                              TensorView::Contiguous(v.data(), DType::kF32, {B, S, hkv, d}), mask,
                              AttentionOptions{},
                              TensorView::Contiguous(out.data(), DType::kF32, {B, S, hq, d}),
                              TensorView::Contiguous(lse.data(), DType::kF32, {B, S, hq}))
                  .ok());
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t p = 0; p < static_cast<int64_t>(lens[size_t(b)]); ++p) {
      const auto& want = traces[size_t(b)].at({0, ai, p}).values;
      ASSERT_EQ(std::memcmp(&out[size_t((b * S + first_slot[b] + p) * hq * d)], want.data(),
                            want.size() * 4), 0)
          << "padded row " << b << " position " << p;
    }
  }
}

}  // namespace
}  // namespace detinfer::verify
