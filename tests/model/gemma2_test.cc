// Gemma 2 (Gemma2ForCausalLM, GGUF gemma2) and Gemma 3 text (Gemma3ForCausalLM, GGUF gemma3):
// both file formats give the same bits (llama.cpp's
// GGUF holds each norm as 1 + w and its own names for the post norms); a token's bits with
// local layers whose window is shorter than the sequence never depend on chunking, decode vs
// prefill, the batch, threads or the ISA path; what is not supported is refused by name.
// Accuracy against the float64 transformers reference (modeling_gemma2.py) is in
// hf_oracle_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/forward_test_util.h"
#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "model/hf_loader.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model/model_test_util.h"
#include "model/random_init.h"
#include "model/rope_scaling.h"
#include "model/transformer.h"
#include "model/writer_test_util.h"
#include "test_util.h"
#include "train/param_layout.h"

namespace detinfer {
namespace {

using nlohmann::json;

ModelConfig Gemma2Config(int64_t window, Arch arch = Arch::kGemma2) {
  ModelConfig c = testing::SmallConfig(arch, /*tied=*/true);
  c.n_layers = arch == Arch::kGemma3 ? 7 : 3;  // Gemma 3: layer 5 is its only global one
  if (arch == Arch::kGemma3) {
    c.qk_norm = true;
    c.rope_local_theta = 10000.0;
  }
  c.head_dim = 16;
  c.max_seq_len = 256;
  c.norm_eps = 1e-6f;
  c.sliding_window = window;
  c.attn_logit_softcap = 5.0f;
  c.final_logit_softcap = 8.0f;
  c.query_pre_attn_scalar = 24.0;
  return c;
}

std::vector<float> GemmaFileLogits(const std::string& path, const std::vector<int32_t>& tokens,
                                   const ModelConfig& want) {
  auto w = LoadModel(path);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return {};
  EXPECT_EQ(w->config.arch, want.arch);
  EXPECT_EQ(w->config.rope_local_theta, want.rope_local_theta) << path;
  EXPECT_EQ(w->config.sliding_window, want.sliding_window) << path;
  EXPECT_EQ(w->config.attn_logit_softcap, want.attn_logit_softcap) << path;
  EXPECT_EQ(w->config.final_logit_softcap, want.final_logit_softcap) << path;
  EXPECT_EQ(w->config.query_pre_attn_scalar, want.query_pre_attn_scalar) << path;
  EXPECT_TRUE(w->config.tied_embeddings);
  auto t = Transformer::Create(std::move(*w));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return {};
  return testing::LogitsInChunks(*t, KernelContext{}, tokens, tokens.size());
}

TEST(Gemma2Test, HuggingFaceAndGgufFilesGiveTheSameBits) {
  for (const Arch arch : {Arch::kGemma2, Arch::kGemma3})
  for (const DType dt : {DType::kF32, DType::kBF16}) {
    SCOPED_TRACE(std::string(ArchName(arch)) + " " + std::string(DTypeName(dt)));
    const ModelConfig c = Gemma2Config(6, arch);
    auto w = InitRandomModel(c, 17, dt);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    testing::TempDir dir;
    ASSERT_TRUE(WriteHuggingFace(*w, dir.path()).ok());
    const std::string gguf = dir.file("m.gguf");
    ASSERT_TRUE(WriteGguf(*w, gguf).ok());
    // llama.cpp's layout: post norms under its names, each norm stored as 1 + w.
    auto g = ::detinfer::GgufFile::Open(gguf);
    ASSERT_TRUE(g.ok());
    EXPECT_EQ(g->tensors().count("blk.1.post_attention_norm.weight"), 1u);
    EXPECT_EQ(g->tensors().count("blk.1.post_ffw_norm.weight"), 1u);
    EXPECT_EQ(g->tensors().count("output.weight"), 0u);  // tied
    std::vector<float> w_norm(static_cast<size_t>(c.dim));
    ConvertToF32(w->layers[1].attn_norm.dtype, w->layers[1].attn_norm.data, w_norm.data(),
                 w_norm.size());
    auto from_gguf = LoadModel(gguf);
    ASSERT_TRUE(from_gguf.ok()) << from_gguf.status().ToString();
    const float* back = static_cast<const float*>(from_gguf->layers[1].attn_norm.data);
    // w itself is not kept (1 + w rounds away its low bits), but the multiplier the pass uses
    // is: 1 + (stored - 1) == fl(1 + w), bit for bit.
    for (int64_t i = 0; i < c.dim; ++i) {
      EXPECT_EQ(1.0f + back[i], 1.0f + w_norm[size_t(i)]) << i;
    }
    std::ifstream in(dir.file("config.json"));
    const json config = json::parse(in);
    EXPECT_EQ(config["architectures"][0],
              arch == Arch::kGemma2 ? "Gemma2ForCausalLM" : "Gemma3ForCausalLM");
    EXPECT_EQ(config["hidden_activation"], "gelu_pytorch_tanh");

    const std::vector<int32_t> tokens = testing::MixedTokens(30, 3, c.vocab_size);
    auto mem = Transformer::Create(std::move(*w));
    ASSERT_TRUE(mem.ok()) << mem.status().ToString();
    const std::vector<float> want = testing::LogitsInChunks(*mem, KernelContext{}, tokens, tokens.size());
    for (const float v : want) {
      ASSERT_TRUE(std::isfinite(v));
      ASSERT_LE(std::fabs(v), 8.0f);  // the final soft cap
    }
    EXPECT_TRUE(testing::BitsEqual(GemmaFileLogits(dir.path(), tokens, c), want));
    EXPECT_TRUE(testing::BitsEqual(GemmaFileLogits(gguf, tokens, c), want));
  }
}

// Gemma 3 4B/12B/27B declare linear RoPE scaling (factor 8) for the global layers only;
// llama.cpp's converter writes it as gemma3.rope.scaling.type / .factor, and llama.cpp's gemma3
// keeps the sliding layers at base 10000, scale 1 (transformers' rotary_emb_local). One such
// model written as HF (rope_scaling) and as GGUF (the keys) gives the same bits, and the
// scaling changes them (layer 5, the global one, sees it).
TEST(Gemma2Test, Gemma3LinearRopeScalingGivesTheSameBitsFromHuggingFaceAndGguf) {
  for (const DType dt : {DType::kF32, DType::kBF16}) {
    SCOPED_TRACE(std::string(DTypeName(dt)));
    const ModelConfig plain = Gemma2Config(6, Arch::kGemma3);
    ModelConfig c = plain;
    auto scaling = ParseHfRopeScaling(json{{"rope_type", "linear"}, {"factor", 8.0}},
                                      c.RotaryDim(), c.rope_theta, "test");
    ASSERT_TRUE(scaling.ok()) << scaling.status().ToString();
    c.rope_scaling = *scaling;
    auto w = InitRandomModel(c, 29, dt);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    testing::TempDir dir;
    ASSERT_TRUE(WriteHuggingFace(*w, dir.path()).ok());
    const std::string gguf = dir.file("m.gguf");
    const Status written = WriteGguf(*w, gguf);
    ASSERT_TRUE(written.ok()) << written.ToString();
    {
      std::ifstream in(dir.file("config.json"));
      const json config = json::parse(in);
      EXPECT_EQ(config["rope_scaling"], (json{{"rope_type", "linear"}, {"factor", 8.0}}));
    }
    // llama.cpp's form: the two keys, no rope_freqs.weight (llama.cpp's gemma3 has no such
    // tensor and would refuse the file).
    auto g = ::detinfer::GgufFile::Open(gguf);
    ASSERT_TRUE(g.ok());
    auto type = g->GetString("gemma3.rope.scaling.type");
    ASSERT_TRUE(type.ok()) << type.status().ToString();
    EXPECT_EQ(*type, "linear");
    auto factor = g->GetFloat("gemma3.rope.scaling.factor");
    ASSERT_TRUE(factor.ok()) << factor.status().ToString();
    EXPECT_EQ(*factor, 8.0);
    EXPECT_EQ(g->tensors().count("rope_freqs.weight"), 0u);
    for (const std::string& path : {dir.path(), gguf}) {
      auto back = LoadModel(path);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(back->config.rope_scaling.kind, RopeScaling::Kind::kLinear) << path;
      EXPECT_EQ(back->config.rope_scaling.factor, 8.0) << path;
      EXPECT_EQ(back->config.rope_scaling.divisors, c.rope_scaling.divisors) << path;
    }
    // The GGUF form has a config.json form again (as rope_freqs.weight has not).
    testing::TempDir again;
    ASSERT_TRUE(WriteHuggingFace(*LoadModel(gguf), again.path()).ok());
    {
      std::ifstream in(again.file("config.json"));
      const json config = json::parse(in);
      EXPECT_EQ(config["rope_scaling"], (json{{"rope_type", "linear"}, {"factor", 8.0}}));
    }

    const std::vector<int32_t> tokens = testing::MixedTokens(40, 3, c.vocab_size);
    auto mem = Transformer::Create(std::move(*w));
    ASSERT_TRUE(mem.ok()) << mem.status().ToString();
    const std::vector<float> want =
        testing::LogitsInChunks(*mem, KernelContext{}, tokens, tokens.size());
    EXPECT_TRUE(testing::BitsEqual(GemmaFileLogits(dir.path(), tokens, c), want));
    EXPECT_TRUE(testing::BitsEqual(GemmaFileLogits(gguf, tokens, c), want));
    EXPECT_TRUE(testing::BitsEqual(GemmaFileLogits(again.path(), tokens, c), want));
    auto unscaled = InitRandomModel(plain, 29, dt);
    ASSERT_TRUE(unscaled.ok());
    auto u = Transformer::Create(std::move(*unscaled));
    ASSERT_TRUE(u.ok());
    EXPECT_FALSE(testing::BitsEqual(
        testing::LogitsInChunks(*u, KernelContext{}, tokens, tokens.size()), want))
        << "the scaling changed nothing";
  }
}

// SPEC §A1/§A2/§A3/§A6/§A7: local layers with a window (7) much shorter than the sequence
// (90), soft caps that bind: alone vs chunked, decoded token by token, co-batched with other
// prefill chunks and decodes, at every thread count and ISA path, f32 and bf16 KV.
TEST(Gemma2Test, ATokensBitsNeverDependOnChunkingBatchThreadsOrIsa) {
  for (const Arch arch : {Arch::kGemma2, Arch::kGemma3})
  for (const DType kv : {DType::kF32, DType::kBF16}) {
    SCOPED_TRACE(std::string(ArchName(arch)) + " " + std::string(DTypeName(kv)));
    const ModelConfig c = Gemma2Config(7, arch);
    auto w = InitRandomModel(c, 19, DType::kF32);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    auto m = Transformer::Create(std::move(*w));
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    testing::ExpectTokenBitsInvariant(*m, c.vocab_size, kv);
  }
}

TEST(Gemma2Test, WhatIsNotSupportedIsRefusedByName) {
  const json base = {{"architectures", {"Gemma2ForCausalLM"}}, {"hidden_size", 32},
                     {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                     {"num_key_value_heads", 2}, {"head_dim", 8}, {"intermediate_size", 48},
                     {"vocab_size", 37}, {"max_position_embeddings", 256}};
  auto ok = ParseHfConfig(base.dump(), "config.json");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  // Gemma2Config's defaults.
  EXPECT_EQ(ok->sliding_window, 4096);
  EXPECT_EQ(ok->attn_logit_softcap, 50.0f);
  EXPECT_EQ(ok->final_logit_softcap, 30.0f);
  EXPECT_EQ(ok->query_pre_attn_scalar, 256.0);
  EXPECT_TRUE(ok->tied_embeddings);
  const auto refused = [&](const char* key, const json& value, const std::string& needle) {
    json c = base;
    c[key] = value;
    auto r = ParseHfConfig(c.dump(), "config.json");
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  refused("tie_word_embeddings", false, "tie_word_embeddings");
  refused("hidden_activation", "gelu", "hidden_activation");
  refused("hidden_act", "silu", "hidden_act");
  refused("attn_logit_softcapping", -1.0, "attn_logit_softcapping");
  refused("query_pre_attn_scalar", 0.0, "query_pre_attn_scalar");
  refused("layer_types", json{"full_attention", "sliding_attention"}, "layer_types[0]");
  refused("sliding_window", 0, "sliding_window");
  // Null caps are none.
  json none = base;
  none["attn_logit_softcapping"] = nullptr;
  none["final_logit_softcapping"] = nullptr;
  auto n = ParseHfConfig(none.dump(), "config.json");
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(n->attn_logit_softcap, 0.0f);
  EXPECT_EQ(n->final_logit_softcap, 0.0f);
  // Gemma 3: Gemma3TextConfig's defaults (no caps, local RoPE base 10000, theta 1e6); five
  // local layers to one global only.
  json g3 = base;
  g3["architectures"] = {"Gemma3ForCausalLM"};
  auto ok3 = ParseHfConfig(g3.dump(), "config.json");
  ASSERT_TRUE(ok3.ok()) << ok3.status().ToString();
  EXPECT_EQ(ok3->arch, Arch::kGemma3);
  EXPECT_EQ(ok3->attn_logit_softcap, 0.0f);
  EXPECT_EQ(ok3->final_logit_softcap, 0.0f);
  EXPECT_EQ(ok3->rope_local_theta, 10000.0);
  EXPECT_EQ(ok3->rope_theta, 1e6);
  EXPECT_TRUE(ok3->qk_norm);
  g3["sliding_window_pattern"] = 4;
  auto bad3 = ParseHfConfig(g3.dump(), "config.json");
  ASSERT_FALSE(bad3.ok());
  EXPECT_NE(bad3.status().message().find("sliding_window_pattern"), std::string::npos)
      << bad3.status().message();
}

}  // namespace
}  // namespace detinfer
