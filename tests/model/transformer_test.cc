// Model-level tests of the forward pass: accuracy against an independent double-precision
// reference (tests/model/random_model.h), and SPEC §A1–A3, §A5–A8 invariance, bit for bit.
#include "model/transformer.h"

#include <gtest/gtest.h>

#include <vector>

#include "model/random_model.h"
#include "test_util.h"

namespace detinfer {
namespace {

using testing::BitsEqual;

ModelConfig SmallConfig(RopeStyle style, bool gqa, bool qk_norm, bool bias) {
  ModelConfig c;
  c.arch = qk_norm ? Arch::kQwen3 : bias ? Arch::kQwen2 : Arch::kLlama;
  c.dim = 48;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = gqa ? 2 : 4;
  c.head_dim = 16;
  c.ffn_dim = 72;
  c.vocab_size = 61;
  c.max_seq_len = 200;
  c.rope_theta = 10000.0;
  c.rope_style = style;
  c.norm_eps = 1e-5f;
  c.qk_norm = qk_norm;
  c.qkv_bias = bias;
  return c;
}

std::vector<int32_t> Tokens(size_t n, uint64_t seed, int32_t vocab) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
  return t;
}

// Logits for every position of `tokens`, fed in chunks of `chunk` tokens.
std::vector<float> RunChunked(const Transformer& m, const KernelContext& ctx,
                              const std::vector<int32_t>& tokens, size_t chunk,
                              DType kv = DType::kF32) {
  auto cache = m.NewCache(static_cast<int64_t>(tokens.size()), kv, 16);
  EXPECT_TRUE(cache.ok());
  EXPECT_TRUE(cache->AddSequence(3).ok());
  std::vector<float> all, part;
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const size_t n = std::min(chunk, tokens.size() - i);
    const Segment seg{3, static_cast<int64_t>(i), std::span(tokens).subspan(i, n), true};
    Status s = m.Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &part);
    EXPECT_TRUE(s.ok()) << s.ToString();
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

struct Variant {
  RopeStyle style;
  bool gqa, qk_norm, bias;
};

const Variant kVariants[] = {{RopeStyle::kInterleaved, false, false, false},
                             {RopeStyle::kRotateHalf, true, false, false},
                             {RopeStyle::kRotateHalf, true, false, true},
                             {RopeStyle::kRotateHalf, true, true, false},
                             {RopeStyle::kInterleaved, true, true, true}};

TEST(TransformerTest, MatchesTheDoublePrecisionReference) {
  for (const Variant& v : kVariants) {
    const ModelConfig c = SmallConfig(v.style, v.gqa, v.qk_norm, v.bias);
    ModelWeights w = testing::RandomModel(c, 11);
    const auto tokens = Tokens(37, 5, static_cast<int32_t>(c.vocab_size));
    const auto want = testing::ReferenceForward(w, tokens);
    auto m = Transformer::Create(std::move(w));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
    const auto got = RunChunked(*m, h.ctx, tokens, tokens.size());
    ASSERT_EQ(got.size(), want.size());
    const double err = testing::MaxErrorRelativeToPeak(got.data(), want.data(), got.size());
    EXPECT_LT(err, 2e-5) << "style=" << int(v.style) << " gqa=" << v.gqa << " qk_norm=" << v.qk_norm
                         << " bias=" << v.bias;
  }
}

// §A3: full prefill, chunked prefill (1, 7, 16, 64) and token-by-token decode agree bitwise;
// §A5: cache off (recompute from scratch) agrees with the cached last-token logits. The whole
// 70-token prefill runs its FFN in two row blocks (64 + 6: FfnBlockRows in
// model/decoder_layer.cc), every chunk in one.
TEST(TransformerTest, ChunkingAndCacheOffNeverChangeBits) {
  for (const Variant& v : kVariants) {
    const ModelConfig c = SmallConfig(v.style, v.gqa, v.qk_norm, v.bias);
    auto m = Transformer::Create(testing::RandomModel(c, 12));
    ASSERT_TRUE(m.ok());
    const auto tokens = Tokens(70, 6, static_cast<int32_t>(c.vocab_size));
    for (DType kv : {DType::kF32, DType::kBF16}) {
      auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
      const auto whole = RunChunked(*m, h.ctx, tokens, tokens.size(), kv);
      for (size_t chunk : {1, 7, 16, 64}) {
        EXPECT_TRUE(BitsEqual(RunChunked(*m, h.ctx, tokens, chunk, kv), whole)) << "chunk " << chunk;
      }
      const int64_t V = c.vocab_size;
      for (size_t len : {1, 2, 17, 70}) {
        std::vector<float> nocache;
        ASSERT_TRUE(m->ForwardNoCache(h.ctx, std::span(tokens).first(len), &nocache, kv).ok());
        EXPECT_TRUE(BitsEqual(nocache.data(), whole.data() + (len - 1) * V, size_t(V))) << len;
      }
    }
  }
}

// Packing the weights (Create) copies stored bits into panels: its ISA path and thread count
// must not change a logit. Both RoPE conventions: interleaved files are reordered by the
// packer itself, from strided views of the q/k rows.
TEST(TransformerTest, PackingIsaAndThreadsNeverChangeBits) {
  for (const Variant& v : kVariants) {
    const ModelConfig c = SmallConfig(v.style, v.gqa, v.qk_norm, v.bias);
    const auto tokens = Tokens(20, 4, static_cast<int32_t>(c.vocab_size));
    auto run = testing::MakeContext(testing::TestableIsas().back(), 1);
    auto ref = Transformer::Create(testing::RandomModel(c, 15));  // scalar, calling thread
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    const auto want = RunChunked(*ref, run.ctx, tokens, tokens.size());
    for (Isa isa : testing::TestableIsas()) {
      for (int threads : {1, 2, 3}) {
        auto pack = testing::MakeContext(isa, threads);
        auto m = Transformer::Create(testing::RandomModel(c, 15), pack.ctx);
        ASSERT_TRUE(m.ok()) << m.status().ToString();
        EXPECT_TRUE(BitsEqual(RunChunked(*m, run.ctx, tokens, tokens.size()), want))
            << IsaName(isa) << " threads=" << threads << " style=" << int(v.style);
      }
    }
  }
}

TEST(TransformerTest, MisShapedQProjectionIsAnErrorNamingIt) {
  const ModelConfig c = SmallConfig(RopeStyle::kInterleaved, false, false, false);
  ModelWeights w = testing::RandomModel(c, 16);
  w.layers[1].wq.shape[0] -= 1;
  auto m = Transformer::Create(std::move(w));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("layer 1 wq"), std::string::npos) << m.status().ToString();
}

