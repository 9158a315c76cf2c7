// safetensors files and Hugging Face directories: synthetic Llama/Qwen2/Qwen3 models and
// shards load; crafted headers, offsets, configs and indexes are rejected with messages naming
// the file and the thing at fault.
#include <gtest/gtest.h>

#include "model/hf_loader.h"
#include "model/loader.h"
#include "model/safetensors.h"
#include "tiny_model.h"

namespace detinfer {
namespace {

using testing::Bytes;
using testing::FailsWith;
using testing::TempDir;

Status OpenST(const TempDir& dir, const Bytes& bytes) {
  testing::WriteFile(dir.file("x.safetensors"), bytes);
  return SafetensorsFile::Open(dir.file("x.safetensors")).status();
}

Bytes OneTensor(const std::string& entry, size_t data_bytes = 16) {
  return testing::SafetensorsBytes("{\"t\": " + entry + "}", Bytes(data_bytes, 0));
}

TEST(Safetensors, ValidFileViews) {
  TempDir dir;
  testing::WriteFile(dir.file("x.safetensors"),
                     OneTensor(R"({"dtype": "BF16", "shape": [2, 4], "data_offsets": [0, 16]})"));
  Result<SafetensorsFile> f = SafetensorsFile::Open(dir.file("x.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  Result<TensorView> v = f->View("t");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->ShapeString(), "[2, 4] bf16");
  EXPECT_TRUE(FailsWith(f->View("u").status(), {"missing tensor 'u'", "x.safetensors"}));
}

TEST(Safetensors, CraftedHeadersAreRejected) {
  TempDir dir;
  struct Case { std::string entry; std::vector<std::string> want; };
  const Case cases[] = {
      {R"({"dtype": "Q9", "shape": [4], "data_offsets": [0, 16]})", {"'t'", "unknown dtype 'Q9'"}},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 17]})", {"'t'", "outside the data section"}},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [8, 4]})", {"'t'", "outside"}},
      {R"({"dtype": "F32", "shape": [3], "data_offsets": [0, 16]})", {"'t'", "span 16 bytes", "needs 12"}},
      {R"({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]})", {"'t'", "shape entry -4"}},
      {R"({"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]})",
       {"'t'", "more elements than fit"}},
      {R"({"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 16]})",
       {"'t'", "more elements than fit"}},
      {R"({"dtype": "F32", "shape": [2], "data_offsets": [2, 10]})", {"'t'", "not aligned"}},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [0]})", {"'t'", "data_offsets"}},
      {R"({"dtype": 5, "shape": [4], "data_offsets": [0, 16]})", {"'t'", "dtype"}},
      {R"({"dtype": "F32", "shape": 4, "data_offsets": [0, 16]})", {"'t'", "shape"}},
      {R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 1e300]})", {"'t'", "data_offsets"}},
      {R"([1, 2])", {"'t'", "not an object"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.entry);
    std::vector<std::string> want = c.want;
    want.push_back(dir.file("x.safetensors"));
    const Status s = OpenST(dir, OneTensor(c.entry));
    for (const auto& w : want) EXPECT_TRUE(FailsWith(s, {w}));
  }
  EXPECT_TRUE(FailsWith(OpenST(dir, testing::SafetensorsBytes("{\"t\": {", {})),
                        {"not a JSON object"}));
  // Header length beyond the file (the classic out-of-bounds read).
  Bytes lie;
  testing::Put(&lie, uint64_t{1} << 40);
  lie.resize(64, ' ');
  EXPECT_TRUE(FailsWith(OpenST(dir, lie), {"header length 1099511627776", "exceeds"}));
  Bytes max;
  testing::Put(&max, UINT64_MAX);
  EXPECT_TRUE(FailsWith(OpenST(dir, max), {"header length", "exceeds"}));
  // Overlapping tensors.
  EXPECT_TRUE(FailsWith(
      OpenST(dir, testing::SafetensorsBytes(
                      R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                          "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
                      Bytes(16, 0))),
      {"'a' and 'b' overlap"}));
}

