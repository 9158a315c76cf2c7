// End-to-end tests of the detinfer CLI on the real stories260K model: generate-then-score
// through the command line gives the same logprob bits, all formats give the same fingerprint,
// and user errors are clear messages with a non-zero exit.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.h"
#include "model/model_test_util.h"

namespace detinfer {
namespace {

using testing::Cli;
using testing::CliRun;

std::string Model(const std::string& rel) { return testing::StoriesDir() + "/" + rel; }

TEST(CliTest, GenerateThenScoreGivesTheSameLogprobBits) {
  DETINFER_REQUIRE_STORIES();
  const CliRun g = Cli("generate " + Model("stories260K.bin") +
                    " --ids 1,461 --max-tokens 12 --temperature 0.9 --seed 5 --chunk 1 --json");
  ASSERT_EQ(g.rc, 0) << g.out;
  const auto gj = nlohmann::json::parse(g.out);
  std::string ids;
  for (const auto& t : gj["tokens"]) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(t.get<int>());
  }
  const CliRun s = Cli("score " + Model("stories260K.bin") + " --ids 1,461 --completion-ids " + ids +
                    " --chunk 64 --json");
  ASSERT_EQ(s.rc, 0) << s.out;
  const auto sj = nlohmann::json::parse(s.out);
  ASSERT_EQ(gj["logprobs"].size(), sj["logprobs"].size());
  for (size_t i = 0; i < sj["logprobs"].size(); ++i) {
    // JSON numbers round-trip: parsed as double, they narrow back to the exact fp32 bits.
    EXPECT_EQ(static_cast<float>(gj["logprobs"][i].get<double>()),
              static_cast<float>(sj["logprobs"][i].get<double>()));
  }
  EXPECT_EQ(gj["fingerprint"], sj["fingerprint"]);
  EXPECT_EQ(gj["schedule_id"], sj["schedule_id"]);
}

TEST(CliTest, EveryFormatOfTheSameWeightsGivesTheSameFingerprint) {
  DETINFER_REQUIRE_STORIES();
  std::string first;
  for (const char* f : {"stories260K.bin", "gguf/stories260K-f32.gguf", "hf-f32"}) {
    const CliRun g = Cli(std::string("generate ") + Model(f) + " --ids 1 --max-tokens 16 --json");
    ASSERT_EQ(g.rc, 0) << g.out;
    const std::string fp = nlohmann::json::parse(g.out)["fingerprint"];
    if (first.empty()) first = fp;
    EXPECT_EQ(fp, first) << f;
  }
}

TEST(CliTest, ThreadsChunkingAndKvPressureDoNotChangeTheFingerprint) {
  DETINFER_REQUIRE_STORIES();
  const std::string base = "generate " + Model("stories260K.bin") +
                           " --ids 1,300,301,302,303 --max-tokens 24 --temperature 1 --seed 9 --json";
  const std::string want = nlohmann::json::parse(Cli(base).out)["fingerprint"];
  for (const char* extra : {" --threads 1", " --threads 3 --chunk 2", " --no-cache",
                            " --kv-dtype f32 --block 4 --kv-capacity 32", " --no-prefix-cache"}) {
    const CliRun g = Cli(base + extra);
    ASSERT_EQ(g.rc, 0) << extra << "\n" << g.out;
    EXPECT_EQ(nlohmann::json::parse(g.out)["fingerprint"], want) << extra;
  }
}

TEST(CliTest, UserErrorsAreClearMessagesWithNonZeroExit) {
  DETINFER_REQUIRE_STORIES();
  const std::string m = Model("stories260K.bin");
  const std::pair<std::string, std::string> cases[] = {
      {"generate " + m + " --ids 1,999", "has id 999 outside the vocabulary"},
      {"generate " + m + " --ids 1,x", "--ids: 'x' is not a token id"},
      {"generate " + m + " --ids 1 --temperature -1", "temperature"},
      {"generate " + m + " --ids 1 --kv-dtype f8", "--kv-dtype"},
      {"generate " + m + " --prompt hello", "needs a tokenizer"},
      {"generate /nonexistent/model.bin --ids 1", "/nonexistent/model.bin"},
      {"logits " + m + " --ids 1,512", "512"},
      {"score " + m + " --ids 1 --completion-ids 2,-4", "-4"},
  };
  for (const auto& [args, expect] : cases) {
    const CliRun r = Cli(args);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_NE(r.out.find(expect), std::string::npos) << args << "\n" << r.out;
  }
}

// The real stories260K model quantised through the CLI: its 64-wide rows become Q8_0, its
// 172-wide w_down rows (not whole 32-blocks) fall back to f16 as llama.cpp's quantiser does;
// generate-then-score gives the same bits on the quantised file; bad --dtype uses are errors.
TEST(CliTest, ConvertDtypeQuantisesAndTheQuantisedModelRescoresItsOwnBits) {
  DETINFER_REQUIRE_STORIES();
  const std::string out = ::testing::TempDir() + "/cli_stories_q8_0.gguf";
  const CliRun c = Cli("convert " + Model("gguf/stories260K-f32.gguf") + " " + out + " --dtype q8_0");
  ASSERT_EQ(c.rc, 0) << c.out;
  const CliRun info = Cli("info " + out + " --json");
  ASSERT_EQ(info.rc, 0) << info.out;
  const auto ij = nlohmann::json::parse(info.out);
  EXPECT_GT(ij["parameters_by_dtype"].value("q8_0", 0), 0) << info.out;
  EXPECT_GT(ij["parameters_by_dtype"].value("f16", 0), 0) << info.out;
  for (const auto& t : ij["tensors"]) {
    if (t["name"].get<std::string>().find("w_down") != std::string::npos) {
      EXPECT_EQ(t["dtype"], "f16");
    }
    if (t["name"].get<std::string>().find("wq") != std::string::npos) {
      EXPECT_EQ(t["dtype"], "q8_0");
      EXPECT_DOUBLE_EQ(t["bits_per_weight"].get<double>(), 8.5);
    }
  }
  const CliRun g = Cli("generate " + out + " --ids 1,461 --max-tokens 10 --json");
  ASSERT_EQ(g.rc, 0) << g.out;
  const auto gj = nlohmann::json::parse(g.out);
  std::string ids;
  for (const auto& t : gj["tokens"]) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(t.get<int>());
  }
  const CliRun s = Cli("score " + out + " --ids 1,461 --completion-ids " + ids + " --json");
  ASSERT_EQ(s.rc, 0) << s.out;
  EXPECT_EQ(gj["fingerprint"], nlohmann::json::parse(s.out)["fingerprint"]);

