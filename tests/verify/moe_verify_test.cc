// `verify` on mixture-of-experts random models (Qwen3-MoE, Mixtral; f32 and a block format):
// every invariance axis (cache, batching — where the prompts of one batch load the experts
// unevenly —, chunking, prefix reuse, threads, ISA paths, re-scoring, slot identity, resume)
// holds bit for bit.
#include <gtest/gtest.h>

#include <string>

#include "model/random_init.h"
#include "model/weight_recipe.h"
#include "verify/verify.h"

namespace detinfer::verify {
namespace {

ModelConfig MoeVerifyConfig(Arch arch) {
  ModelConfig c;
  c.arch = arch;
  c.dim = 256;  // K-quant rows
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.ffn_dim = 256;
  c.vocab_size = 96;
  c.max_seq_len = 128;
  c.rope_style = RopeStyle::kRotateHalf;
  c.qk_norm = arch == Arch::kQwen3Moe;
  c.n_experts = 8;
  c.n_experts_used = arch == Arch::kQwen3Moe ? 3 : 2;
  c.expert_ffn_dim = 256;
  c.moe_renormalize = true;
  return c;
}

struct MoeVerifyCase {
  Arch arch;
  const char* recipe;
};

class MoeVerifyTest : public ::testing::TestWithParam<MoeVerifyCase> {};

TEST_P(MoeVerifyTest, EveryAxisPasses) {
  const auto [arch, name] = GetParam();
  auto w = InitRandomModel(MoeVerifyConfig(arch), 9, ParseWeightRecipe(name).value());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto model = Transformer::Create(std::move(w).value());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  VerifyOptions o;
  o.prompts = 3;
  o.max_tokens = 5;
  o.long_prompts = 1;
  o.long_tokens = 24;
  o.threads = 2;
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
    Archs, MoeVerifyTest,
    ::testing::Values(MoeVerifyCase{Arch::kQwen3Moe, "f32"}, MoeVerifyCase{Arch::kMixtral, "f32"},
                      MoeVerifyCase{Arch::kQwen3Moe, "q4_k_m"},
                      MoeVerifyCase{Arch::kMixtral, "q8_0"}),
    [](const auto& p) {
      return std::string(ArchName(p.param.arch)) + "_" + p.param.recipe;
    });

}  // namespace
}  // namespace detinfer::verify
