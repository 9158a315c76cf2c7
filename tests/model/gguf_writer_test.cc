// WriteGguf: a GGUF v3 file, checked by the independent parser in writer_test_util.h: header,
// metadata, each tensor's ne/type/offset alignment, data bytes (with llama's q/k rows in the
// interleaved order llama.cpp uses), determinism and errors naming the culprit.
#include "model/gguf_writer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "model/random_init.h"
#include "model/tensor_roles.h"
#include "model/writer_test_util.h"

namespace detinfer {
namespace {

using testing::GgufFile;
using testing::ParseGguf;
using testing::ReadBytes;
using testing::SmallConfig;
using testing::TempPath;

struct Expected {
  const TensorView* view;
  bool rope_rows;  // q/k rows, biases and norms
};

std::map<std::string, Expected> ExpectedGguf(const ModelWeights& w) {
  std::map<std::string, Expected> m;
  m["token_embd.weight"] = {&w.token_embedding, false};
  m["output_norm.weight"] = {&w.final_norm, false};
  if (!w.config.tied_embeddings) m["output.weight"] = {&w.lm_head, false};
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& L = w.layers[l];
    const std::string p = "blk." + std::to_string(l) + ".";
    m[p + "attn_norm.weight"] = {&L.attn_norm, false};
    m[p + "attn_q.weight"] = {&L.wq, true};
    m[p + "attn_k.weight"] = {&L.wk, true};
    m[p + "attn_v.weight"] = {&L.wv, false};
    m[p + "attn_output.weight"] = {&L.wo, false};
    if (w.config.qkv_bias) {
      m[p + "attn_q.bias"] = {&L.bq, true};
      m[p + "attn_k.bias"] = {&L.bk, true};
      m[p + "attn_v.bias"] = {&L.bv, false};
    }
    if (w.config.qk_norm) {
      m[p + "attn_q_norm.weight"] = {&L.q_norm, true};
      m[p + "attn_k_norm.weight"] = {&L.k_norm, true};
    }
    m[p + "ffn_norm.weight"] = {&L.ffn_norm, false};
    m[p + "ffn_gate.weight"] = {&L.w_gate, false};
    m[p + "ffn_up.weight"] = {&L.w_up, false};
    m[p + "ffn_down.weight"] = {&L.w_down, false};
  }
  return m;
}

uint32_t GgmlType(DType d) { return d == DType::kF32 ? 0 : d == DType::kF16 ? 1 : 30; }

// The bytes a tensor should have in the file: rows reordered from rotate-half to interleaved
// when `to_interleaved` (spelled out here from the definition, not via RopeSourceRow).
std::vector<uint8_t> ExpectedBytes(const TensorView& t, int64_t hd, bool to_interleaved) {
  const size_t es = DTypeSize(t.dtype);
  const int64_t rows = t.shape[0], row_elems = t.rank == 2 ? t.shape[1] : 1;
  const size_t row_bytes = size_t(row_elems) * es;
  std::vector<uint8_t> out(size_t(rows) * row_bytes);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t src = r;
    if (to_interleaved) {
      const int64_t h = r / hd, j = r % hd;
      // Interleaved pair i = (2i, 2i+1) comes from rotate-half (i, hd/2 + i).
      src = h * hd + (j % 2 == 0 ? j / 2 : hd / 2 + j / 2);
    }
    std::memcpy(out.data() + size_t(r) * row_bytes,
                static_cast<const uint8_t*>(t.data) + size_t(src) * row_bytes, row_bytes);
  }
  return out;
}

