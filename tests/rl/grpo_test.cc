// The GRPO loop (rl/grpo.h) on a tiny model of the verb vocabulary: the rollout logprobs equal
// the trainer's bit for bit on every token of every step; the engine's weight version counts
// the pushes and its hash is that of a fresh model of the trained parameters; two runs give the
// same parameter bytes and the same JSON log, on any thread count; bf16 rollout KV gives a
// nonzero mismatch; the reward is the checker's verdict; bad options are named.
#include "rl/grpo.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "corpus/grammar.h"
#include "model/transformer.h"
#include "rl/grpo_report.h"
#include "train/param_layout.h"

namespace detinfer {
namespace {

ModelConfig GrpoTinyConfig() {
  ModelConfig c;
  c.arch = Arch::kLlama;
  c.dim = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.ffn_dim = 48;
  c.vocab_size = 739;  // the verb corpus's (docs/corpus.md)
  c.max_seq_len = 32;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5f;
  return c;
}

GrpoOptions GrpoTinyOptions(int threads) {
  GrpoOptions o;
  o.seed = 7;
  o.prompts_per_step = 3;
  o.group_size = 4;
  o.max_new_tokens = 6;
  o.lr = 3e-3;
  o.threads = threads;
  o.isa = BestIsa(DetectCpuFeatures());
  return o;
}

struct GrpoRun {
  std::vector<GrpoStepLog> logs;
  std::vector<float> params;
  std::string json;
};

GrpoRun RunGrpo(const GrpoOptions& o, int steps) {
  GrpoRun run;
  auto layout = ParamLayout::Create(GrpoTinyConfig());
  EXPECT_TRUE(layout.ok());
  auto t = GrpoTrainer::Create(GrpoTinyConfig(), InitParams(*layout, 3), o);
  EXPECT_TRUE(t.ok()) << t.status().message();
  if (!t.ok()) return run;
  GrpoRunSummary summary;
  summary.model = "tiny";
  summary.options = o;
  summary.initial_version = (*t)->weight_version();
  for (int s = 0; s < steps; ++s) {
    auto l = (*t)->Step();
    EXPECT_TRUE(l.ok()) << l.status().message();
    if (!l.ok()) return run;
    run.logs.push_back(*l);
  }
  run.params = (*t)->params();
  summary.final_params_hash = ParamsHash(run.params);
  run.json = GrpoLogJson(summary, run.logs);
  return run;
}

TEST(Grpo, RolloutLogprobsEqualTheTrainersOnEveryStepAndRunsRepeat) {
  const GrpoRun a = RunGrpo(GrpoTinyOptions(1), 4);
  ASSERT_EQ(a.logs.size(), 4u);
  bool learned = false;
  for (const GrpoStepLog& l : a.logs) {
    SCOPED_TRACE("step " + std::to_string(l.step));
    EXPECT_EQ(l.max_abs_mismatch, 0.0);
    EXPECT_EQ(l.mismatched_tokens, 0);
    EXPECT_GT(l.tokens, 0);
    EXPECT_EQ(l.samples, 12);
    EXPECT_EQ(l.weight_version.counter, static_cast<uint64_t>(l.step));
    learned = learned || l.zero_advantage_groups < 3;
  }
  // Some group had unequal rewards, so the weights moved (otherwise the test proves little).
  EXPECT_TRUE(learned);
  EXPECT_NE(a.logs[0].weight_version.hash, a.logs[1].weight_version.hash);

  // Same options, another thread count: the same parameter bytes and the same log.
  const GrpoRun b = RunGrpo(GrpoTinyOptions(2), 4);
  ASSERT_EQ(b.params.size(), a.params.size());
  EXPECT_EQ(std::memcmp(a.params.data(), b.params.data(), a.params.size() * sizeof(float)), 0);
  EXPECT_EQ(a.json, b.json);

  // The engine's hash after the last push is a fresh model's of the trained parameters.
  auto layout = ParamLayout::Create(GrpoTinyConfig());
  ASSERT_TRUE(layout.ok());
  auto w = ParamsToWeights(*layout, a.params);
  ASSERT_TRUE(w.ok());
  auto fresh = Transformer::Create(std::move(*w));
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->weight_hash(), a.logs.back().weight_version.hash);