  const CliRun hf = Cli("convert " + Model("gguf/stories260K-f32.gguf") + " " + ::testing::TempDir() +
                        "/cli_stories_hf --dtype q8_0");
  EXPECT_NE(hf.rc, 0);
  EXPECT_NE(hf.out.find("Q8_0"), std::string::npos) << hf.out;
  EXPECT_NE(hf.out.find("safetensors"), std::string::npos) << hf.out;
  const CliRun bad = Cli("convert " + Model("gguf/stories260K-f32.gguf") + " " + out + " --dtype q9_9");
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.out.find("--dtype: unknown dtype 'q9_9'"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("q4_k_m"), std::string::npos) << bad.out;
}

// llama2.c files hold f32 only: converting bf16 weights to one widens them, and says so; the
// widened file runs with the same bits (bf16 -> f32 is exact).
// The widened file holds the same values: it runs bit for bit as the same weights re-stored as
// f32 in HF form. (Its outputs differ from the bf16 model's own: bf16 weights round the
// activations to bf16, kernels/matmul_bf16.h, and the warning says so.)
TEST(CliTest, ConvertToLlama2cSaysItWidensAndKeepsTheBits) {
  DETINFER_REQUIRE_STORIES();
  const std::string out = ::testing::TempDir() + "/cli_stories_widened.bin";
  const CliRun c = Cli("convert " + Model("hf-bf16") + " " + out);
  ASSERT_EQ(c.rc, 0) << c.out;
  EXPECT_NE(c.out.find("the bf16 weights were widened to f32"), std::string::npos) << c.out;
  EXPECT_NE(c.out.find("outputs differ slightly"), std::string::npos) << c.out;
  const std::string hf_f32 = ::testing::TempDir() + "/cli_stories_widened_hf";
  const CliRun h = Cli("convert " + Model("hf-bf16") + " " + hf_f32 + " --format hf --dtype f32");
  ASSERT_EQ(h.rc, 0) << h.out;
  const std::string gen = " --ids 1,461 --max-tokens 8 --json";
  EXPECT_EQ(nlohmann::json::parse(Cli("generate " + out + gen).out)["fingerprint"],
            nlohmann::json::parse(Cli("generate " + hf_f32 + gen).out)["fingerprint"]);
}

// Quantising a GGUF file keeps its vocabulary: the output encodes and decodes text exactly as
// the source does (the tokenizer.* pairs are copied verbatim).
TEST(CliTest, ConvertGgufToGgufKeepsTheVocabulary) {
  DETINFER_REQUIRE_STORIES();
  const std::string src = Model("gguf/stories260K-f32.gguf");
  const std::string out = ::testing::TempDir() + "/cli_stories_vocab_q8_0.gguf";
  const CliRun c = Cli("convert " + src + " " + out + " --dtype q8_0");
  ASSERT_EQ(c.rc, 0) << c.out;
  EXPECT_EQ(c.out.find("warning"), std::string::npos) << c.out;
  const auto a = nlohmann::json::parse(Cli("info " + src + " --json").out)["tokenizer"];
  const auto b = nlohmann::json::parse(Cli("info " + out + " --json").out)["tokenizer"];
  ASSERT_TRUE(b.is_object()) << b;
  for (const char* k : {"vocab_size", "bos_id", "eos_id", "unk_id"}) EXPECT_EQ(a[k], b[k]) << k;
  const std::string gen = " --prompt 'Once upon a time' --max-tokens 4 --json";
  EXPECT_EQ(nlohmann::json::parse(Cli("generate " + src + gen).out)["prompt_tokens"],
            nlohmann::json::parse(Cli("generate " + out + gen).out)["prompt_tokens"]);
}

}  // namespace
}  // namespace detinfer
