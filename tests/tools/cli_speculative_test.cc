// `detinfer generate --speculative lookup` on the shipped model: the same ids, logprob bits,
// fingerprint and schedule id as plain decoding, with the guess counts in the JSON; a bad source
// or k is a usage error naming the flag.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.h"

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
    for (const char* k : {"1", "4", "12"}) {
      const CliRun spec = Cli(base + sampling + " --speculative lookup --spec-k " + k, true);
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
  EXPECT_NE(source.out.find("--speculative: unknown draft source 'ngram' (known: lookup, none)"),
            std::string::npos) << source.out;
  const CliRun k = Cli(base + " --speculative lookup --spec-k 0");
  EXPECT_EQ(k.rc, 2);
  EXPECT_NE(k.out.find("--spec-k must be >= 1, got 0"), std::string::npos) << k.out;
}

}  // namespace
}  // namespace detinfer