void CheckFile(const ModelWeights& w, const std::string& path) {
  const auto bytes = ReadBytes(path);
  const GgufFile g = ParseGguf(bytes);
  const ModelConfig& c = w.config;
  const std::string arch(ArchName(c.arch));
  EXPECT_EQ(std::memcmp(bytes.data(), "GGUF", 4), 0);
  EXPECT_EQ(g.version, 3u);
  const auto expected = ExpectedGguf(w);
  EXPECT_EQ(g.n_tensors, expected.size());
  EXPECT_EQ(g.n_kv, g.kv.size());
  EXPECT_EQ(g.kv.at("general.architecture"), arch);
  EXPECT_EQ(g.kv.at("general.alignment"), 32);
  EXPECT_EQ(g.kv_type.at("general.alignment"), 4u);  // u32, as llama.cpp requires
  EXPECT_TRUE(g.kv.count("general.name"));
  EXPECT_EQ(g.kv.at(arch + ".context_length"), c.max_seq_len);
  EXPECT_EQ(g.kv.at(arch + ".embedding_length"), c.dim);
  EXPECT_EQ(g.kv.at(arch + ".block_count"), c.n_layers);
  EXPECT_EQ(g.kv.at(arch + ".feed_forward_length"), c.ffn_dim);
  EXPECT_EQ(g.kv.at(arch + ".attention.head_count"), c.n_heads);
  EXPECT_EQ(g.kv.at(arch + ".attention.head_count_kv"), c.n_kv_heads);
  EXPECT_EQ(g.kv.at(arch + ".attention.key_length"), c.head_dim);
  EXPECT_EQ(g.kv.at(arch + ".attention.value_length"), c.head_dim);
  EXPECT_EQ(g.kv_type.at(arch + ".rope.freq_base"), 6u);
  EXPECT_EQ(g.kv.at(arch + ".rope.freq_base").get<float>(), float(c.rope_theta));
  EXPECT_EQ(g.kv.at(arch + ".attention.layer_norm_rms_epsilon").get<float>(), c.norm_eps);
  EXPECT_EQ(g.data_start % 32, 0u);
  const bool to_interleaved =
      c.arch == Arch::kLlama && c.rope_style == RopeStyle::kRotateHalf;
  uint64_t end = 0;
  for (const auto& [name, e] : expected) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(g.tensors.count(name));
    const auto& t = g.tensors.at(name);
    const TensorView& v = *e.view;
    ASSERT_EQ(t.ne.size(), size_t(v.rank));
    if (v.rank == 2) {  // innermost first: W [out, in] -> ne [in, out]
      EXPECT_EQ(t.ne[0], uint64_t(v.shape[1]));
      EXPECT_EQ(t.ne[1], uint64_t(v.shape[0]));
    } else {
      EXPECT_EQ(t.ne[0], uint64_t(v.shape[0]));
    }
    EXPECT_EQ(t.type, GgmlType(v.dtype));
    EXPECT_EQ(t.offset % 32, 0u);
    const uint64_t n = uint64_t(v.numel()) * DTypeSize(v.dtype);
    ASSERT_LE(g.data_start + t.offset + n, bytes.size());
    end = std::max(end, t.offset + n);
    const std::vector<uint8_t> data(bytes.begin() + long(g.data_start + t.offset),
                                    bytes.begin() + long(g.data_start + t.offset + n));
    EXPECT_EQ(data, ExpectedBytes(v, c.head_dim, e.rope_rows && to_interleaved));
  }
  EXPECT_EQ(g.data_start + end, bytes.size());  // nothing after the last tensor
  // No two tensors overlap.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, e] : expected) {
    const auto& t = g.tensors.at(name);
    ranges.emplace_back(t.offset, t.offset + uint64_t(e.view->numel()) * DTypeSize(e.view->dtype));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) EXPECT_LE(ranges[i - 1].second, ranges[i].first);
}

TEST(GgufWriter, ParsesBackExactly) {
  int n = 0;
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    for (bool tied : {false, true}) {
      for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
        SCOPED_TRACE(std::string(ArchName(arch)) + (tied ? " tied " : " untied ") +
                     std::string(DTypeName(dt)));
        auto w = InitRandomModel(SmallConfig(arch, tied), 31, dt);
        ASSERT_TRUE(w.ok());
        const std::string path = TempPath(std::to_string(n++) + ".gguf");
        const Status s = WriteGguf(*w, path);
        ASSERT_TRUE(s.ok()) << s.ToString();
        CheckFile(*w, path);
      }
    }
  }
}