// §A1/§A2/§A6/§A7: a sequence alone vs in mixed batches (other sequences prefilling and
// decoding, at different positions in the batch), any thread count, any ISA path.
TEST(TransformerTest, BatchCompositionThreadsAndIsaNeverChangeBits) {
  const ModelConfig c = SmallConfig(RopeStyle::kRotateHalf, true, true, true);
  auto m = Transformer::Create(testing::RandomModel(c, 13));
  ASSERT_TRUE(m.ok());
  const auto target = Tokens(40, 7, static_cast<int32_t>(c.vocab_size));
  auto ref_ctx = testing::MakeContext(Isa::kScalar, 1);
  const auto alone = RunChunked(*m, ref_ctx.ctx, target, 40);
  const int64_t V = c.vocab_size;
  for (Isa isa : testing::TestableIsas()) {
    for (int threads : {1, 2, 3}) {
      auto h = testing::MakeContext(isa, threads);
      auto cache = m->NewCache(400);
      ASSERT_TRUE(cache.ok());
      // Co-traffic: sequence 1 prefilled earlier, sequence 2 arrives with the target.
      const auto other1 = Tokens(30, 8, static_cast<int32_t>(V)), other2 = Tokens(30, 9, static_cast<int32_t>(V));
      for (SeqId s : {0, 1, 2}) ASSERT_TRUE(cache->AddSequence(s).ok());
      std::vector<float> out;
      Segment pre{1, 0, std::span(other1).first(20), false};
      ASSERT_TRUE(m->Forward(h.ctx, *cache, std::span<const Segment>(&pre, 1), &out).ok());
      // Step 1: target prefill chunk of 23 between a decode token and another prompt.
      Segment step1[3] = {{1, 20, std::span(other1).subspan(20, 1), false},
                          {0, 0, std::span(target).first(23), true},
                          {2, 0, std::span(other2).first(11), false}};
      ASSERT_TRUE(m->Forward(h.ctx, *cache, step1, &out).ok());
      ASSERT_TRUE(BitsEqual(out.data() + V, alone.data(), size_t(23 * V)))
          << testing::IsaString(isa) << " x" << threads;
      // Then the rest one token at a time, first in the batch, with the others continuing.
      for (int64_t p = 23; p < 40; ++p) {
        Segment step[2] = {{0, p, std::span(target).subspan(size_t(p), 1), false},
                           {2, 11 + (p - 23), std::span(other2).subspan(size_t(11 + (p - 23)), 1), false}};
        Status st = m->Forward(h.ctx, *cache, step, &out);
        ASSERT_TRUE(st.ok()) << st.ToString();
        ASSERT_TRUE(BitsEqual(out.data(), alone.data() + p * V, size_t(V)))
            << testing::IsaString(isa) << " x" << threads << " pos " << p;
      }
    }
  }
}

