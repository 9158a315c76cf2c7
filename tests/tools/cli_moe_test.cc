// `detinfer init --arch qwen3_moe|mixtral` and `info` on the result; the expert flags' errors
// name the flag.
#include <gtest/gtest.h>

#include <string>

#include "cli_run.h"
#include "model/model_test_util.h"

namespace detinfer {
namespace {

using testing::Cli;

const char* kMoeShape = "--dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 48 --vocab 40 --seed 3";

TEST(CliMoeTest, InitWritesExpertModelsThatInfoDescribes) {
  testing::TempDir dir;
  for (const std::string arch : {"qwen3_moe", "mixtral"}) {
    for (const std::string format : {"hf", "gguf"}) {
      SCOPED_TRACE(arch + " " + format);
      const std::string out = dir.file(arch + (format == "hf" ? "" : ".gguf"));
      const std::string extra = arch == "qwen3_moe" ? " --expert-ffn 24 --experts-used 3" : "";
      auto r = Cli("init --arch " + arch + " " + kMoeShape + " --experts 6" + extra +
                   " --dtype f32 --format " + format + " --out " + out);
      ASSERT_EQ(r.rc, 0) << r.out;
      r = Cli("info " + out);
      ASSERT_EQ(r.rc, 0) << r.out;
      EXPECT_NE(r.out.find(arch), std::string::npos) << r.out;
      EXPECT_NE(r.out.find(arch == "qwen3_moe"
                               ? "experts: 6 per layer, 3 chosen per token (top-k, renormalised), "
                                 "expert ffn 24"
                               : "experts: 6 per layer, 2 chosen per token (top-k, renormalised), "
                                 "expert ffn 48"),
                std::string::npos)
          << r.out;
      r = Cli("info --json " + out, true);
      ASSERT_EQ(r.rc, 0) << r.out;
      EXPECT_NE(r.out.find("\"used_per_token\""), std::string::npos) << r.out;
    }
  }
  // Without renormalisation (Qwen3-MoE's norm_topk_prob false).
  auto r = Cli("init --arch qwen3_moe " + std::string(kMoeShape) +
               " --no-renormalize --dtype bf16 --format hf --out " + dir.file("plain"));
  ASSERT_EQ(r.rc, 0) << r.out;
  r = Cli("info " + dir.file("plain"));
  EXPECT_NE(r.out.find("softmax probabilities as they are"), std::string::npos) << r.out;
}

TEST(CliMoeTest, ExpertFlagErrorsNameTheFlag) {
  testing::TempDir dir;
  const std::string tail = " --dtype f32 --format hf --out " + dir.file("m");
  const auto fails = [&](const std::string& args, const std::string& needle) {
    auto r = Cli("init " + args + " " + kMoeShape + tail);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
  };
  fails("--arch qwen3_moe --experts 4 --experts-used 5", "--experts-used: 5 is more than --experts (4)");
  fails("--arch qwen3_moe --experts 0", "--experts: must be positive");
  fails("--arch llama --experts 4", "--experts: only for the mixture-of-experts archs");
  fails("--arch mixtral --expert-ffn 24", "--expert-ffn: mixtral's expert FFN size is --ffn");
  fails("--arch mixtral --no-renormalize", "--no-renormalize: mixtral always renormalises");
}

}  // namespace
}  // namespace detinfer
