// WriteHuggingFace: config.json + model.safetensors, checked by the independent parser in
// writer_test_util.h: byte-identical for the same weights, every tensor's bytes where the header
// says, the RoPE row permutation for interleaved weights, and errors naming the culprit.
#include "model/hf_writer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "model/random_init.h"
#include "model/tensor_roles.h"
#include "model/writer_test_util.h"

namespace detinfer {
namespace {

using testing::ParseSafetensors;
using testing::ReadBytes;
using testing::SmallConfig;
using testing::TempPath;

std::vector<uint8_t> ViewBytes(const TensorView& t) {
  const auto* p = static_cast<const uint8_t*>(t.data);
  return std::vector<uint8_t>(p, p + t.numel() * static_cast<int64_t>(DTypeSize(t.dtype)));
}

// The Hugging Face names, spelled out independently of the writer's table.
std::map<std::string, const TensorView*> ExpectedHf(const ModelWeights& w) {
  std::map<std::string, const TensorView*> m;
  m["model.embed_tokens.weight"] = &w.token_embedding;
  m["model.norm.weight"] = &w.final_norm;
  if (!w.config.tied_embeddings) m["lm_head.weight"] = &w.lm_head;
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& L = w.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    m[p + "input_layernorm.weight"] = &L.attn_norm;
    m[p + "self_attn.q_proj.weight"] = &L.wq;
    m[p + "self_attn.k_proj.weight"] = &L.wk;
    m[p + "self_attn.v_proj.weight"] = &L.wv;
    m[p + "self_attn.o_proj.weight"] = &L.wo;
    if (w.config.qkv_bias) {
      m[p + "self_attn.q_proj.bias"] = &L.bq;
      m[p + "self_attn.k_proj.bias"] = &L.bk;
      m[p + "self_attn.v_proj.bias"] = &L.bv;
    }
    if (w.config.qk_norm) {
      m[p + "self_attn.q_norm.weight"] = &L.q_norm;
      m[p + "self_attn.k_norm.weight"] = &L.k_norm;
    }
    m[p + "post_attention_layernorm.weight"] = &L.ffn_norm;
    m[p + "mlp.gate_proj.weight"] = &L.w_gate;
    m[p + "mlp.up_proj.weight"] = &L.w_up;
    m[p + "mlp.down_proj.weight"] = &L.w_down;
  }
  return m;
}

const char* StDType(DType d) { return d == DType::kF32 ? "F32" : d == DType::kBF16 ? "BF16" : "F16"; }

TEST(HfWriter, SameWeightsSameBytes) {
  const ModelConfig c = SmallConfig(Arch::kQwen2);
  const std::string a = TempPath("a"), b = TempPath("b"), d = TempPath("d");
  // Two independent inits with the same seed (not one model written twice).
  ASSERT_TRUE(WriteHuggingFace(*InitRandomModel(c, 9, DType::kBF16), a).ok());
  ASSERT_TRUE(WriteHuggingFace(*InitRandomModel(c, 9, DType::kBF16), b).ok());
  ASSERT_TRUE(WriteHuggingFace(*InitRandomModel(c, 10, DType::kBF16), d).ok());
  const auto st_a = ReadBytes(a + "/model.safetensors");
  ASSERT_GT(st_a.size(), 1000u);
  EXPECT_EQ(st_a, ReadBytes(b + "/model.safetensors"));
  EXPECT_EQ(ReadBytes(a + "/config.json"), ReadBytes(b + "/config.json"));
  EXPECT_NE(st_a, ReadBytes(d + "/model.safetensors"));
  EXPECT_EQ(ReadBytes(a + "/config.json"), ReadBytes(d + "/config.json"));
  // Only the two files: no temporary left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(a)) ++files;
  EXPECT_EQ(files, 2);
}

TEST(HfWriter, SafetensorsParsesBackExactly) {
  int combos = 0;
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    for (bool tied : {false, true}) {
      for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
        SCOPED_TRACE(std::string(ArchName(arch)) + (tied ? " tied " : " untied ") +
                     std::string(DTypeName(dt)));
        auto w = InitRandomModel(SmallConfig(arch, tied), 21, dt);
        ASSERT_TRUE(w.ok());
        const std::string dir = TempPath(std::to_string(combos++));
        const Status s = WriteHuggingFace(*w, dir);
        ASSERT_TRUE(s.ok()) << s.ToString();
        const auto bytes = ReadBytes(dir + "/model.safetensors");
        const auto f = ParseSafetensors(bytes);
        EXPECT_EQ(f.header_len % 8, 0u);
        EXPECT_EQ(f.header.at("__metadata__").at("format"), "pt");
        const auto expected = ExpectedHf(*w);
        std::set<std::string> got_names, want_names;
        for (const auto& [name, t] : f.tensors) got_names.insert(name);
        for (const auto& [name, t] : expected) want_names.insert(name);
        ASSERT_EQ(got_names, want_names);
        // Offsets: no holes, no overlap, covering the data exactly.
        std::vector<std::pair<uint64_t, uint64_t>> ranges;
        for (const auto& [name, t] : f.tensors) ranges.emplace_back(t.begin, t.end);
        std::sort(ranges.begin(), ranges.end());
        uint64_t at = 0;
        for (const auto& [b, e] : ranges) {
          EXPECT_EQ(b, at);
          at = e;
        }
        EXPECT_EQ(f.data_start + at, bytes.size());
        for (const auto& [name, view] : expected) {
          const auto& t = f.tensors.at(name);
          EXPECT_EQ(t.dtype, StDType(view->dtype)) << name;
          std::vector<int64_t> shape(view->shape, view->shape + view->rank);
          EXPECT_EQ(t.shape, shape) << name;
          EXPECT_EQ(t.end - t.begin, uint64_t(view->numel()) * DTypeSize(view->dtype)) << name;
          // Aligned to its element size in the file, so that a reader can map it in place.
          EXPECT_EQ((f.data_start + t.begin) % DTypeSize(view->dtype), 0u) << name;
          const std::vector<uint8_t> data(bytes.begin() + long(f.data_start + t.begin),
                                          bytes.begin() + long(f.data_start + t.end));
          EXPECT_EQ(data, ViewBytes(*view)) << name;  // rotate-half source: written unpermuted
        }
      }
    }
  }
}

