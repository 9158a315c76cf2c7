// `verify` on quantised random models of every family and block format, and on
// mixture-of-experts models (Qwen3-MoE, Mixtral; f32 and a block format): every invariance axis
// (cache, batching — where the prompts of one batch load the experts unevenly —, chunking, prefix
// reuse, threads, ISA paths, re-scoring, slot identity, resume) holds bit for bit; and on models
// with a sliding window shorter than the long prompt (Mistral-style llama, Mixtral, Gemma 2's
// local layers). dim and
// ffn are 256 so that the K-quants keep their own format.
#include <gtest/gtest.h>

#include <string>

#include "model/random_init.h"
#include "model/weight_recipe.h"
#include "verify/verify.h"

namespace detinfer::verify {
namespace {

ModelConfig QuantConfig(Arch arch, int64_t window) {
  ModelConfig c;
  c.arch = arch;
  c.dim = 256;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.ffn_dim = 256;
  c.vocab_size = 96;
  c.max_seq_len = 128;
  c.rope_style = RopeStyle::kRotateHalf;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3 || arch == Arch::kQwen3Moe;
  c.sliding_window = window;
  if (arch == Arch::kGemma3) {  // q/k norms, local RoPE base; layer 5 of 7 global
    c.qk_norm = true;
    c.rope_local_theta = 10000.0;
    c.n_layers = 7;
  }
  if (arch == Arch::kGemma2 || arch == Arch::kGemma3) {  // caps, scale, tied head
    c.tied_embeddings = true;
    c.attn_logit_softcap = 50.0f;
    c.final_logit_softcap = 30.0f;
    c.query_pre_attn_scalar = 64.0;
  }
  if (arch == Arch::kQwen3Moe || arch == Arch::kMixtral) {
    c.n_experts = 8;
    c.n_experts_used = arch == Arch::kQwen3Moe ? 3 : 2;
    c.expert_ffn_dim = 256;
    c.moe_renormalize = true;
  }
  return c;
}

struct QuantCase {
  Arch arch;
  const char* recipe;
  // A sliding window shorter than the long prompt (Mistral, Mixtral); 0 = none.
  int64_t window = 0;
};

class QuantisedVerifyTest : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantisedVerifyTest, EveryAxisPasses) {
  const auto [arch, name, window] = GetParam();
  const ModelConfig config = QuantConfig(arch, window);
  auto w = InitRandomModel(config, 9, ParseWeightRecipe(name).value());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto model = Transformer::Create(std::move(w).value());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  VerifyOptions o;
  o.prompts = config.IsMoe() ? 3 : 2;  // three prompts load the experts more unevenly
  o.max_tokens = 5;
  o.long_prompts = 1;
  o.long_tokens = 24;
  o.threads = 2;
  // bf16 KV also checks the rounding-once rule; the MoE models keep f32 KV.
  if (!config.IsMoe()) o.kv_dtype = DType::kBF16;
  auto report = RunVerify(*model, nullptr, o);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_GT(report->results.size(), 0u);
  for (const CaseResult& r : report->results) {
    EXPECT_TRUE(r.pass) << name << " case " << r.case_index << " " << r.axis << " step "
                        << r.first_divergence_step << " " << r.error;
  }
  EXPECT_EQ(report->failed(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    FamiliesAndFormats, QuantisedVerifyTest,
    ::testing::Values(QuantCase{Arch::kLlama, "q8_0"}, QuantCase{Arch::kLlama, "q4_0"},
                      QuantCase{Arch::kLlama, "q4_1"}, QuantCase{Arch::kLlama, "q5_0"},
                      QuantCase{Arch::kLlama, "q5_1"}, QuantCase{Arch::kLlama, "q4_k_m"},
                      QuantCase{Arch::kLlama, "q5_k_m"}, QuantCase{Arch::kLlama, "q6_k"},
                      QuantCase{Arch::kQwen2, "q4_k_m"}, QuantCase{Arch::kQwen2, "q8_0"},
                      QuantCase{Arch::kQwen3, "q5_k_m"}, QuantCase{Arch::kQwen3, "q4_0"},
                      QuantCase{Arch::kQwen3Moe, "f32"}, QuantCase{Arch::kMixtral, "f32"},
                      QuantCase{Arch::kQwen3Moe, "q4_k_m"}, QuantCase{Arch::kMixtral, "q8_0"},
                      QuantCase{Arch::kLlama, "f32", 7}, QuantCase{Arch::kMixtral, "q8_0", 5},
                      QuantCase{Arch::kGemma2, "f32", 6}, QuantCase{Arch::kGemma2, "q4_k_m", 9},
                      QuantCase{Arch::kGemma3, "f32", 6}),
    [](const auto& p) {
      return std::string(ArchName(p.param.arch)) + "_" + p.param.recipe +
             (p.param.window > 0 ? "_window" + std::to_string(p.param.window) : "");
    });

}  // namespace
}  // namespace detinfer::verify