TEST(Safetensors, UnsupportedDtypeNamedOnUse) {
  TempDir dir;
  testing::WriteFile(dir.file("x.safetensors"),
                     OneTensor(R"({"dtype": "I64", "shape": [2], "data_offsets": [0, 16]})"));
  Result<SafetensorsFile> f = SafetensorsFile::Open(dir.file("x.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const Status s = f->View("t").status();
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_TRUE(FailsWith(s, {"tensor 't'", "dtype I64"}));
}

TEST(Safetensors, TruncatedAnywhereIsRejected) {
  TempDir dir;
  const Bytes full = testing::TinySafetensors(testing::TinyTensors(Arch::kLlama, true));
  for (size_t len = 0; len < full.size(); len += (len < 64 ? 1 : 53)) {
    EXPECT_FALSE(OpenST(dir, Bytes(full.begin(), full.begin() + len)).ok()) << len;
  }
  EXPECT_TRUE(OpenST(dir, full).ok());
}

TEST(HfLoader, TinyArchitecturesLoad) {
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    for (bool tied : {true, false}) {
      SCOPED_TRACE(std::string(ArchName(arch)) + (tied ? " tied" : " untied"));
      TempDir dir;
      testing::WriteTinyHf(dir.path(), arch, tied);
      Result<ModelWeights> w = LoadModel(dir.path());
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      EXPECT_EQ(w->config.arch, arch);
      EXPECT_EQ(w->config.qkv_bias, arch == Arch::kQwen2);
      EXPECT_EQ(w->config.qk_norm, arch == Arch::kQwen3);
      EXPECT_EQ(w->config.rope_theta, 1e6);
      EXPECT_EQ(w->config.norm_eps, 1e-6f);
      EXPECT_EQ(w->config.tied_embeddings, tied);
      EXPECT_EQ(w->lm_head.data == w->token_embedding.data, tied);
      EXPECT_EQ(w->layers[1].bk.rank, arch == Arch::kQwen2 ? 1 : 0);
      EXPECT_EQ(w->layers[1].k_norm.rank, arch == Arch::kQwen3 ? 1 : 0);
      // Loading by the path of a file inside the directory finds the same model.
      EXPECT_TRUE(LoadModel(dir.file("config.json")).ok());
    }
  }
}

TEST(HfLoader, ShardedCheckpointLoads) {
  TempDir dir;
  auto tensors = testing::TinyTensors(Arch::kLlama, true);
  const size_t half = tensors.size() / 2;
  std::vector<testing::TinyTensor> a(tensors.begin(), tensors.begin() + half),
      b(tensors.begin() + half, tensors.end());
  testing::WriteText(dir.file("config.json"), testing::TinyHfConfig(Arch::kLlama));
  testing::WriteFile(dir.file("model-00001-of-00002.safetensors"), testing::TinySafetensors(a));
  testing::WriteFile(dir.file("model-00002-of-00002.safetensors"), testing::TinySafetensors(b));
  auto index = [&](const std::string& override_first) {
    std::string s = "{\"metadata\": {}, \"weight_map\": {";
    for (size_t i = 0; i < tensors.size(); ++i) {
      std::string shard = i < half ? "model-00001-of-00002.safetensors"
                                   : "model-00002-of-00002.safetensors";
      if (i == 0 && !override_first.empty()) shard = override_first;
      if (i != 0) s += ", ";
      s += "\"" + tensors[i].name + "\": \"" + shard + "\"";
    }
    return s + "}}";
  };
  testing::WriteText(dir.file("model.safetensors.index.json"), index(""));
  Result<ModelWeights> w = LoadModel(dir.path());
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->files.size(), 2u);
  EXPECT_TRUE(testing::BitsEqual(static_cast<const float*>(w->layers[1].w_down.data),
                                 tensors.back().values.data(), tensors.back().values.size()));

  testing::WriteText(dir.file("model.safetensors.index.json"), index("../../etc/passwd"));
  EXPECT_TRUE(FailsWith(LoadModel(dir.path()).status(), {"not a plain file name", "../../etc"}));
  testing::WriteText(dir.file("model.safetensors.index.json"),
                     index("model-00002-of-00002.safetensors"));
  EXPECT_TRUE(FailsWith(LoadModel(dir.path()).status(),
                        {tensors[0].name, "does not contain it"}));
  testing::WriteText(dir.file("model.safetensors.index.json"), index("missing.safetensors"));
  EXPECT_TRUE(FailsWith(LoadModel(dir.path()).status(), {"missing.safetensors"}));
  testing::WriteText(dir.file("model.safetensors.index.json"), "{\"weight_map\": 3}");
  EXPECT_TRUE(FailsWith(LoadModel(dir.path()).status(), {"weight_map"}));
}

