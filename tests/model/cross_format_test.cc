// One random model written by the writers in every format, loaded back by the readers: every
// format gives bit-identical logits (issue: "one random model converted to all three formats").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "model/gguf_writer.h"
#include "model/hf_writer.h"
#include "model/llama2c_writer.h"
#include "model/loader.h"
#include "core/storage_format.h"
#include "model/random_init.h"
#include "model/validate.h"
#include "model/weight_recipe.h"
#include "model/transformer.h"
#include "test_util.h"

namespace detinfer {
namespace {

namespace fs = std::filesystem;

ModelConfig Config(Arch arch, bool tied) {
  ModelConfig c;
  c.arch = arch;
  c.dim = 64;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.ffn_dim = 96;
  c.vocab_size = 100;
  c.max_seq_len = 64;
  c.rope_theta = 10000.0;
  c.norm_eps = 1e-5f;
  c.tied_embeddings = tied;
  c.qkv_bias = arch == Arch::kQwen2;
  c.qk_norm = arch == Arch::kQwen3;
  return c;
}

std::vector<float> AllLogits(ModelWeights w) {
  auto t = Transformer::Create(std::move(w));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  auto h = testing::MakeContext(testing::TestableIsas().back(), 2);
  auto cache = t->NewCache(64);
  EXPECT_TRUE(cache->AddSequence(0).ok());
  const std::vector<int32_t> tokens = {1, 5, 99, 42, 42, 7, 0, 63, 12, 88, 3, 3, 3, 51};
  const Segment seg{0, 0, tokens, true};
  std::vector<float> logits;
  EXPECT_TRUE(t->Forward(h.ctx, *cache, std::span<const Segment>(&seg, 1), &logits).ok());
  return logits;
}

std::vector<float> LoadAndRun(const std::string& path) {
  auto w = LoadModel(path);
  EXPECT_TRUE(w.ok()) << path << ": " << w.status().ToString();
  return w.ok() ? AllLogits(std::move(w).value()) : std::vector<float>{};
}

class CrossFormatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("detinfer-cross-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(CrossFormatTest, LlamaF32InAllThreeFormatsGivesTheSameBits) {
  for (bool tied : {true, false}) {
    auto w = InitRandomModel(Config(Arch::kLlama, tied), 77, DType::kF32);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    const std::string hf = (dir_ / "hf").string(), gguf = (dir_ / "m.gguf").string(),
                      bin = (dir_ / "m.bin").string();
    ASSERT_TRUE(WriteHuggingFace(*w, hf).ok());
    ASSERT_TRUE(WriteGguf(*w, gguf).ok());
    Status s = WriteLlama2c(*w, bin);
    ASSERT_TRUE(s.ok()) << s.ToString();
    const auto want = AllLogits(std::move(w).value());
    EXPECT_TRUE(testing::BitsEqual(LoadAndRun(hf), want)) << "hf tied=" << tied;
    EXPECT_TRUE(testing::BitsEqual(LoadAndRun(gguf), want)) << "gguf tied=" << tied;
    EXPECT_TRUE(testing::BitsEqual(LoadAndRun(bin), want)) << "llama2.c tied=" << tied;
  }
}

TEST_F(CrossFormatTest, Bf16AndF16ModelsOfEveryArchGiveTheSameBitsAsHfAndGguf) {
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    for (DType dt : {DType::kBF16, DType::kF16}) {
      auto w = InitRandomModel(Config(arch, false), 78, dt);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      const std::string hf = (dir_ / "hf").string(), gguf = (dir_ / "m.gguf").string();
      ASSERT_TRUE(WriteHuggingFace(*w, hf).ok());
      ASSERT_TRUE(WriteGguf(*w, gguf).ok());
      const auto want = AllLogits(std::move(w).value());
      EXPECT_TRUE(testing::BitsEqual(LoadAndRun(hf), want)) << ArchName(arch) << " " << DTypeName(dt);
      EXPECT_TRUE(testing::BitsEqual(LoadAndRun(gguf), want)) << ArchName(arch) << " " << DTypeName(dt);
      fs::remove_all(hf);
    }
  }
}

std::vector<uint8_t> FileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// `convert --dtype` (ApplyRecipe + WriteGguf) from every source format, and `init --dtype`
// straight from the seed, write the same bytes; read back, every file gives the bits of the
// in-memory quantised weights. K-quant rows need 256-element blocks: dim and ffn are 256.
TEST_F(CrossFormatTest, QuantisedGgufIsTheSameWhicheverPathWroteIt) {
  ModelConfig c = Config(Arch::kLlama, false);
  c.dim = 256;
  c.ffn_dim = 256;
  c.head_dim = 64;
  auto f32 = InitRandomModel(c, 79, DType::kF32);
  ASSERT_TRUE(f32.ok()) << f32.status().ToString();
  const std::string hf = (dir_ / "hf").string(), gguf = (dir_ / "m.gguf").string(),
                    bin = (dir_ / "m.bin").string();
  ASSERT_TRUE(WriteHuggingFace(*f32, hf).ok());
  ASSERT_TRUE(WriteGguf(*f32, gguf).ok());
  ASSERT_TRUE(WriteLlama2c(*f32, bin).ok());
  for (const char* name : {"q8_0", "q4_0", "q5_1", "q4_k_m", "q5_k_m", "q6_k"}) {
    const WeightRecipe recipe = ParseWeightRecipe(name).value();
    auto direct = InitRandomModel(c, 79, recipe);
    ASSERT_TRUE(direct.ok()) << direct.status().ToString();
    const std::string want_path = (dir_ / "direct.gguf").string();
    ASSERT_TRUE(WriteGguf(*direct, want_path).ok());
    const auto want_bytes = FileBytes(want_path);
    const auto want = AllLogits(std::move(direct).value());
    for (const std::string& src : {hf, gguf, bin}) {
      auto w = LoadModel(src);
      ASSERT_TRUE(w.ok()) << src << ": " << w.status().ToString();
      auto q = ApplyRecipe(std::move(w).value(), recipe);
      ASSERT_TRUE(q.ok()) << q.status().ToString();
      const std::string out = (dir_ / "converted.gguf").string();
      ASSERT_TRUE(WriteGguf(*q, out).ok());
      EXPECT_EQ(FileBytes(out), want_bytes) << name << " from " << src;
      EXPECT_TRUE(testing::BitsEqual(LoadAndRun(out), want)) << name << " from " << src;
      EXPECT_TRUE(testing::BitsEqual(AllLogits(std::move(q).value()), want)) << name << " from " << src;
    }
  }
}

TEST_F(CrossFormatTest, QuantisedWeightsAreRefusedByFormatsThatCannotHoldThem) {
  ModelConfig c = Config(Arch::kLlama, false);
  auto w = InitRandomModel(c, 80, ParseWeightRecipe("q8_0").value());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  const Status s = WriteHuggingFace(*w, (dir_ / "hf").string());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("Q8_0"), std::string::npos) << s.ToString();
  // llama.c widens (its format is f32): the file holds the exact dequantised values.
  ASSERT_TRUE(WriteLlama2c(*w, (dir_ / "m.bin").string()).ok());
  auto back = LoadModel((dir_ / "m.bin").string());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  std::vector<float> row(static_cast<size_t>(c.dim));
  ConvertToF32(DType::kQ8_0, w->layers[1].w_up.row_bytes(3), row.data(), row.size());
  EXPECT_TRUE(testing::BitsEqual(row.data(), back->layers[1].w_up.row<const float>(3), row.size()));
}

