// `detinfer generate --speculative lookup|draft` on the shipped model: the same ids, logprob
// bits, fingerprint and schedule id as plain decoding, with the guess counts in the JSON; a bad
// source, k or draft model is an error naming the flag.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_run.h"
#include "model/model_test_util.h"

namespace detinfer {
namespace {

using testing::Cli;
using testing::CliRun;

TEST(CliSpeculativeTest, LookupGivesPlainBitsAndTheSameScheduleId) {
  // The shipped model repeats itself ("London . London . ..."): lookup has something to copy.
  const std::string base = "generate " + testing::ShippedModel() +
                           " --prompt 'Yesterday I' --max-tokens 50 --ignore-eos --json";
  for (const char* sampling : {"", " --temperature 0.8 --seed 3 --logprobs 2"}) {
    const CliRun plain = Cli(base + sampling, true);
    ASSERT_EQ(plain.rc, 0) << plain.out;
    const auto p = nlohmann::json::parse(plain.out);
    EXPECT_EQ(p["speculative"]["proposed"], 0);
    const std::vector<std::string> ways = {"lookup --spec-k 1", "lookup --spec-k 4",
                                           "lookup --spec-k 12",
                                           "draft --draft " + testing::ShippedModel()};
    for (const std::string& k : ways) {
      const CliRun spec = Cli(base + sampling + " --speculative " + k, true);
      ASSERT_EQ(spec.rc, 0) << spec.out;
      auto s = nlohmann::json::parse(spec.out);
      EXPECT_GT(s["speculative"]["proposed"], 0) << k;
      EXPECT_LE(s["speculative"]["accepted"], s["speculative"]["proposed"]);
      s["speculative"] = p["speculative"];
      s["timings"] = p["timings"];
      EXPECT_EQ(s, p) << "k " << k << sampling;  // every other field, logprobs to the bit
    }
  }
}

TEST(CliSpeculativeTest, BadSpeculativeFlagsAreUsageErrors) {
  const std::string base = "generate " + testing::ShippedModel() + " --prompt 'Yesterday I'";
  const CliRun source = Cli(base + " --speculative ngram");
  EXPECT_EQ(source.rc, 2);
  EXPECT_NE(source.out.find("--speculative: unknown draft source 'ngram' (known: lookup, draft, "
                            "none)"),
            std::string::npos) << source.out;
  const CliRun k = Cli(base + " --speculative lookup --spec-k 0");
  EXPECT_EQ(k.rc, 2);
  EXPECT_NE(k.out.find("--spec-k must be >= 1, got 0"), std::string::npos) << k.out;
  const CliRun no_draft = Cli(base + " --speculative draft");
  EXPECT_EQ(no_draft.rc, 2);
  EXPECT_NE(no_draft.out.find("--speculative draft needs --draft MODEL"), std::string::npos)
      << no_draft.out;
  const CliRun both = Cli(base + " --speculative lookup --draft " + testing::ShippedModel());
  EXPECT_EQ(both.rc, 2);
  EXPECT_NE(both.out.find("--draft is for --speculative draft"), std::string::npos) << both.out;
}

TEST(CliSpeculativeTest, ADraftModelWithAnotherVocabularyIsRefused) {
  DETINFER_REQUIRE_STORIES();
  const CliRun r = Cli("generate " + testing::ShippedModel() + " --prompt 'Yesterday I' --draft " +
                       testing::StoriesDir() + "/gguf/stories260K-f32.gguf");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("--draft: the draft model's vocabulary has 512 tokens, the model's 739"),
            std::string::npos) << r.out;
}

}  // namespace
}  // namespace detinfer