TEST(HfLoader, BadConfigsAreRejected) {
  const std::string good = testing::TinyHfConfig(Arch::kLlama);
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  struct Case { std::string text; std::vector<std::string> want; };
  const Case cases[] = {
      {"{\"hidden_size\": ", {"not a JSON object"}},
      {"[]", {"not a JSON object"}},
      {with("\"hidden_size\": 8, ", ""), {"missing field \"hidden_size\""}},
      {with("\"vocab_size\": 16", "\"vocab_size\": \"16\""), {"\"vocab_size\"", "\"16\""}},
      {with("\"num_key_value_heads\": 1", "\"num_key_value_heads\": 3"),
       {"n_heads (2) is not a multiple of n_kv_heads (3)"}},
      {with("\"hidden_size\": 8", "\"hidden_size\": 99999999999"), {"hidden_size", "99999999999"}},
      {with("LlamaForCausalLM", "GemmaForCausalLM"), {"GemmaForCausalLM"}},
      {with("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\""), {"hidden_act", "gelu"}},
      {with("\"rope_theta\": 1000000.0", "\"rope_scaling\": {\"type\": \"linear\"}"),
       {"rope_scaling", "needs \"factor\""}},
      {with("\"rope_theta\": 1000000.0", "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}"),
       {"rope_scaling", "'dynamic'"}},
      {with("\"tie_word_embeddings\": true", "\"tie_word_embeddings\": 1"),
       {"tie_word_embeddings"}},
      {with("\"head_dim\": 4", "\"head_dim\": 3"), {"head_dim must be even"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const Status s = ParseHfConfig(c.text, "dir/config.json").status();
    EXPECT_TRUE(FailsWith(s, {"dir/config.json"}));
    for (const auto& w : c.want) EXPECT_TRUE(FailsWith(s, {w}));
  }
  EXPECT_TRUE(ParseHfConfig(good, "x").ok());
}

// Three config layouts read as transformers reads them (found against a float64 reference of the
// transformers definitions: each used to load silently wrong).
TEST(HfLoader, ConfigsReadAsTransformersDoes) {
  auto with = [](Arch arch, const std::string& from, const std::string& to) {
    std::string s = testing::TinyHfConfig(arch);
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::string theta = "\"rope_theta\": 1000000.0";
  // Newer transformers: rope_theta inside rope_parameters (was read as 10000, silently).
  auto p = ParseHfConfig(
      with(Arch::kLlama, theta, "\"rope_parameters\": {\"rope_theta\": 250000.0, \"rope_type\": \"default\"}"),
      "c");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->rope_theta, 250000.0);
  // ... and a scaling declared there is read as it is under rope_scaling (was ignored).
  auto l3 = ParseHfConfig(
      with(Arch::kLlama, theta,
           "\"rope_parameters\": {\"rope_theta\": 5e5, \"rope_type\": \"llama3\", "
           "\"factor\": 8.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, "
           "\"original_max_position_embeddings\": 16}"),
      "c");
  ASSERT_TRUE(l3.ok()) << l3.status().ToString();
  EXPECT_EQ(l3->rope_scaling.kind, RopeScaling::Kind::kLlama3);
  EXPECT_EQ(l3->rope_theta, 5e5);
  auto yarn = ParseHfConfig(with(Arch::kLlama, theta,
                                 "\"rope_parameters\": {\"rope_theta\": 5e5, \"rope_type\": "
                                 "\"yarn\", \"factor\": 4.0}"),
                            "c");
  ASSERT_TRUE(yarn.ok()) << yarn.status().ToString();
  EXPECT_EQ(yarn->rope_scaling.kind, RopeScaling::Kind::kYarn);
  EXPECT_TRUE(FailsWith(
      ParseHfConfig(with(Arch::kLlama, theta,
                         "\"rope_parameters\": {\"rope_theta\": 5e5, \"rope_type\": "
                         "\"dynamic\", \"factor\": 4.0}"),
                    "c")
          .status(),
      {"rope_parameters", "'dynamic'", "not supported"}));
  EXPECT_TRUE(FailsWith(
      ParseHfConfig(with(Arch::kLlama, theta,
                         theta + ", \"rope_parameters\": {\"rope_theta\": 10000.0}"),
                    "c")
          .status(),
      {"disagree"}));
  // Qwen2 applies q/k/v biases whatever attention_bias says (Qwen2Attention's bias=True).
  auto q2 = ParseHfConfig(with(Arch::kQwen2, theta, theta + ", \"attention_bias\": false"), "c");
  ASSERT_TRUE(q2.ok()) << q2.status().ToString();
  EXPECT_TRUE(q2->qkv_bias);
  // Qwen3 without head_dim: Qwen3Config's default 128, not hidden_size / heads.
  auto q3 = ParseHfConfig(with(Arch::kQwen3, "\"head_dim\": 4, ", ""), "c");
  ASSERT_TRUE(q3.ok()) << q3.status().ToString();
  EXPECT_EQ(q3->head_dim, 128);
  auto llama = ParseHfConfig(with(Arch::kLlama, "\"head_dim\": 4, ", ""), "c");
  ASSERT_TRUE(llama.ok());
  EXPECT_EQ(llama->head_dim, 4);  // Llama: hidden_size / heads
  // Mistral is Llama plus its sliding window, which leaves the context as declared.
  auto mistral = ParseHfConfig(with(Arch::kLlama, "LlamaForCausalLM", "MistralForCausalLM"), "c");
  ASSERT_TRUE(mistral.ok()) << mistral.status().ToString();
  EXPECT_EQ(mistral->arch, Arch::kLlama);
  EXPECT_EQ(mistral->max_seq_len, 32);
  EXPECT_EQ(mistral->sliding_window, 0);
  auto windowed = ParseHfConfig(with(Arch::kLlama, "LlamaForCausalLM\"]",
                                     "MistralForCausalLM\"], \"sliding_window\": 16"),
                                "c");
  ASSERT_TRUE(windowed.ok()) << windowed.status().ToString();
  EXPECT_EQ(windowed->max_seq_len, 32);
  EXPECT_EQ(windowed->sliding_window, 16);
  // LlamaForCausalLM ignores the key, as transformers does.
  auto llama_key = ParseHfConfig(with(Arch::kLlama, "LlamaForCausalLM\"]",
                                      "LlamaForCausalLM\"], \"sliding_window\": 16"),
                                 "c");
  ASSERT_TRUE(llama_key.ok()) << llama_key.status().ToString();
  EXPECT_EQ(llama_key->sliding_window, 0);
  EXPECT_TRUE(FailsWith(ParseHfConfig(with(Arch::kLlama, "LlamaForCausalLM\"]",
                                           "MistralForCausalLM\"], \"sliding_window\": 0"),
                                      "c")
                            .status(),
                        {"sliding_window must be positive"}));
}

// A tensor the configured model would not use is an error naming it, except what transformers
// itself discards (rotary_emb.inv_freq, lm_head under tied embeddings).
TEST(HfLoader, TensorsTheModelDoesNotUseAreErrors) {
  auto load_with = [](Arch arch, bool tied, const std::string& extra_name) {
    TempDir dir;
    auto tensors = testing::TinyTensors(arch, true, tied);
    tensors.push_back({extra_name, {4}, std::vector<float>(4, 0.5f)});
    testing::WriteText(dir.file("config.json"), testing::TinyHfConfig(arch, tied));
    testing::WriteFile(dir.file("model.safetensors"), testing::TinySafetensors(tensors));
    return LoadModel(dir.path()).status();
  };
  const Status bias = load_with(Arch::kLlama, true, "model.layers.0.self_attn.o_proj.bias");
  EXPECT_TRUE(FailsWith(bias, {"does not use", "'model.layers.0.self_attn.o_proj.bias'"}));
  EXPECT_TRUE(FailsWith(load_with(Arch::kQwen3, true, "model.layers.2.mlp.up_proj.weight"),
                        {"model.layers.2.mlp.up_proj.weight"}));  // a layer beyond n_layers
  EXPECT_TRUE(load_with(Arch::kLlama, true, "model.layers.0.self_attn.rotary_emb.inv_freq").ok());
  EXPECT_TRUE(load_with(Arch::kLlama, true, "lm_head.weight").ok());
}

TEST(HfLoader, MissingTensorAndWrongShape) {
  TempDir dir;
  auto tensors = testing::TinyTensors(Arch::kQwen2, true);
  testing::WriteText(dir.file("config.json"), testing::TinyHfConfig(Arch::kQwen2));
  auto drop = tensors;
  drop.erase(drop.begin() + 7);  // a layer-0 bias
  const std::string dropped = tensors[7].name;
  testing::WriteFile(dir.file("model.safetensors"), testing::TinySafetensors(drop));
  Status s = LoadModel(dir.path()).status();
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_TRUE(FailsWith(s, {"missing tensor '" + dropped + "'", dir.path()}));

  auto wrong = tensors;
  wrong[4].shape = {2, 8};  // k_proj: 4 rows expected
  wrong[4].values.resize(16);
  testing::WriteFile(dir.file("model.safetensors"), testing::TinySafetensors(wrong));
  s = LoadModel(dir.path()).status();
  EXPECT_TRUE(FailsWith(s, {"layers.0.wk", "[2, 8] f32", "expected [4, 8]"}));

  testing::WriteText(dir.file("config.json"), testing::TinyHfConfig(Arch::kQwen2, false));
  testing::WriteFile(dir.file("model.safetensors"), testing::TinySafetensors(tensors));
  EXPECT_TRUE(FailsWith(LoadModel(dir.path()).status(), {"missing tensor 'lm_head.weight'"}));
}

}  // namespace
}  // namespace detinfer