TEST(TransformerTest, BadRequestsAreErrorsThatLoseNothing) {
  const ModelConfig c = SmallConfig(RopeStyle::kRotateHalf, true, false, false);
  auto m = Transformer::Create(testing::RandomModel(c, 14));
  ASSERT_TRUE(m.ok());
  KernelContext ctx;
  auto cache = m->NewCache(32, DType::kF32, 16);
  ASSERT_TRUE(cache->AddSequence(0).ok());
  ASSERT_TRUE(cache->AddSequence(1).ok());
  std::vector<float> out;
  const std::vector<int32_t> ok_tokens = {1, 2, 3}, bad_token = {1, 99};
  Segment seg{0, 0, bad_token, false};
  Status s = m->Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &out);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("token id 99"), std::string::npos) << s.message();
  seg = {0, 5, ok_tokens, false};
  EXPECT_NE(m->Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &out).message().find("position 5"),
            std::string::npos);
  seg = {9, 0, ok_tokens, false};
  EXPECT_EQ(m->Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &out).code(), StatusCode::kNotFound);
  // Out of KV memory: sequence 0 holds 3 tokens; 40 more for sequence 1 cannot fit.
  seg = {0, 0, ok_tokens, false};
  ASSERT_TRUE(m->Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &out).ok());
  const auto before = out;
  const auto long_prompt = Tokens(40, 1, 61);
  Segment both[2] = {{0, 3, std::span(ok_tokens).first(1), false}, {1, 0, long_prompt, false}};
  s = m->Forward(ctx, *cache, both, &out);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(cache->Length(0), 3);
  EXPECT_EQ(cache->Length(1), 0);
  // Sequence 0 goes on exactly as if the failed step had not happened.
  std::vector<float> next, fresh;
  seg = {0, 3, std::span(ok_tokens).first(1), false};
  ASSERT_TRUE(m->Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &next).ok());
  const std::vector<int32_t> four = {1, 2, 3, 1};
  ASSERT_TRUE(m->ForwardNoCache(ctx, four, &fresh).ok());
  EXPECT_TRUE(BitsEqual(next, fresh));
  // Beyond the context length.
  const auto too_long = Tokens(201, 2, 61);
  EXPECT_EQ(m->ForwardNoCache(ctx, too_long, &out).code(), StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace detinfer
