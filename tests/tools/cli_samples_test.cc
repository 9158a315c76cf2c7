// `detinfer generate --n N`: one result per sample, in order, each equal (tokens, logprob bits,
// fingerprint) to `generate` run alone with the seed that sample reports; bad --n values are
// clear errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "model/model_test_util.h"

namespace detinfer {
namespace {

using testing::Cli;
using testing::CliRun;

std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(nlohmann::json::parse(line));
  }
  return lines;
}

std::vector<uint32_t> LogprobBits(const nlohmann::json& j) {
  std::vector<uint32_t> bits;
  for (const auto& v : j["logprobs"]) {
    const float f = static_cast<float>(v.get<double>());
    uint32_t b;
    std::memcpy(&b, &f, sizeof b);
    bits.push_back(b);
  }
  return bits;
}

// Each sample of `base --n n` against `base --seed <its seed>` run alone; samples 1..n-1 reuse
// the prompt's whole blocks of `block` tokens (at most prompt - 1 positions).
void ExpectSamplesEqualSingleRuns(const std::string& base, uint64_t seed, int n, int64_t block) {
  const CliRun g = Cli(base + " --seed " + std::to_string(seed) + " --n " + std::to_string(n) +
                           " --json",
                       /*stdout_only=*/true);
  ASSERT_EQ(g.rc, 0) << g.out;
  const std::vector<nlohmann::json> lines = JsonLines(g.out);
  ASSERT_EQ(lines.size(), static_cast<size_t>(n)) << g.out;
  const int64_t prompt = static_cast<int64_t>(lines[0]["prompt_tokens"].size());
  const int64_t shared_tokens = (prompt - 1) / block * block;
  EXPECT_GT(shared_tokens, 0);
  std::vector<std::string> fingerprints;
  for (int i = 0; i < n; ++i) {
    const nlohmann::json& s = lines[size_t(i)];
    EXPECT_EQ(s["sample"].get<int>(), i);
    const uint64_t own = s["seed"].get<uint64_t>();
    if (i == 0) {
      EXPECT_EQ(own, seed);
    }
    const CliRun alone = Cli(base + " --seed " + std::to_string(own) + " --json", true);
    ASSERT_EQ(alone.rc, 0) << alone.out;
    const nlohmann::json a = nlohmann::json::parse(alone.out);
    EXPECT_EQ(s["tokens"], a["tokens"]) << "sample " << i;
    EXPECT_EQ(LogprobBits(s), LogprobBits(a)) << "sample " << i;
    EXPECT_EQ(s["fingerprint"], a["fingerprint"]) << "sample " << i;
    EXPECT_EQ(s["cached_tokens"].get<int64_t>(), i == 0 ? 0 : shared_tokens) << "sample " << i;
    fingerprints.push_back(s["fingerprint"]);
  }
  for (int i = 1; i < n; ++i) EXPECT_NE(fingerprints[size_t(i)], fingerprints[0]);
}

TEST(CliSamplesTest, ShippedModelSamplesEqualSingleRunsWithTheirSeeds) {
  // 12 prompt ids in blocks of 4: samples 1..3 reuse the first 8 positions.
  ExpectSamplesEqualSingleRuns("generate " + testing::ShippedModel() +
                                   " --ids 1,4,5,6,7,8,9,10,11,12,13,14 --block 4 --max-tokens 12"
                                   " --temperature 1 --ignore-eos",
                               7, 4, 4);
}

TEST(CliSamplesTest, Stories260KSamplesEqualSingleRunsWithTheirSeeds) {
  DETINFER_REQUIRE_STORIES();
  ExpectSamplesEqualSingleRuns("generate " + testing::StoriesDir() +
                                   "/gguf/stories260K-f32.gguf --prompt 'Once upon a time, there "
                                   "was a little girl who loved to play outside in the park with "
                                   "her friends' --max-tokens 20 --temperature 0.9",
                               2026, 3, 16);
}

TEST(CliSamplesTest, TextOutputNamesEachSampleAndItsSeed) {
  const CliRun g = Cli("generate " + testing::ShippedModel() +
                       " --prompt 'Yesterday I' --max-tokens 6 --temperature 1 --seed 3 --n 2");
  ASSERT_EQ(g.rc, 0) << g.out;
  EXPECT_NE(g.out.find("[sample 0, seed 3]"), std::string::npos) << g.out;
  EXPECT_NE(g.out.find("[sample 1, seed "), std::string::npos) << g.out;
}

TEST(CliSamplesTest, BadNIsAClearError) {
  for (const char* n : {"0", "-2", "129"}) {
    const CliRun g = Cli("generate " + testing::ShippedModel() + " --ids 1,4 --n " + n);
    EXPECT_NE(g.rc, 0) << n;
    EXPECT_NE(g.out.find("--n (samples per prompt) must be in [1, 128]"), std::string::npos)
        << g.out;
  }
  const CliRun r = Cli("generate " + testing::ShippedModel() +
                       " --ids 1,4 --n 2 --receipt /tmp/detinfer-n-receipt.json");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.out.find("--receipt"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace detinfer