  // Another seed: other rollouts, other weights.
  GrpoOptions other = GrpoTinyOptions(1);
  other.seed = 8;
  const GrpoRun c = RunGrpo(other, 2);
  ASSERT_EQ(c.logs.size(), 2u);
  EXPECT_NE(c.logs.back().weight_version.hash, a.logs[1].weight_version.hash);
}

TEST(Grpo, KlTermKeepsTheMismatchZero) {
  GrpoOptions o = GrpoTinyOptions(2);
  o.kl_coef = 0.1;
  const GrpoRun r = RunGrpo(o, 3);
  ASSERT_EQ(r.logs.size(), 3u);
  EXPECT_EQ(r.logs[0].kl, 0.0);  // the first step's policy is the reference
  for (const GrpoStepLog& l : r.logs) {
    EXPECT_EQ(l.mismatched_tokens, 0) << "step " << l.step;
    EXPECT_GE(l.kl, 0.0);
  }
  EXPECT_GT(r.logs[2].kl, 0.0);
}

TEST(Grpo, Bf16RolloutKvGivesANonzeroMismatch) {
  GrpoOptions o = GrpoTinyOptions(2);
  o.rollout_kv_dtype = DType::kBF16;
  const GrpoRun r = RunGrpo(o, 2);
  ASSERT_EQ(r.logs.size(), 2u);
  int64_t mismatched = 0;
  for (const GrpoStepLog& l : r.logs) mismatched += l.mismatched_tokens;
  EXPECT_GT(mismatched, 0);
  EXPECT_GT(r.logs[0].max_abs_mismatch, 0.0);
}

TEST(Grpo, RewardIsTheCheckersVerdict) {
  VerbCorpusOptions co;
  co.train_sentences = 1;
  co.heldout_sentences = 1;
  auto corpus = GenerateVerbCorpus(co);
  ASSERT_TRUE(corpus.ok());
  auto ids = [&](std::vector<std::string> words) {
    std::vector<int32_t> out;
    for (const std::string& w : words) {
      for (size_t v = 0; v < corpus->vocab.size(); ++v) {
        if (corpus->vocab[v] == w) out.push_back(static_cast<int32_t>(v));
      }
    }
    EXPECT_EQ(out.size(), words.size());
    return out;
  };
  TensePrompt yesterday_i{verb_grammar::Language::kEnglish, verb_grammar::TimeFrame::kPast,
                          verb_grammar::Person::k1Sg, {"Yesterday", "I"}};
  EXPECT_EQ(RewardOf(CheckContinuation(*corpus, yesterday_i, ids({"worked", ".", "</s>"}))), 1.0);
  // Past tense, but not a whole sentence (no punctuation): tense and person only.
  EXPECT_EQ(RewardOf(CheckContinuation(*corpus, yesterday_i, ids({"worked"}))), 0.75);
  EXPECT_EQ(RewardOf(CheckContinuation(*corpus, yesterday_i, ids({"will", "work", "."}))), 0.0);
  TensePrompt yesterday_he = yesterday_i;
  yesterday_he.person = verb_grammar::Person::k3Sg;
  yesterday_he.words = {"Yesterday", "he"};
  EXPECT_EQ(RewardOf(CheckContinuation(*corpus, yesterday_he, ids({"worked", "."}))), 1.0);
  TensePrompt now_he = yesterday_he;
  now_he.frame = verb_grammar::TimeFrame::kNow;
  now_he.words = {"Now", "he"};
  // Progressive with the wrong person ("am" for he): tense only, not a sentence.
  EXPECT_EQ(RewardOf(CheckContinuation(*corpus, now_he, ids({"am", "working", "."}))), 0.5);
}

TEST(Grpo, BadOptionsAreNamed) {
  auto layout = ParamLayout::Create(GrpoTinyConfig());
  ASSERT_TRUE(layout.ok());
  GrpoOptions o = GrpoTinyOptions(1);
  o.group_size = 1;
  auto t = GrpoTrainer::Create(GrpoTinyConfig(), InitParams(*layout, 3), o);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("--n: must be in [2, 128]"), std::string::npos)
      << t.status().message();
  o = GrpoTinyOptions(1);
  o.lr = 0;
  EXPECT_NE(ValidateGrpoOptions(o).message().find("--lr"), std::string::npos);
  o = GrpoTinyOptions(1);
  o.rollout_kv_dtype = DType::kQ8_0;
  EXPECT_NE(ValidateGrpoOptions(o).message().find("--rollout-kv-dtype"), std::string::npos);
  // A model of another vocabulary is not a verb-grammar model.
  ModelConfig small = GrpoTinyConfig();
  small.vocab_size = 64;
  auto small_layout = ParamLayout::Create(small);
  ASSERT_TRUE(small_layout.ok());
  auto u = GrpoTrainer::Create(small, InitParams(*small_layout, 3), GrpoTinyOptions(1));
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("vocabulary has 64 entries"), std::string::npos)
      << u.status().message();
}

}  // namespace
}  // namespace detinfer
