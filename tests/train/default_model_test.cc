// The committed default model (models/verbs): it loads like any model, its training-forward
// logits are the inference logits, and its greedy continuations through the engine agree in
// tense with the adverbial on the fixed prompt set (issue #7's bar: >= 95%).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "corpus/tense_eval.h"
#include "corpus/verb_corpus.h"
#include "engine/engine.h"
#include "model/model_bundle.h"
#include "test_util.h"

namespace detinfer {
namespace {

const std::string kModelDir = std::string(DETINFER_SOURCE_DIR) + "/models/verbs";

TEST(DefaultModel, GreedyContinuationsAgreeInTenseOnTheFixedPromptSet) {
  auto bundle = LoadModelBundle(kModelDir);
  ASSERT_TRUE(bundle.ok()) << bundle.status().message();
  // The vocabulary is fixed by the grammar (not the seed): the corpus gives the eval its ids.
  VerbCorpusOptions co;
  co.train_sentences = 1;
  co.heldout_sentences = 1;
  auto corpus = GenerateVerbCorpus(co);
  ASSERT_TRUE(corpus.ok()) << corpus.status().message();
  ASSERT_EQ(static_cast<int64_t>(corpus->vocab.size()), bundle->model->config().vocab_size);
  auto h = testing::MakeContext(BestIsa(DetectCpuFeatures()), 2);
  EngineOptions eo;
  auto engine = Engine::Create(*bundle->model, h.ctx, eo, bundle->tokenizer.get());
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  auto result = EvaluateTenseAgreement(
      *corpus, [&](const std::vector<int32_t>& prompt) -> Result<std::vector<int32_t>> {
        Request r;
        r.prompt = prompt;
        r.max_new_tokens = 16;
        r.stop_ids = {corpus->eos_id};
        auto out = (*engine)->Generate({r});
        if (!out[0].status.ok()) return out[0].status;
        return out[0].tokens;
      });
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(result->prompts, 266);
  EXPECT_GE(result->accuracy, 0.95) << (result->failures.empty() ? "" : result->failures[0]);
}

}  // namespace
}  // namespace detinfer