TEST(GgufWriter, LlamaQKRowsAreInterleavedOnlyWhenTheSourceIsNot) {
  auto w = InitRandomModel(SmallConfig(Arch::kLlama), 6, DType::kF32);
  ASSERT_TRUE(w.ok());
  // Known values: row r of wq holds r * 1000 + column.
  const ModelConfig& c = w->config;
  TensorView& wq = w->layers[0].wq;
  for (int64_t r = 0; r < wq.shape[0]; ++r)
    for (int64_t k = 0; k < c.dim; ++k) wq.as<float>()[r * c.dim + k] = float(r * 1000 + k);
  auto first_column = [&](const std::string& path) {
    const auto bytes = ReadBytes(path);
    const GgufFile g = ParseGguf(bytes);
    std::vector<int64_t> rows;
    for (int64_t r = 0; r < wq.shape[0]; ++r) {
      float v;
      std::memcpy(&v, bytes.data() + g.data_start + g.tensors.at("blk.0.attn_q.weight").offset +
                          size_t(r * c.dim) * 4, 4);
      rows.push_back(int64_t(v) / 1000);
    }
    return rows;
  };
  const std::string a = TempPath("rh.gguf"), b = TempPath("il.gguf");
  ASSERT_TRUE(WriteGguf(*w, a).ok());
  // head_dim 8: interleaved row 2i <- rotate-half i, 2i+1 <- 4 + i.
  const auto rh = first_column(a);
  EXPECT_EQ(std::vector<int64_t>(rh.begin(), rh.begin() + 10),
            (std::vector<int64_t>{0, 4, 1, 5, 2, 6, 3, 7, 8, 12}));
  w->config.rope_style = RopeStyle::kInterleaved;  // already llama.cpp's order: unpermuted
  ASSERT_TRUE(WriteGguf(*w, b).ok());
  const auto il = first_column(b);
  for (size_t r = 0; r < il.size(); ++r) EXPECT_EQ(il[r], int64_t(r));
  CheckFile(*w, b);
}

TEST(GgufWriter, SameWeightsSameBytes) {
  const ModelConfig c = SmallConfig(Arch::kQwen3, /*tied=*/true);
  const std::string a = TempPath("a.gguf"), b = TempPath("b.gguf"), d = TempPath("d.gguf");
  ASSERT_TRUE(WriteGguf(*InitRandomModel(c, 12, DType::kF16), a).ok());
  ASSERT_TRUE(WriteGguf(*InitRandomModel(c, 12, DType::kF16), b).ok());
  ASSERT_TRUE(WriteGguf(*InitRandomModel(c, 13, DType::kF16), d).ok());
  const auto ba = ReadBytes(a);
  ASSERT_GT(ba.size(), 1000u);
  EXPECT_EQ(ba, ReadBytes(b));
  EXPECT_NE(ba, ReadBytes(d));
  EXPECT_EQ(ba.size(), ReadBytes(d).size());
  EXPECT_FALSE(std::filesystem::exists(a + ".tmp"));
}

TEST(GgufWriter, ErrorsNameTheCulprit) {
  auto w = InitRandomModel(SmallConfig(Arch::kQwen2), 1, DType::kBF16);
  const std::string missing_dir = TempPath("no_such_dir") + "/model.gguf";
  Status s = WriteGguf(*w, missing_dir);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_NE(s.message().find(missing_dir), std::string::npos) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(missing_dir));

  w->layers[0].bq = TensorView();  // the config says qwen2 has q bias
  s = WriteGguf(*w, TempPath("x.gguf"));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("layer 0 bq"), std::string::npos) << s.ToString();

  auto w2 = InitRandomModel(SmallConfig(Arch::kLlama), 1, DType::kBF16);
  w2->layers.pop_back();
  s = WriteGguf(*w2, TempPath("y.gguf"));
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("layers"), std::string::npos) << s.ToString();
}