TEST_F(CrossFormatTest, ANonFiniteBlockScaleIsRefusedNamingTheTensorAndBlock) {
  for (const char* name : {"q8_0", "q4_k"}) {
    ModelConfig c = Config(Arch::kLlama, false);
    c.dim = 256;
    c.ffn_dim = 256;
    c.head_dim = 64;
    auto w = InitRandomModel(c, 81, ParseWeightRecipe(name).value());
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    EXPECT_TRUE(ValidateWeights(*w).ok());
    // Block 3 of layer 1's w_up: its d (the first f16 of a block in both formats) made NaN.
    const StorageFormat& f = FormatOf(w->layers[1].w_up.dtype);
    auto* block = static_cast<uint8_t*>(w->layers[1].w_up.data) + 3 * f.block_bytes;
    block[0] = 0x00;
    block[1] = 0x7e;
    const Status s = ValidateWeights(*w);
    EXPECT_FALSE(s.ok()) << name;
    EXPECT_NE(s.message().find("layers.1.w_up"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("block 3"), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("NaN or Inf scale"), std::string::npos) << s.ToString();
  }
}

TEST_F(CrossFormatTest, Llama2cWriterRefusesWhatTheFormatCannotHold) {
  auto w = InitRandomModel(Config(Arch::kQwen3, false), 1, DType::kF32);
  ASSERT_TRUE(w.ok());
  Status s = WriteLlama2c(*w, (dir_ / "q.bin").string());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_FALSE(fs::exists(dir_ / "q.bin"));
}

}  // namespace
}  // namespace detinfer
