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

#include "model/forward_test_util.h"
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
  return testing::LogitsInChunks(*t, KernelContext{}, tokens, tokens.size());
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
    const std::vector<int32_t> tokens = testing::MixedTokens(40, 3, c.vocab_size);
    auto mem = Transformer::Create(std::move(*w));
    ASSERT_TRUE(mem.ok()) << mem.status().ToString();
    const std::vector<float> want = testing::LogitsInChunks(*mem, KernelContext{}, tokens, tokens.size());
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
  const std::vector<int32_t> tokens = testing::MixedTokens(30, 5, V);
  const std::vector<float> a = testing::LogitsInChunks(*windowed, KernelContext{}, tokens, 30);
  const std::vector<float> b = testing::LogitsInChunks(*plain, KernelContext{}, tokens, 30);
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
      testing::ExpectTokenBitsInvariant(*m, c.vocab_size, kv);
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