// Extra metadata (a source file's tokenizer.* pairs) is written verbatim: every scalar type at
// its width, strings, numeric and string arrays, read back by the independent parser; a key the
// writer owns is refused.
TEST(GgufWriter, ExtraMetadataIsWrittenVerbatim) {
  auto w = InitRandomModel(SmallConfig(Arch::kLlama), 3, DType::kF32);
  ASSERT_TRUE(w.ok());
  const int32_t ids[3] = {-7, 0, 2147483647};
  auto scalar = [](GgufType t, int64_t i, uint64_t u, double f) {
    GgufValue v;
    v.type = t;
    v.i = i;
    v.u = u;
    v.f = f;
    return v;
  };
  std::vector<std::pair<std::string, GgufValue>> values = {
      {"tokenizer.u8", scalar(GgufType::kU8, 0, 250, 0)},
      {"tokenizer.i8", scalar(GgufType::kI8, -100, 0, 0)},
      {"tokenizer.u16", scalar(GgufType::kU16, 0, 65000, 0)},
      {"tokenizer.i16", scalar(GgufType::kI16, -30000, 0, 0)},
      {"tokenizer.u32", scalar(GgufType::kU32, 0, 4000000000u, 0)},
      {"tokenizer.i32", scalar(GgufType::kI32, -2000000000, 0, 0)},
      {"tokenizer.f32", scalar(GgufType::kF32, 0, 0, 0.25)},
      {"tokenizer.bool", scalar(GgufType::kBool, 0, 1, 0)},
      {"tokenizer.u64", scalar(GgufType::kU64, 0, 1ull << 40, 0)},
      {"tokenizer.i64", scalar(GgufType::kI64, -(1ll << 40), 0, 0)},
      {"tokenizer.f64", scalar(GgufType::kF64, 0, 0, -1.0 / 3.0)},
  };
  GgufValue str;
  str.type = GgufType::kString;
  str.str = "{% for m in messages %}{{ m.content }}{% endfor %}";
  values.push_back({"tokenizer.chat_template", str});
  GgufValue nums;
  nums.type = GgufType::kArray;
  nums.elem_type = GgufType::kI32;
  nums.count = 3;
  nums.raw = reinterpret_cast<const uint8_t*>(ids);
  values.push_back({"tokenizer.ggml.token_type", nums});
  GgufValue strs;
  strs.type = GgufType::kArray;
  strs.elem_type = GgufType::kString;
  strs.count = 3;
  strs.strings = {"<unk>", "\xe2\x96\x81the", ""};
  values.push_back({"tokenizer.ggml.tokens", strs});
  std::vector<GgufExtraKv> extra;
  for (const auto& [k, v] : values) extra.push_back({k, &v});

  const std::string path = TempPath("extra.gguf");
  const Status s = WriteGguf(*w, path, extra);
  ASSERT_TRUE(s.ok()) << s.ToString();
  GgufFile g = ParseGguf(ReadBytes(path));
  EXPECT_EQ(g.kv["tokenizer.u8"], 250);
  EXPECT_EQ(g.kv["tokenizer.i8"], -100);
  EXPECT_EQ(g.kv["tokenizer.u16"], 65000);
  EXPECT_EQ(g.kv["tokenizer.i16"], -30000);
  EXPECT_EQ(g.kv["tokenizer.u32"], 4000000000u);
  EXPECT_EQ(g.kv["tokenizer.i32"], -2000000000);
  EXPECT_EQ(g.kv["tokenizer.f32"], 0.25);
  EXPECT_EQ(g.kv["tokenizer.bool"], true);
  EXPECT_EQ(g.kv["tokenizer.u64"], 1ull << 40);
  EXPECT_EQ(g.kv["tokenizer.i64"], -(1ll << 40));
  EXPECT_EQ(g.kv["tokenizer.f64"], -1.0 / 3.0);
  EXPECT_EQ(g.kv["tokenizer.chat_template"], std::string(str.str));
  EXPECT_EQ(g.kv["tokenizer.ggml.token_type"], nlohmann::json::array({-7, 0, 2147483647}));
  EXPECT_EQ(g.kv["tokenizer.ggml.tokens"], nlohmann::json::array({"<unk>", "\xe2\x96\x81the", ""}));
  EXPECT_EQ(g.kv_type["tokenizer.i16"], 3u);
  EXPECT_EQ(g.kv_type["tokenizer.ggml.tokens"], 9u);
  EXPECT_EQ(g.kv["general.architecture"], "llama");  // the writer's own pairs are still there
  CheckFile(*w, path);

  const std::vector<GgufExtraKv> owned = {{"general.name", &str}};
  const Status bad = WriteGguf(*w, TempPath("owned.gguf"), owned);
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("general.name"), std::string::npos) << bad.ToString();
}

}  // namespace
}  // namespace detinfer
