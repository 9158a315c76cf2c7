// Phi-3 (Phi3ForCausalLM, GGUF phi3): fused tensors in both file formats, partial rotary and
// longrope with detinfer's fixed choice of factors, and the configs that are refused. Its
// accuracy against the float64 transformers reference is in hf_oracle_test.cc.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/gguf.h"
#include "model/gguf_writer.h"
#include "model/hf_loader.h"
#include "model/hf_writer.h"
#include "model/loader.h"
#include "model/model_test_util.h"
#include "model/random_init.h"
#include "model/rope_scaling.h"
#include "model/safetensors.h"
#include "model/transformer.h"
#include "model/writer_test_util.h"

namespace detinfer {
namespace {

using nlohmann::json;

json LongRope(int n) {
  std::vector<double> short_factor, long_factor;
  for (int i = 0; i < n; ++i) {
    short_factor.push_back(1.0 + 0.25 * i);
    long_factor.push_back(2.0 + i);
  }
  return {{"rope_type", "longrope"}, {"short_factor", short_factor}, {"long_factor", long_factor}};
}

ModelConfig Phi3(int64_t rotary_dim, int64_t original_max) {
  ModelConfig c = testing::SmallConfig(Arch::kPhi3);
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.head_dim = 16;
  c.rotary_dim = rotary_dim;
  if (original_max > 0) {
    auto s = ParseHfRopeScaling(LongRope(static_cast<int>(c.RotaryDim() / 2)), c.RotaryDim(),
                                c.rope_theta, "test", c.max_seq_len, original_max);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    c.rope_scaling = *s;
  }
  return c;
}

std::vector<float> Logits(const std::string& path) {
  auto w = LoadModel(path);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  if (!w.ok()) return {};
  auto t = Transformer::Create(std::move(*w));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  auto cache = t->NewCache(32);
  EXPECT_TRUE(cache->AddSequence(0).ok());
  const std::vector<int32_t> tokens = {1, 5, 36, 22, 22, 7, 0, 13, 12, 30, 3};
  const Segment seg{0, 0, tokens, true};
  std::vector<float> logits;
  EXPECT_TRUE(t->Forward(KernelContext{}, *cache, std::span<const Segment>(&seg, 1), &logits).ok());
  return logits;
}

TEST(Phi3Test, HuggingFaceAndGgufFilesHoldFusedTensorsAndGiveTheSameBits) {
  for (const ModelConfig& c : {Phi3(0, 0), Phi3(0, 8), Phi3(12, 128)}) {
    auto w = InitRandomModel(c, 5, DType::kF32);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    testing::TempDir dir;
    ASSERT_TRUE(WriteHuggingFace(*w, dir.path()).ok());
    const std::string gguf = dir.file("model.gguf");
    ASSERT_TRUE(WriteGguf(*w, gguf).ok());

    auto st = SafetensorsFile::Open(dir.file("model.safetensors"));
    ASSERT_TRUE(st.ok());
    EXPECT_NE(st->Find("model.layers.1.self_attn.qkv_proj.weight"), nullptr);
    EXPECT_NE(st->Find("model.layers.1.mlp.gate_up_proj.weight"), nullptr);
    EXPECT_EQ(st->Find("model.layers.1.self_attn.q_proj.weight"), nullptr);
    EXPECT_EQ(st->Find("model.layers.1.mlp.gate_proj.weight"), nullptr);
    auto g = ::detinfer::GgufFile::Open(gguf);
    ASSERT_TRUE(g.ok());
    ASSERT_EQ(g->tensors().count("blk.1.attn_qkv.weight"), 1u);
    EXPECT_EQ(g->tensors().count("blk.1.attn_q.weight"), 0u);
    EXPECT_EQ(g->tensors().count("blk.1.ffn_gate.weight"), 0u);
    // llama.cpp's layout: ffn_up holds [gate | up], 2 * ffn rows (ne[1]).
    EXPECT_EQ(g->tensors().at("blk.1.ffn_up.weight").ne[1], 2 * c.ffn_dim);

    // The fused rows are the separate tensors' rows, in order: q, k, v and gate, up.
    auto hf = LoadModel(dir.path());
    ASSERT_TRUE(hf.ok()) << hf.status().ToString();
    const LayerWeights& a = w->layers[1];
    const LayerWeights& b = hf->layers[1];
    for (const auto& [x, y] : {std::pair{&a.wq, &b.wq}, {&a.wk, &b.wk}, {&a.wv, &b.wv},
                               {&a.w_gate, &b.w_gate}, {&a.w_up, &b.w_up}}) {
      ASSERT_EQ(x->numel(), y->numel());
      EXPECT_EQ(std::memcmp(x->data, y->data, x->numel() * sizeof(float)), 0);
    }
    EXPECT_EQ(hf->config.RotaryDim(), c.RotaryDim());
    EXPECT_EQ(hf->config.rope_scaling.divisors, c.rope_scaling.divisors);

    const std::vector<float> from_hf = Logits(dir.path()), from_gguf = Logits(gguf);
    ASSERT_FALSE(from_hf.empty());
    ASSERT_EQ(from_hf.size(), from_gguf.size());
    EXPECT_EQ(std::memcmp(from_hf.data(), from_gguf.data(), from_hf.size() * sizeof(float)), 0);
  }
}

TEST(Phi3Test, AFusedTensorOfTheWrongShapeIsAnErrorNamingIt) {
  auto w = InitRandomModel(Phi3(0, 0), 5, DType::kF32);
  ASSERT_TRUE(w.ok());
  testing::TempDir dir;
  ASSERT_TRUE(WriteHuggingFace(*w, dir.path()).ok());
  // The config now implies 40-row gate and up halves; the file's gate_up_proj has 2 * 48.
  std::ifstream in(dir.file("config.json"));
  json config = json::parse(in);
  in.close();
  config["intermediate_size"] = 40;
  testing::WriteText(dir.file("config.json"), config.dump());
  auto r = LoadModel(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("model.layers.0.mlp.gate_up_proj.weight"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("[80, 32]"), std::string::npos) << r.status().message();
}

TEST(Phi3Test, LongRopeFactorsAreChosenByTheContextNotTheSequence) {
  const json lr = LongRope(4);
  // Context 128 beyond the original 32: the long factors, for every position.
  auto longer = ParseHfRopeScaling(lr, 8, 10000.0, "t", 128, 32);
  ASSERT_TRUE(longer.ok());
  EXPECT_EQ(longer->divisors, (std::vector<float>{2, 3, 4, 5}));
  // attention_factor = sqrt(1 + ln(4) / ln(32)) = sqrt(1.4), in fp32 (rope_scaling.h).
  EXPECT_EQ(longer->attention_factor, double(float(std::sqrt(1.4))));
  // Context = original: the short factors and no attention factor.
  auto same = ParseHfRopeScaling(lr, 8, 10000.0, "t", 32, 32);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->divisors, (std::vector<float>{1, 1.25f, 1.5f, 1.75f}));
  EXPECT_EQ(same->attention_factor, 1.0);
  // No top-level original: the original is the context itself (transformers), short factors.
  auto none = ParseHfRopeScaling(lr, 8, 10000.0, "t", 128, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->divisors, (std::vector<float>{1, 1.25f, 1.5f, 1.75f}));
  // "su" is the older name.
  json su = lr;
  su["rope_type"] = "su";
  EXPECT_TRUE(ParseHfRopeScaling(su, 8, 10000.0, "t", 128, 32).ok());
}

TEST(Phi3Test, PortableLnMatchesTheLibrary) {
  for (const double x : {1e-300, 0.001, 0.5, 1.0, 2.0, 3.0, 16.0, 4096.0, 131072.0, 1e300}) {
    EXPECT_NEAR(PortableLn(x), std::log(x), 4e-16 * std::max(1.0, std::fabs(std::log(x)))) << x;
  }
}

json BaseConfig() {
  return {{"architectures", {"Phi3ForCausalLM"}}, {"hidden_size", 32},
          {"num_hidden_layers", 1},               {"num_attention_heads", 2},
          {"num_key_value_heads", 1},             {"intermediate_size", 48},
          {"vocab_size", 37},                     {"max_position_embeddings", 4096},
          {"original_max_position_embeddings", 1024}};
}

TEST(Phi3Test, ConfigFieldsAndTheirRefusals) {
  // Phi-3-mini-4k declares a sliding window of 2047: attention slides, the context stays.
  json c = BaseConfig();
  c["sliding_window"] = 2047;
  auto cfg = ParseHfConfig(c.dump(), "config.json");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->max_seq_len, 4096);
  EXPECT_EQ(cfg->sliding_window, 2047);
  EXPECT_EQ(cfg->norm_eps, 1e-5f);  // Phi3Config's default

  c = BaseConfig();
  c["partial_rotary_factor"] = 0.75;
  cfg = ParseHfConfig(c.dump(), "config.json");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->RotaryDim(), 12);

  const auto refused = [](json config, const std::string& needle) {
    auto r = ParseHfConfig(config.dump(), "config.json");
    ASSERT_FALSE(r.ok()) << config.dump();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  // The factor lists must have one entry per rotated frequency.
  c = BaseConfig();
  c["rope_scaling"] = LongRope(3);
  refused(c, "short_factor");
  // longrope's attention factor with partial rotary would scale only part of q and k.
  c = BaseConfig();
  c["partial_rotary_factor"] = 0.75;
  c["rope_scaling"] = LongRope(6);
  refused(c, "attention_factor");
  // Other architectures rotate all of head_dim.
  c = BaseConfig();
  c["architectures"] = {"LlamaForCausalLM"};
  c["partial_rotary_factor"] = 0.5;
  refused(c, "partial_rotary_factor");
  c = BaseConfig();
  c["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 4.0}};
  refused(c, "dynamic");
}

}  // namespace
}  // namespace detinfer
