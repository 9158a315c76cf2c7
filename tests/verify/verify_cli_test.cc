// `detinfer verify` and `detinfer dump-slots` end to end on stories260K: exit codes, the §V
// artefacts, a planted fault named in the summary, clear errors.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "model/model_test_util.h"

namespace detinfer {
namespace {

struct CliRun {
  int rc;
  std::string out;
};

CliRun Cli(const std::string& args) {
  const std::string cmd = std::string(DETINFER_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string Stories() { return testing::StoriesDir() + "/stories260K.bin"; }

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

TEST(DumpSlotsCliTest, TextWithoutATokenizerIsAClearError) {
  DETINFER_REQUIRE_STORIES();
  testing::TempDir dir;
  const CliRun r = Cli("dump-slots " + Stories() + " --prompt 'Yesterday I' --out " + dir.path());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.out.find("--prompt needs a tokenizer"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace detinfer
