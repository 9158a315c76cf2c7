// Accuracy of the block formats on a real trained model: the shipped verbs model (models/verbs,
// dims 128 and 384, multiples of 32) in f32, Q8_0 and Q4_0 — held-out next-token loss (double
// log-softmax over the logits) and the tense-agreement eval of greedy continuations, with how
// often the quantised model's greedy continuation equals the f32 one. The figures are printed
// (docs/formats.md records them); the bounds are what a usable quantisation must meet.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "corpus/tense_eval.h"
#include "corpus/verb_corpus.h"
#include "model/loader.h"
#include "model/transformer.h"
#include "model/weight_recipe.h"
#include "test_util.h"

namespace detinfer {
namespace {

struct Accuracy {
  double loss = 0;
  double tense = 0;
  std::vector<std::vector<int32_t>> continuations;
};

std::vector<float> Logits(const Transformer& t, const KernelContext& ctx,
                          const std::vector<int32_t>& ids, bool all) {
  auto cache = t.NewCache(static_cast<int64_t>(ids.size()));
  EXPECT_TRUE(cache->AddSequence(0).ok());
  const Segment seg{0, 0, ids, all};
  std::vector<float> logits;
  const Status s = t.Forward(ctx, *cache, std::span<const Segment>(&seg, 1), &logits);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return logits;
}

Accuracy Measure(const Transformer& t, const VerbCorpus& corpus) {
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  const int64_t vocab = t.config().vocab_size;
  Accuracy a;
  double nll = 0;
  int64_t count = 0;
  for (size_t s = 0; s < corpus.heldout.size() && s < 300; ++s) {
    const auto& ids = corpus.heldout[s];
    const auto logits = Logits(t, h.ctx, ids, true);
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const float* row = logits.data() + i * vocab;
      double mx = row[0], sum = 0;
      for (int64_t v = 1; v < vocab; ++v) mx = std::max(mx, double(row[v]));
      for (int64_t v = 0; v < vocab; ++v) sum += std::exp(double(row[v]) - mx);
      nll += mx + std::log(sum) - double(row[ids[i + 1]]);
      ++count;
    }
  }
  a.loss = nll / double(count);
  auto greedy = [&](const std::vector<int32_t>& prompt) -> Result<std::vector<int32_t>> {
    std::vector<int32_t> seq = prompt, out;
    while (seq.size() < 24) {
      const auto logits = Logits(t, h.ctx, seq, false);
      int32_t best = 0;
      for (int64_t v = 1; v < vocab; ++v) best = logits[v] > logits[best] ? int32_t(v) : best;
      out.push_back(best);
      seq.push_back(best);
      if (best == corpus.eos_id) break;
    }
    a.continuations.push_back(out);
    return out;
  };
  auto r = EvaluateTenseAgreement(corpus, greedy);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  a.tense = r.ok() ? r->accuracy : 0;
  return a;
}

TEST(QuantisedAccuracyTest, VerbsModelInQ8_0AndQ4_0) {
  auto corpus = GenerateVerbCorpus({1, 10, 2000});
  ASSERT_TRUE(corpus.ok()) << corpus.status().ToString();
  std::vector<Accuracy> results;
  const char* names[] = {"f32", "q8_0", "q4_0"};
  for (const char* name : names) {
    auto w = LoadModel(std::string(DETINFER_SOURCE_DIR) + "/models/verbs");
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    auto q = ApplyRecipe(std::move(w).value(), ParseWeightRecipe(name).value());
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    auto t = Transformer::Create(std::move(q).value());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    results.push_back(Measure(*t, *corpus));
  }
  std::printf("\n%-6s %14s %14s %16s\n", "format", "held-out loss", "tense agree", "same greedy as f32");
  for (size_t i = 0; i < results.size(); ++i) {
    int64_t same = 0;
    for (size_t p = 0; p < results[i].continuations.size(); ++p) {
      same += results[i].continuations[p] == results[0].continuations[p];
    }
    const double agree = double(same) / double(results[0].continuations.size());
    std::printf("%-6s %14.4f %13.1f%% %15.1f%%\n", names[i], results[i].loss,
                100 * results[i].tense, 100 * agree);
    if (i == 1) {  // Q8_0: near-lossless
      EXPECT_LT(results[i].loss, results[0].loss * 1.01 + 0.005);
      EXPECT_GE(results[i].tense, results[0].tense - 0.02);
      EXPECT_GE(agree, 0.9);
    }
    if (i == 2) {  // Q4_0: usable
      EXPECT_LT(results[i].loss, results[0].loss * 1.10 + 0.02);
      EXPECT_GE(results[i].tense, results[0].tense - 0.10);
    }
  }
}

}  // namespace
}  // namespace detinfer