TEST(HfWriter, InterleavedQKRowsAreWrittenInRotateHalfOrder) {
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    SCOPED_TRACE(ArchName(arch));
    auto w = InitRandomModel(SmallConfig(arch), 4, DType::kF32);
    ASSERT_TRUE(w.ok());
    w->config.rope_style = RopeStyle::kInterleaved;
    const ModelConfig& c = w->config;
    const int64_t hd = c.head_dim;
    // Known values: row r of wq holds r * 1000 + column; bq / q_norm element r holds r.
    LayerWeights& L = w->layers[1];
    for (int64_t r = 0; r < L.wq.shape[0]; ++r)
      for (int64_t k = 0; k < c.dim; ++k) L.wq.as<float>()[r * c.dim + k] = float(r * 1000 + k);
    if (c.qkv_bias) for (int64_t r = 0; r < L.bq.shape[0]; ++r) L.bq.as<float>()[r] = float(r);
    if (c.qk_norm) for (int64_t r = 0; r < hd; ++r) L.q_norm.as<float>()[r] = float(r);
    const std::string dir = TempPath("m");
    ASSERT_TRUE(WriteHuggingFace(*w, dir).ok());
    const auto bytes = ReadBytes(dir + "/model.safetensors");
    const auto f = ParseSafetensors(bytes);
    auto floats = [&](const std::string& name) {
      const auto& t = f.tensors.at(name);
      std::vector<float> v((t.end - t.begin) / 4);
      std::memcpy(v.data(), bytes.data() + f.data_start + t.begin, t.end - t.begin);
      return v;
    };
    // Within each head of 8 (llama/qwen2): HF row i <- interleaved 2i, row 4 + i <- 2i + 1.
    std::vector<int64_t> src;
    for (int64_t h = 0; h < c.n_heads; ++h) {
      for (int64_t i = 0; i < hd / 2; ++i) src.push_back(h * hd + 2 * i);
      for (int64_t i = 0; i < hd / 2; ++i) src.push_back(h * hd + 2 * i + 1);
    }
    if (hd == 8) {
      EXPECT_EQ(std::vector<int64_t>(src.begin(), src.begin() + 10),
                (std::vector<int64_t>{0, 2, 4, 6, 1, 3, 5, 7, 8, 10}));
    }
    const auto q = floats("model.layers.1.self_attn.q_proj.weight");
    for (int64_t r = 0; r < L.wq.shape[0]; ++r)
      for (int64_t k = 0; k < c.dim; ++k)
        ASSERT_EQ(q[size_t(r * c.dim + k)], float(src[size_t(r)] * 1000 + k)) << r << " " << k;
    if (c.qkv_bias) {
      const auto b = floats("model.layers.1.self_attn.q_proj.bias");
      for (size_t r = 0; r < b.size(); ++r) EXPECT_EQ(b[r], float(src[r])) << r;
      // v is not rotated: unpermuted.
      EXPECT_EQ(floats("model.layers.1.self_attn.v_proj.bias"),
                std::vector<float>(L.bv.as<float>(), L.bv.as<float>() + L.bv.numel()));
    }
    if (c.qk_norm) {
      const auto n = floats("model.layers.1.self_attn.q_norm.weight");
      for (size_t r = 0; r < n.size(); ++r) EXPECT_EQ(n[r], float(src[r])) << r;
    }
    // k rows follow the same per-head permutation.
    const auto k = floats("model.layers.0.self_attn.k_proj.weight");
    const TensorView& wk = w->layers[0].wk;
    for (int64_t r = 0; r < wk.shape[0]; ++r)
      ASSERT_EQ(k[size_t(r * c.dim)], wk.as<float>()[src[size_t(r)] * c.dim]) << r;
  }
}

