// `detinfer verify` and `detinfer dump-slots` end to end on stories260K: exit codes, the §V
// artefacts, a planted fault named in the summary, clear errors.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.h"
#include "model/model_test_util.h"

namespace detinfer {
namespace {

using testing::Cli;
using testing::CliRun;

std::string Stories() { return testing::StoriesDir() + "/stories260K.bin"; }
// The shipped model: a 64-token context, smaller than verify's default counts.
std::string Verbs() { return testing::ShippedModel(); }

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

TEST(VerifyCliTest, HealthyModelPassesAndWritesResultsAndManifest) {
  DETINFER_REQUIRE_STORIES();
  testing::TempDir dir;
  const CliRun r = Cli("verify " + Stories() + " --prompts 2 --max-tokens 4 --long-prompts 1 " +
                       "--long-tokens 20 --out " + dir.path());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("cache-off"), std::string::npos) << r.out;
  const auto results = ReadJson(dir.file("results.json"));
  const auto manifest = ReadJson(dir.file("manifest.json"));
  ASSERT_GT(results["cases"].size(), 10u);
  for (const auto& c : results["cases"]) {
    EXPECT_TRUE(c["pass"].get<bool>()) << c.dump();
    EXPECT_TRUE(c["first_divergence_step"].is_null());
    EXPECT_FALSE(c["prompt_ids"].empty());
  }
  EXPECT_EQ(manifest["results_summary"]["passed"].get<size_t>(), results["cases"].size());
  EXPECT_EQ(manifest["results_summary"]["failed"], 0);
  EXPECT_TRUE(manifest["results_summary"]["first_divergence_step_min"].is_null());
  // The sha256 of stories260K.bin recorded in shared/models/stories260K/REFERENCE.md.
  EXPECT_EQ(manifest["model"]["files"][0]["sha256"],
            "9414d5a285453a7eab631713d171753232c978f6f97654211469aff8be93c8d6");
  for (const char* key : {"date", "engine", "isa", "threads", "seeds", "configuration"}) {
    EXPECT_TRUE(manifest.contains(key)) << key;
  }
}

TEST(VerifyCliTest, APlantedFaultFailsWithItsLocation) {
  DETINFER_REQUIRE_STORIES();
  testing::TempDir dir;
  const CliRun r = Cli("verify " + Stories() + " --prompts 1 --max-tokens 4 --long-prompts 0 " +
                       "--axes cache-off,rescore --inject-fault rope-off-by-one --out " + dir.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("first difference: layer 0, op q"), std::string::npos) << r.out;
  const auto results = ReadJson(dir.file("results.json"));
  bool located = false;
  for (const auto& c : results["cases"]) {
    if (c["pass"].get<bool>()) continue;
    EXPECT_FALSE(c["first_divergence_step"].is_null());
    located = located || (c["first_difference"]["layer"] == 0 && c["first_difference"]["op"] == "q");
  }
  EXPECT_TRUE(located);
  EXPECT_GT(ReadJson(dir.file("manifest.json"))["results_summary"]["failed"].get<int>(), 0);
}

TEST(VerifyCliTest, BadFlagsAreClearErrors) {
  DETINFER_REQUIRE_STORIES();
  testing::TempDir dir;
  CliRun r = Cli("verify " + Stories() + " --inject-fault rope-off-by-two --out " + dir.path());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("--inject-fault: unknown fault 'rope-off-by-two'"), std::string::npos) << r.out;
  r = Cli("verify " + Stories() + " --axes cache-of --out " + dir.path());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("--axes: unknown axis 'cache-of'"), std::string::npos) << r.out;
  r = Cli("verify " + Stories() + " --max-tokens 512 --out " + dir.path());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("--max-tokens 512 leaves no room"), std::string::npos) << r.out;
  r = Cli("verify " + Stories() + " --kv-dtype q4_0 --out " + dir.path());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("--kv-dtype"), std::string::npos) << r.out;
}

