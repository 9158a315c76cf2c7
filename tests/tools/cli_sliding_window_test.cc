// `detinfer init --sliding-window N` (llama written as Mistral, phi3, mixtral) and `info` on the
// result, in both formats; the flag's errors name it.
#include <gtest/gtest.h>

#include <string>

#include "cli_run.h"
#include "model/model_test_util.h"

namespace detinfer {
namespace {

using testing::Cli;

const char* kWindowShape =
    "--dim 32 --layers 2 --heads 4 --kv-heads 2 --ffn 48 --vocab 40 --seed 3 --context 512";

TEST(CliSlidingWindowTest, InitWritesWindowedModelsThatInfoDescribes) {
  testing::TempDir dir;
  for (const std::string arch : {"llama", "phi3", "mixtral"}) {
    for (const std::string format : {"hf", "gguf"}) {
      SCOPED_TRACE(arch + " " + format);
      const std::string out = dir.file(arch + (format == "hf" ? "" : ".gguf"));
      auto r = Cli("init --arch " + arch + " " + kWindowShape +
                   " --sliding-window 96 --dtype f32 --format " + format + " --out " + out);
      ASSERT_EQ(r.rc, 0) << r.out;
      r = Cli("info " + out);
      ASSERT_EQ(r.rc, 0) << r.out;
      EXPECT_NE(r.out.find("context 512"), std::string::npos) << r.out;
      EXPECT_NE(r.out.find("sliding window: each query sees its 96 most recent positions"),
                std::string::npos)
          << r.out;
      r = Cli("info --json " + out, true);
      ASSERT_EQ(r.rc, 0) << r.out;
      EXPECT_NE(r.out.find("\"sliding_window\": 96"), std::string::npos) << r.out;
    }
  }
}

TEST(CliSlidingWindowTest, InitWritesGemma2ModelsThatInfoDescribes) {
  testing::TempDir dir;
  for (const std::string format : {"hf", "gguf"}) {
    SCOPED_TRACE(format);
    const std::string out = dir.file(format == "hf" ? "g" : "g.gguf");
    auto r = Cli("init --arch gemma2 " + std::string(kWindowShape) + " --head-dim 16 --dtype f32 "
                 "--format " + format + " --out " + out);
    ASSERT_EQ(r.rc, 0) << r.out;
    r = Cli("info " + out);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("tied embeddings"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("sliding window: each query sees its 4096 most recent positions "
                         "(local layers: the even ones)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("soft caps 50 (scores) and 30 (logits)"), std::string::npos) << r.out;
    r = Cli("info --json " + out, true);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("\"query_pre_attn_scalar\": 16.0"), std::string::npos) << r.out;
  }
}

TEST(CliSlidingWindowTest, InitWritesGemma3ModelsThatInfoDescribes) {
  testing::TempDir dir;
  for (const std::string format : {"hf", "gguf"}) {
    SCOPED_TRACE(format);
    const std::string out = dir.file(format == "hf" ? "g3" : "g3.gguf");
    auto r = Cli("init --arch gemma3 --dim 32 --layers 6 --heads 4 --kv-heads 2 --ffn 48 "
                 "--vocab 40 --seed 3 --context 512 --head-dim 16 --sliding-window 32 "
                 "--dtype bf16 --format " + format + " --out " + out);
    ASSERT_EQ(r.rc, 0) << r.out;
    r = Cli("info " + out);
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_NE(r.out.find("q/k norm"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("sliding window: each query sees its 32 most recent positions "
                         "(local layers: all but every 6th)"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("local layers' rope theta 10000 (global layers: 1e+06)"),
              std::string::npos)
        << r.out;
  }
}

TEST(CliSlidingWindowTest, FlagErrorsNameTheFlag) {
  testing::TempDir dir;
  const std::string tail = " --dtype f32 --format hf --out " + dir.file("m");
  const auto fails = [&](const std::string& args, const std::string& needle) {
    auto r = Cli("init " + args + " " + kWindowShape + tail);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_NE(r.out.find(needle), std::string::npos) << r.out;
  };
  fails("--arch llama --sliding-window 0", "--sliding-window: must be positive");
  fails("--arch qwen2 --sliding-window 8", "--sliding-window: qwen2 has no sliding window");
}

}  // namespace
}  // namespace detinfer