TEST(HfWriter, ConfigJsonDescribesTheModel) {
  ModelConfig c = SmallConfig(Arch::kQwen2, /*tied=*/true);
  auto w = InitRandomModel(c, 1, DType::kBF16);
  const std::string dir = TempPath("m");
  ASSERT_TRUE(WriteHuggingFace(*w, dir).ok());
  const auto text = ReadBytes(dir + "/config.json");
  const auto j = nlohmann::json::parse(text.begin(), text.end());
  EXPECT_EQ(j.at("architectures"), nlohmann::json::array({"Qwen2ForCausalLM"}));
  EXPECT_EQ(j.at("model_type"), "qwen2");
  EXPECT_EQ(j.at("hidden_size"), 32);
  EXPECT_EQ(j.at("intermediate_size"), 48);
  EXPECT_EQ(j.at("num_hidden_layers"), 2);
  EXPECT_EQ(j.at("num_attention_heads"), 4);
  EXPECT_EQ(j.at("num_key_value_heads"), 2);
  EXPECT_EQ(j.at("head_dim"), 8);
  EXPECT_EQ(j.at("vocab_size"), 37);
  EXPECT_EQ(j.at("max_position_embeddings"), 128);
  EXPECT_EQ(j.at("rope_theta").get<double>(), 1e6);
  EXPECT_EQ(j.at("rms_norm_eps").get<double>(), 1e-6);  // the decimal, not the float widened
  EXPECT_EQ(j.at("tie_word_embeddings"), true);
  EXPECT_EQ(j.at("attention_bias"), true);
  EXPECT_EQ(j.at("torch_dtype"), "bfloat16");
  auto llama = HuggingFaceConfigJson(*InitRandomModel(SmallConfig(Arch::kLlama), 1, DType::kF16));
  ASSERT_TRUE(llama.ok());
  const auto jl = nlohmann::json::parse(*llama);
  EXPECT_EQ(jl.at("architectures")[0], "LlamaForCausalLM");
  EXPECT_EQ(jl.at("attention_bias"), false);
  EXPECT_EQ(jl.at("torch_dtype"), "float16");
  EXPECT_EQ(jl.at("rms_norm_eps").get<double>(), 1e-5);
  EXPECT_EQ(nlohmann::json::parse(*HuggingFaceConfigJson(
                *InitRandomModel(SmallConfig(Arch::kQwen3), 1, DType::kF32)))
                .at("architectures")[0],
            "Qwen3ForCausalLM");
}

TEST(HfWriter, ErrorsNameTheCulprit) {
  // llama with q/k/v bias: transformers' attention_bias would also expect an o_proj bias.
  auto w = InitRandomModel(SmallConfig(Arch::kQwen2), 1, DType::kF32);
  w->config.arch = Arch::kLlama;
  const std::string dir = TempPath("bad");
  Status s = WriteHuggingFace(*w, dir);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported) << s.ToString();
  EXPECT_NE(s.message().find("bias"), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(dir));  // refused before writing anything

  auto w2 = InitRandomModel(SmallConfig(Arch::kLlama), 1, DType::kF32);
  w2->layers[1].wk.shape[0] = 7;
  s = WriteHuggingFace(*w2, dir);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("layer 1 wk"), std::string::npos) << s.ToString();

  // An output "directory" below a regular file.
  auto w3 = InitRandomModel(SmallConfig(Arch::kLlama), 1, DType::kF32);
  const std::string file = TempPath("plain_file");
  { std::ofstream(file) << "x"; }
  s = WriteHuggingFace(*w3, file + "/sub");
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find(file), std::string::npos) << s.ToString();
  s = WriteHuggingFace(*w3, file);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(file), std::string::npos) << s.ToString();
}

TEST(RopeSourceRow, KnownValuesAndInverse) {
  // head_dim 4: rotate-half rows [0 1 | 2 3] hold interleaved rows [0 2 | 1 3].
  const std::vector<int64_t> il_to_rh = {0, 2, 1, 3, 4, 6, 5, 7};
  for (int64_t r = 0; r < 8; ++r) {
    EXPECT_EQ(RopeSourceRow(r, 4, RopeStyle::kInterleaved, RopeStyle::kRotateHalf), il_to_rh[size_t(r)]);
    EXPECT_EQ(RopeSourceRow(r, 4, RopeStyle::kRotateHalf, RopeStyle::kRotateHalf), r);
  }
  for (int64_t hd : {2, 8, 64, 128}) {
    for (int64_t r = 0; r < 3 * hd; ++r) {
      const int64_t there = RopeSourceRow(r, hd, RopeStyle::kInterleaved, RopeStyle::kRotateHalf);
      EXPECT_EQ(RopeSourceRow(there, hd, RopeStyle::kRotateHalf, RopeStyle::kInterleaved), r);
      EXPECT_EQ(there / hd, r / hd);  // stays within its head
    }
  }
}

}  // namespace
}  // namespace detinfer