TEST(VerifyCliTest, DefaultsFitTheShippedModelsSmallContext) {
  testing::TempDir dir;
  const CliRun r = Cli("verify " + Verbs() + " --prompts 2 --axes cache-off,long --out " +
                       dir.path());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("detinfer: note: " + Verbs() +
                       " has a 64-token context; generating 48 tokens per prompt (--max-tokens), "
                       "48 on the long axis (--long-tokens)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("2 prompts x 48 tokens (long-48: all 2 prompts x 48 tokens)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("defaults shortened to fit the model's 64-token context: --max-tokens 64 -> "
                       "48, --long-tokens 256 -> 48"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("long-256"), std::string::npos) << r.out;
  const auto results = ReadJson(dir.file("results.json"));
  int long_cases = 0;
  for (const auto& c : results["cases"]) {
    EXPECT_TRUE(c["pass"].get<bool>()) << c.dump();
    if (c["axis"] == "long-48") ++long_cases;
  }
  EXPECT_EQ(long_cases, 2);
  const auto manifest = ReadJson(dir.file("manifest.json"));
  EXPECT_EQ(manifest["configuration"]["max_tokens"], 48);
  EXPECT_EQ(manifest["configuration"]["max_tokens_default_shortened_from"], 64);
  // The engine's default KV dtype, as generate/score/serve.
  EXPECT_EQ(manifest["configuration"]["kv_dtype"], "f32");
}

TEST(VerifyCliTest, GivenCountsThatCannotFitAreUsageErrorsAndLeaveNoOutFolder) {
  testing::TempDir dir;
  const std::string out = dir.file("never");
  CliRun r = Cli("verify " + Verbs() + " --max-tokens 64 --out " + out);
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--max-tokens 64 leaves no room for a prompt in the context of 64 tokens "
                       "(at most 63)"),
            std::string::npos)
      << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));
  r = Cli("verify " + Verbs() + " --long-tokens 100 --out " + out);
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--long-tokens 100 leaves no room"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));
  // Refused after --out was made (the axis list is checked by the run): removed again, with
  // the parents this run made.
  r = Cli("verify " + Verbs() + " --prompts 1 --axes cache-of --out " + out + "/a/b");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_FALSE(std::filesystem::exists(out)) << r.out;
  // A folder that was already there is left as it was.
  std::filesystem::create_directories(out);
  r = Cli("verify " + Verbs() + " --prompts 1 --axes cache-of --out " + out);
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out)) << r.out;
}

TEST(VerifyCliTest, ProgressInALogShowsTheTimeRemaining) {
  testing::TempDir dir;
  const CliRun r = Cli("verify " + Verbs() + " --prompts 3 --max-tokens 4 --long-prompts 0 " +
                       "--axes cache-off,chunk --out " + dir.path());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("[0/6 0%] case 0 cache-off, ETA --"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/6 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(", ETA "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("[6/6 100%] done, done in "), std::string::npos) << r.out;
}

TEST(VerifyCliTest, HelpShowsDefaultsCleanly) {
  for (const char* sub : {"verify", "dump-slots"}) {
    const CliRun r = Cli(std::string(sub) + " --help");
    EXPECT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out.find("{false}"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("(default:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("KV cache dtype: f32 (default), bf16 or f16"), std::string::npos) << r.out;
  }
  const CliRun r = Cli("verify --help");
  EXPECT_NE(r.out.find("--no-localise "), std::string::npos) << r.out;
}

TEST(VerifyCliTest, NoLocaliseSkipsTheLocaliser) {
  DETINFER_REQUIRE_STORIES();
  testing::TempDir dir;
  const CliRun r = Cli("verify " + Stories() + " --prompts 1 --max-tokens 4 --long-prompts 0 " +
                       "--axes cache-off --inject-fault rope-off-by-one --no-localise --out " +
                       dir.path());
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_EQ(r.out.find("first difference"), std::string::npos) << r.out;
  EXPECT_EQ(ReadJson(dir.file("manifest.json"))["configuration"]["localise"], false);
}

TEST(DumpSlotsCliTest, WritesTheDumpAndReportsEqualSlots) {
  DETINFER_REQUIRE_STORIES();
  testing::TempDir dir;
  const CliRun r =
      Cli("dump-slots " + Stories() + " --ids 1,461,461 --kv-dtype f32 --out " + dir.path());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("every slot byte-identical"), std::string::npos) << r.out;
  for (const char* f : {"slots.npz", "report.md", "manifest.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir.file(f))) << f;
  }
  const auto manifest = ReadJson(dir.file("manifest.json"));
  EXPECT_EQ(manifest["npy_dtype"], "<f4");
  // REFERENCE.md (llama2.c's run.c): the greedy continuation of [1] is 461, 461, 401, ...
  EXPECT_EQ(manifest["decoded_token"], 401);
}

TEST(DumpSlotsCliTest, KvDTypeDefaultsToF32) {
  testing::TempDir dir;
  const CliRun r = Cli("dump-slots " + Verbs() + " --prompt 'Yesterday I' --out " + dir.path());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(ReadJson(dir.file("manifest.json"))["npy_dtype"], "<f4");
}

TEST(DumpSlotsCliTest, AnIdOutsideTheVocabularyIsAUsageError) {
  testing::TempDir dir;
  const CliRun r = Cli("dump-slots " + Verbs() + " --ids 1,100000 --out " + dir.path());
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("--ids: token 1 has id 100000 outside the vocabulary"), std::string::npos)
      << r.out;
}

TEST(DumpSlotsCliTest, TextWithoutATokenizerIsAClearError) {
  DETINFER_REQUIRE_STORIES();
  testing::TempDir dir;
  const CliRun r = Cli("dump-slots " + Stories() + " --prompt 'Yesterday I' --out " + dir.path());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("--prompt needs a tokenizer"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace detinfer
