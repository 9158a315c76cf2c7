// Crafted model files, the attack classes the per-format tests do not already cover (those are
// in gguf_test.cc, hf_loader_test.cc, llama2c_loader_test.cc and the tokenizer tests; see
// docs/security.md for the full list): non-finite norm weights, JSON nested deep enough to
// exhaust a recursive walk, shard names escaping the model directory, a tokenizer whose
// vocabulary does not fit the model; and the in-memory entry points the fuzz targets use, which
// must give the same results and errors as the files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/mapped_file.h"
#include "model/gguf.h"
#include "model/gguf_loader.h"
#include "model/hf_loader.h"
#include "model/llama2c_loader.h"
#include "model/llama2c_writer.h"
#include "model/loader.h"
#include "model/model_bundle.h"
#include "model/random_init.h"
#include "model/safetensors.h"
#include "tiny_model.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/tokenizer_test_util.h"
#include "writer_test_util.h"

namespace detinfer {
namespace {

using testing::Bytes;
using testing::FailsWith;
using testing::GgufBuilder;
using testing::TempDir;

void SetFloat(Bytes* data, size_t index, float value) {
  std::memcpy(data->data() + 4 * index, &value, 4);
}

GgufBuilder::Tensor* FindTensor(GgufBuilder* g, const std::string& name) {
  for (auto& t : g->tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Status LoadGgufBytes(const Bytes& b, const std::string& name) {
  Result<GgufFile> g = GgufFile::Parse(MappedFile::FromBytes(b.data(), b.size(), name));
  if (!g.ok()) return g.status();
  return LoadGguf(std::move(g).value()).status();
}

std::string Nested(int depth) { return std::string(static_cast<size_t>(depth), '[') +
                                       std::string(static_cast<size_t>(depth), ']'); }

TEST(CraftedFiles, NonFiniteNormWeightsAreReported) {
  TempDir dir;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case { const char* tensor; size_t index; float value; std::string want; };
  const Case cases[] = {
      {"blk.1.ffn_norm.weight", 3, nan, "tensor layers.1.ffn_norm element 3 is nan"},
      {"output_norm.weight", 0, inf, "tensor final_norm element 0 is inf"},
      {"blk.0.attn_norm.weight", 7, -inf, "tensor layers.0.attn_norm element 7 is -inf"},
      {"blk.0.attn_k_norm.weight", 2, nan, "tensor layers.0.k_norm element 2 is nan"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.tensor);
    GgufBuilder g = testing::TinyGguf(Arch::kQwen3);
    GgufBuilder::Tensor* t = FindTensor(&g, c.tensor);
    ASSERT_NE(t, nullptr);
    SetFloat(&t->data, c.index, c.value);
    testing::WriteFile(dir.file("m.gguf"), g.Build());
    EXPECT_TRUE(FailsWith(LoadModel(dir.file("m.gguf")).status(),
                          {dir.file("m.gguf"), c.want, "norm weights must be finite"}));
  }
  // The same check for Hugging Face directories (the q_norm of a Qwen3 layer) ...
  auto tensors = testing::TinyTensors(Arch::kQwen3, true);
  for (auto& t : tensors) {
    if (t.name == "model.layers.1.self_attn.q_norm.weight") t.values[1] = -inf;
  }
  testing::WriteText(dir.file("config.json"), testing::TinyHfConfig(Arch::kQwen3));
  testing::WriteFile(dir.file("model.safetensors"), testing::TinySafetensors(tensors));
  EXPECT_TRUE(FailsWith(LoadModel(dir.path()).status(),
                        {dir.path(), "tensor layers.1.q_norm element 1 is -inf"}));
  // ... and llama2.c checkpoints (rms_final, found through the loaded view's file offset).
  Result<ModelWeights> w =
      InitRandomModel(testing::SmallConfig(Arch::kLlama, true), 3, DType::kF32);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  w->config.rope_style = RopeStyle::kInterleaved;
  ASSERT_TRUE(WriteLlama2c(*w, dir.file("m.bin")).ok());
  Result<ModelWeights> ok = LoadModel(dir.file("m.bin"));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  const auto offset = static_cast<size_t>(static_cast<const uint8_t*>(ok->final_norm.data) -
                                          ok->files[0].data());
  Bytes bin = testing::ReadBytes(dir.file("m.bin"));
  SetFloat(&bin, offset / 4 + 5, nan);
  testing::WriteFile(dir.file("m.bin"), bin);
  EXPECT_TRUE(FailsWith(LoadModel(dir.file("m.bin")).status(),
                        {dir.file("m.bin"), "tensor final_norm element 5 is nan"}));
}

// A layer count the file's tensors cannot back must fail on the first missing layer, not make
// the loader allocate per claimed layer first (2^31 - 1 layers: ~2 TB of LayerWeights).
TEST(CraftedFiles, HugeLayerCountFailsOnTheFirstMissingLayer) {
  TempDir dir;
  GgufBuilder g = testing::TinyGguf(Arch::kLlama);
  for (auto& [key, value] : g.kvs) {
    if (key == "llama.block_count") {
      value.clear();
      testing::Put(&value, uint32_t{4});  // GGUF value type u32
      testing::Put(&value, uint32_t{INT32_MAX});
    }
  }
  testing::WriteFile(dir.file("m.gguf"), g.Build());
  EXPECT_TRUE(FailsWith(LoadModel(dir.file("m.gguf")).status(),
                        {dir.file("m.gguf"), "missing tensor 'blk.2.attn_norm.weight'"}));
  // The same through config.json's num_hidden_layers.
  std::string config = testing::TinyHfConfig(Arch::kLlama);
  const std::string from = "\"num_hidden_layers\": 2";
  config.replace(config.find(from), from.size(), "\"num_hidden_layers\": 2147483647");
  testing::WriteText(dir.file("config.json"), config);
  testing::WriteFile(dir.file("model.safetensors"),
                     testing::TinySafetensors(testing::TinyTensors(Arch::kLlama, true)));
  EXPECT_TRUE(FailsWith(LoadModel(dir.path()).status(),
                        {"missing tensor 'model.layers.2.input_layernorm.weight'"}));
}

TEST(CraftedFiles, InMemoryEntryPointsMatchTheFiles) {
  TempDir dir;
  // A valid model gives the same bits from memory as from its file.
  const Bytes good = testing::TinyGguf(Arch::kQwen2).Build();
  testing::WriteFile(dir.file("m.gguf"), good);
  Result<ModelWeights> from_file = LoadModel(dir.file("m.gguf"));
  Result<GgufFile> parsed = GgufFile::Parse(MappedFile::FromBytes(good.data(), good.size(), "mem"));
  ASSERT_TRUE(from_file.ok() && parsed.ok());
  Result<ModelWeights> from_mem = LoadGguf(std::move(parsed).value());
  ASSERT_TRUE(from_mem.ok()) << from_mem.status().ToString();
  EXPECT_EQ(std::memcmp(from_mem->layers[1].w_up.data, from_file->layers[1].w_up.data,
                        static_cast<size_t>(from_file->layers[1].w_up.numel()) * 4), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(from_mem->files[0].data()) % 4096, 0u);
  // Crafted bytes fail with the file's message, naming the buffer's name instead of a path.
  GgufBuilder g = testing::TinyGguf(Arch::kLlama);
  g.tensors[1].offset = 0;  // overlaps tensor 0
  const Bytes bad = g.Build();
  testing::WriteFile(dir.file("bad.gguf"), bad);
  const Status file_status = LoadModel(dir.file("bad.gguf")).status();
  const Status mem_status = LoadGgufBytes(bad, dir.file("bad.gguf"));
  EXPECT_TRUE(FailsWith(mem_status, {"overlap"}));
  EXPECT_EQ(mem_status.ToString(), file_status.ToString());
  // safetensors and llama2.c the same way.
  const Bytes st = testing::SafetensorsBytes(
      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 17]}})", Bytes(16, 0));
  EXPECT_TRUE(FailsWith(SafetensorsFile::Parse(MappedFile::FromBytes(st.data(), st.size(), "st"))
                            .status(), {"st: tensor 'a'", "outside the data section"}));
  const Bytes header(12, 0);
  EXPECT_TRUE(FailsWith(LoadLlama2c(MappedFile::FromBytes(header.data(), header.size(), "ck"))
                            .status(), {"ck: truncated", "n_heads"}));
}

TEST(CraftedFiles, DeeplyNestedJsonIsRejectedBeforeParsing) {
  // Deep enough to overflow the stack of a recursive walk (printing, destruction) under ASan.
  const std::string deep = Nested(200000);
  EXPECT_TRUE(FailsWith(ParseHfConfig(deep, "c.json").status(),
                        {"c.json", "JSON nested deeper than 64 levels at byte 64"}));
  EXPECT_TRUE(FailsWith(ParseHfTokenizerJson(deep, "t.json").status(),
                        {"t.json", "nested deeper than 64"}));
  EXPECT_TRUE(FailsWith(ParseSafetensorsIndex(deep, "i.json").status(),
                        {"i.json", "nested deeper than 64"}));
  const std::string shape = R"({"a": {"dtype": "F32", "shape": )" + Nested(100000) +
                            R"(, "data_offsets": [0, 0]}})";
  const Bytes st = testing::SafetensorsBytes(shape, {});
  EXPECT_TRUE(FailsWith(SafetensorsFile::Parse(MappedFile::FromBytes(st.data(), st.size(), "s"))
                            .status(), {"s: safetensors header", "nested deeper than 64"}));
  // 64 levels are fine, and brackets inside strings (escaped quotes included) do not count.
  std::string config = testing::TinyHfConfig(Arch::kLlama);
  config.insert(1, R"("note": "\")" + std::string(100, '[') + R"(", "x": )" + Nested(63) + ", ");
  const Result<ModelConfig> c = ParseHfConfig(config, "c.json");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
}

TEST(CraftedFiles, IndexShardNamesStayInTheModelDirectory) {
  for (const char* name : {"../model.safetensors", "/etc/passwd", "a/b.safetensors", "..", ".",
                           ""}) {
    SCOPED_TRACE(name);
    const std::string json = std::string(R"({"weight_map": {"w": ")") + name + "\"}}";
    EXPECT_TRUE(FailsWith(ParseSafetensorsIndex(json, "idx.json").status(),
                          {"idx.json", "not a plain file name"}));
  }
  EXPECT_TRUE(FailsWith(ParseSafetensorsIndex(R"({"weight_map": {"w": "a\u0000b"}})", "idx.json")
                            .status(), {"not a plain file name"}));
  auto ok = ParseSafetensorsIndex(R"({"weight_map": {"b": "s2", "a": "s1"}, "metadata": {}})",
                                  "idx.json");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ((*ok)[0], std::make_pair(std::string("a"), std::string("s1")));
  EXPECT_EQ((*ok)[1], std::make_pair(std::string("b"), std::string("s2")));
}

TEST(CraftedFiles, TokenizerVocabularyMustFitTheModel) {
  TempDir dir;
  testing::WriteTinyHf(dir.path(), Arch::kLlama);  // vocab_size 16
  const nlohmann::json tok =
      testing::MakeHfJson({"ab"}, nlohmann::json::array(), testing::Gpt2PreTokenizer());
  testing::WriteText(dir.file("tokenizer.json"), tok.dump());
  EXPECT_TRUE(FailsWith(LoadModelBundle(dir.path()).status(),
                        {dir.file("tokenizer.json"), "has 257 tokens",
                         "has a vocabulary of 16"}));
  // Fewer tokens than the model's vocabulary (a padded embedding, as in Qwen2 checkpoints) is fine.
  const nlohmann::json small = {
      {"model", {{"type", "WordLevel"}, {"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}}},
                 {"unk_token", "<unk>"}}},
      {"pre_tokenizer", {{"type", "WhitespaceSplit"}}},
      {"added_tokens", nlohmann::json::array()}};
  testing::WriteText(dir.file("tokenizer.json"), small.dump());
  const auto bundle = LoadModelBundle(dir.path());
  ASSERT_TRUE(bundle.ok()) << bundle.status().ToString();
  ASSERT_NE(bundle->tokenizer, nullptr);
  EXPECT_EQ(bundle->tokenizer->vocab_size(), 3);
}

}  // namespace
}  // namespace detinfer
