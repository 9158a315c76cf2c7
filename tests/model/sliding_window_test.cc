// Sliding-window attention in the model (Mistral, Phi-3, Mixtral: ModelConfig::sliding_window):
// both file formats carry the window and give the same bits; a model runs past its window
// (the context is what the file declares); within the window the bits are the unwindowed
// model's and past it they are not; a token's bits with a window shorter than the sequence
// never depend on chunking, decode vs prefill, the batch, threads or the ISA path; bad windows
// are errors naming the field. Accuracy against the float64 transformers reference (its
// sliding-window mask) is in hf_oracle_test.cc.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/gguf_writer.h"
#include "model/hf_loader.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model/model_test_util.h"
#include "model/random_init.h"
#include "model/transformer.h"
#include "model/writer_test_util.h"
#include "test_util.h"

namespace detinfer {
namespace {

using nlohmann::json;

ModelConfig WindowedConfig(Arch arch, int64_t window) {
  ModelConfig c = testing::SmallConfig(arch);
  c.max_seq_len = 256;
  c.sliding_window = window;
  if (arch == Arch::kMixtral) {
    c.n_experts = 4;
    c.n_experts_used = 2;
    c.expert_ffn_dim = c.ffn_dim;
    c.moe_renormalize = true;
  }
  return c;
}

std::vector<int32_t> WindowTokens(size_t n, uint64_t seed, int64_t vocab) {
  std::vector<int32_t> t(n);
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
  for (auto& v : t) {
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    v = static_cast<int32_t>(x % static_cast<uint64_t>(vocab));
  }
  return t;
}

// Logits of every position of `tokens` fed in chunks of `chunk` (1 = decode).
std::vector<float> WindowRun(const Transformer& m, const KernelContext& ctx,
                             const std::vector<int32_t>& tokens, size_t chunk,
                             DType kv = DType::kF32) {
  auto cache = m.NewCache(static_cast<int64_t>(tokens.size()), kv);
  EXPECT_TRUE(cache.ok());
  EXPECT_TRUE(cache->AddSequence(0).ok());
  std::vector<float> all, part;
  for (size_t i = 0; i < tokens.size(); i += chunk) {
    const size_t n = std::min(chunk, tokens.size() - i);
    const Segment seg{0, static_cast<int64_t>(i), std::span(tokens).subspan(i, n), true};
    const Status s = m.Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &part);
    EXPECT_TRUE(s.ok()) << s.ToString();
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

std::vector<float> WindowFileLogits(const std::string& path, const std::vector<int32_t>& tokens,
                                    int64_t want_window) {
  auto w = LoadModel(path);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return {};
  EXPECT_EQ(w->config.sliding_window, want_window) << path;
  EXPECT_EQ(w->config.max_seq_len, 256) << path << ": the window must not cap the context";
  auto t = Transformer::Create(std::move(*w));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return {};
  return WindowRun(*t, KernelContext{}, tokens, tokens.size());
}

TEST(SlidingWindowTest, HuggingFaceAndGgufFilesCarryTheWindowAndGiveTheSameBits) {
  for (const auto& [arch, window] : {std::pair{Arch::kLlama, 6}, std::pair{Arch::kPhi3, 5},
                                     std::pair{Arch::kMixtral, 7}}) {
    SCOPED_TRACE(ArchName(arch));
    const ModelConfig c = WindowedConfig(arch, window);
    auto w = InitRandomModel(c, 31, DType::kF32);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    testing::TempDir dir;
    ASSERT_TRUE(WriteHuggingFace(*w, dir.path()).ok());
    ASSERT_TRUE(WriteGguf(*w, dir.file("m.gguf")).ok());
    std::ifstream in(dir.file("config.json"));
    const json config = json::parse(in);
    EXPECT_EQ(config["sliding_window"], window);
    // transformers' Llama ignores sliding_window: a windowed llama is written as Mistral.
    if (arch == Arch::kLlama) {
      EXPECT_EQ(config["architectures"][0], "MistralForCausalLM");
    }
    const std::vector<int32_t> tokens = WindowTokens(40, 3, c.vocab_size);
    auto mem = Transformer::Create(std::move(*w));
    ASSERT_TRUE(mem.ok()) << mem.status().ToString();
    const std::vector<float> want = WindowRun(*mem, KernelContext{}, tokens, tokens.size());
    EXPECT_TRUE(testing::BitsEqual(WindowFileLogits(dir.path(), tokens, window), want));
    EXPECT_TRUE(testing::BitsEqual(WindowFileLogits(dir.file("m.gguf"), tokens, window), want));
  }
}

// Positions before the window binds (p < W) see every earlier key, as without a window: the
// same bits. From p = W on the first key drops out and the logits change.
TEST(SlidingWindowTest, WithinTheWindowTheBitsAreTheUnwindowedModels) {
  const int64_t window = 9;
  ModelConfig c = WindowedConfig(Arch::kLlama, window);
  auto w = InitRandomModel(c, 41, DType::kF32);
  ASSERT_TRUE(w.ok());
  auto plain_w = InitRandomModel([&] { ModelConfig p = c; p.sliding_window = 0; return p; }(), 41,
                                 DType::kF32);
  ASSERT_TRUE(plain_w.ok());
  auto windowed = Transformer::Create(std::move(*w));
  auto plain = Transformer::Create(std::move(*plain_w));
  ASSERT_TRUE(windowed.ok() && plain.ok());
  const int64_t V = c.vocab_size;
  const std::vector<int32_t> tokens = WindowTokens(30, 5, V);
  const std::vector<float> a = WindowRun(*windowed, KernelContext{}, tokens, 30);
  const std::vector<float> b = WindowRun(*plain, KernelContext{}, tokens, 30);
  EXPECT_TRUE(testing::BitsEqual(a.data(), b.data(), static_cast<size_t>(window * V)));
  for (int64_t p = window; p < 30; ++p) {
    EXPECT_FALSE(testing::BitsEqual(a.data() + p * V, b.data() + p * V, static_cast<size_t>(V)))
        << "position " << p << " sees keys outside its window";
  }
}

// SPEC §A1/§A2/§A3/§A6/§A7 with a window (7) much shorter than the sequence (90): alone vs
// chunked, decoded token by token, and co-batched with other prefill chunks and decodes, at
// every thread count and ISA path, with f32 and bf16 KV; Mistral and Mixtral.
TEST(SlidingWindowTest, ATokensBitsNeverDependOnChunkingBatchThreadsOrIsa) {
  for (const Arch arch : {Arch::kLlama, Arch::kMixtral}) {
    for (const DType kv : {DType::kF32, DType::kBF16}) {
      SCOPED_TRACE(std::string(ArchName(arch)) + " kv " + std::string(DTypeName(kv)));
      const ModelConfig c = WindowedConfig(arch, 7);
      auto w = InitRandomModel(c, 51, DType::kF32);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      auto m = Transformer::Create(std::move(*w));
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      const int64_t V = c.vocab_size;
      const std::vector<int32_t> target = WindowTokens(90, 1, V);
      auto ref = testing::MakeContext(Isa::kScalar, 1);
      const std::vector<float> alone = WindowRun(*m, ref.ctx, target, target.size(), kv);
      for (const size_t chunk : {size_t{1}, size_t{5}, size_t{64}}) {
        EXPECT_TRUE(testing::BitsEqual(WindowRun(*m, ref.ctx, target, chunk, kv), alone)) << chunk;
      }
      const std::vector<int32_t> other = WindowTokens(120, 2, V);
      for (const Isa isa : testing::TestableIsas()) {
        for (const int threads : {1, 2, 3}) {
          SCOPED_TRACE(testing::IsaString(isa) + " x" + std::to_string(threads));
          auto h = testing::MakeContext(isa, threads);
          auto cache = m->NewCache(400, kv);
          ASSERT_TRUE(cache.ok());
          for (SeqId s : {0, 1, 2}) ASSERT_TRUE(cache->AddSequence(s).ok());
          std::vector<float> out;
          // The target's first 37 tokens between two other prompts.
          const Segment step1[3] = {{1, 0, std::span(other).first(50), false},
                                    {0, 0, std::span(target).first(37), true},
                                    {2, 0, std::span(target).first(11), false}};
          ASSERT_TRUE(m->Forward(h.ctx, *cache, step1, &out).ok());
          ASSERT_TRUE(testing::BitsEqual(out.data() + V, alone.data(), size_t(37 * V)));
          // Then one token at a time beside a prefill chunk and a decode.
          for (int64_t p = 37; p < 90; ++p) {
            const int64_t r = 50 + (p - 37);
            const Segment step[3] = {
                {2, 11 + (p - 37), std::span(target).subspan(size_t(11 + (p - 37)), 1), false},
                {0, p, std::span(target).subspan(size_t(p), 1), false},
                {1, r, std::span(other).subspan(size_t(r), 1), false}};
            ASSERT_TRUE(m->Forward(h.ctx, *cache, step, &out).ok());
            ASSERT_TRUE(testing::BitsEqual(out.data() + V, alone.data() + p * V, size_t(V))) << p;
          }
        }
      }
    }
  }
}

TEST(SlidingWindowTest, BadWindowsAreErrorsNamingTheField) {
  for (const char* arch : {"MistralForCausalLM", "Phi3ForCausalLM", "MixtralForCausalLM"}) {
    for (const int window : {0, -3}) {
      SCOPED_TRACE(std::string(arch) + " " + std::to_string(window));
      const json config = {{"architectures", {arch}}, {"hidden_size", 32},
                           {"num_hidden_layers", 1}, {"num_attention_heads", 4},
                           {"num_key_value_heads", 2}, {"intermediate_size", 48},
                           {"vocab_size", 37}, {"max_position_embeddings", 256},
                           {"sliding_window", window}};
      auto r = ParseHfConfig(config.dump(), "config.json");
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("sliding_window"), std::string::npos)
          << r.status().message();
    }
  }
  ModelConfig c = WindowedConfig(Arch::kLlama, -2);
  const Status v = c.Validate("test");
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.message().find("sliding_window"), std::string::npos) << v.message();
  // Qwen2 has no class that applies a window: the writer refuses it by name.
  auto q = InitRandomModel(WindowedConfig(Arch::kQwen2, 4), 1, DType::kF32);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  testing::TempDir dir;
  const Status written = WriteHuggingFace(*q, dir.path());
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.message().find("sliding_window"), std::string::npos) << written.message();
}

}  // namespace
}  // namespace detinfer
