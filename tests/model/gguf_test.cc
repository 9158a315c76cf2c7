// GGUF reader and loader: the tiny model in every architecture loads; crafted files (one per
// attack class, and truncation at every byte of the header) are rejected with messages naming
// the file and the key or tensor at fault.
#include <gtest/gtest.h>

#include "model/gguf.h"
#include "model/gguf_loader.h"
#include "model/loader.h"
#include "tiny_model.h"

namespace detinfer {
namespace {

using testing::Bytes;
using testing::FailsWith;
using testing::GgufBuilder;
using testing::TempDir;

Status Open(const TempDir& dir, const Bytes& b) {
  testing::WriteFile(dir.file("m.gguf"), b);
  return GgufFile::Open(dir.file("m.gguf")).status();
}

Status Load(const TempDir& dir, GgufBuilder g) {
  testing::WriteFile(dir.file("m.gguf"), g.Build());
  return LoadModel(dir.file("m.gguf")).status();
}

TEST(Gguf, TinyArchitecturesLoad) {
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    for (bool tied : {true, false}) {
      SCOPED_TRACE(std::string(ArchName(arch)) + (tied ? " tied" : " untied"));
      TempDir dir;
      testing::WriteFile(dir.file("m.gguf"), testing::TinyGguf(arch, tied).Build());
      Result<ModelWeights> w = LoadModel(dir.file("m.gguf"));
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      const ModelConfig& c = w->config;
      EXPECT_EQ(c.arch, arch);
      EXPECT_EQ(c.rope_style, arch == Arch::kLlama ? RopeStyle::kInterleaved
                                                   : RopeStyle::kRotateHalf);
      EXPECT_EQ(c.vocab_size, testing::kTinyVocab);
      EXPECT_EQ(c.head_dim, 4);
      EXPECT_EQ(c.max_seq_len, testing::kTinyCtx);
      EXPECT_EQ(c.rope_theta, 1e6);
      EXPECT_EQ(c.qkv_bias, arch == Arch::kQwen2);
      EXPECT_EQ(c.qk_norm, arch == Arch::kQwen3);
      EXPECT_EQ(c.tied_embeddings, tied);
      // ne = [in, out] in the file is W [out, in] here; values in place.
      EXPECT_EQ(w->layers[0].w_down.ShapeString(), "[8, 12] f32");
      const auto tensors = testing::TinyTensors(arch, false, tied);
      EXPECT_TRUE(testing::BitsEqual(static_cast<const float*>(w->layers[1].w_down.data),
                                     tensors.back().values.data(), tensors.back().values.size()));
    }
  }
}

TEST(Gguf, MetadataValues) {
  TempDir dir;
  GgufBuilder g = testing::TinyGguf(Arch::kLlama);
  g.KvRaw("x.i8", 1, Bytes{0xff});
  testing::WriteFile(dir.file("m.gguf"), g.Build());
  Result<GgufFile> f = GgufFile::Open(dir.file("m.gguf"));
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->data_offset() % 32, 0u);
  EXPECT_EQ(*f->GetInt("x.i8", -5, 5), -1);
  EXPECT_EQ(*f->GetString("general.architecture"), "llama");
  EXPECT_EQ(f->Find("tokenizer.ggml.tokens")->strings[3], "t3");
  EXPECT_TRUE(FailsWith(f->GetInt("llama.block_count", 3, 9).status(),
                        {"llama.block_count", "= 2", "outside [3, 9]"}));
  EXPECT_TRUE(FailsWith(f->GetFloat("general.architecture").status(),
                        {"general.architecture", "string"}));
  EXPECT_TRUE(FailsWith(f->GetString("nope").status(), {"'nope' is missing"}));
}

TEST(Gguf, TruncatedAnywhereIsRejected) {
  TempDir dir;
  GgufBuilder g = testing::TinyGguf(Arch::kQwen2);
  const Bytes full = g.Build();
  // Every byte through the header and tensor infos (each section boundary included), then a
  // sweep through the data.
  for (size_t len = 0; len < full.size(); len += (len < g.data_start + 8 ? 1 : 61)) {
    EXPECT_TRUE(FailsWith(Open(dir, Bytes(full.begin(), full.begin() + len)),
                          {dir.file("m.gguf")})) << "length " << len;
  }
  for (size_t len : {g.kv_start, g.infos_start, g.data_start}) {
    EXPECT_FALSE(Open(dir, Bytes(full.begin(), full.begin() + len)).ok());
  }
  EXPECT_TRUE(Open(dir, full).ok());
}

TEST(Gguf, CraftedHeadersAreRejected) {
  TempDir dir;
  auto base = [] {
    GgufBuilder g;
    g.KvString("general.architecture", "llama");
    g.AddF32("a", {4, 2}, std::vector<float>(8, 1.f));
    g.AddF32("b", {4}, std::vector<float>(4, 2.f));
    return g;
  };
  auto expect = [&](GgufBuilder g, std::initializer_list<std::string> parts) {
    const Status s = Open(dir, g.Build());
    EXPECT_TRUE(FailsWith(s, parts));
    EXPECT_TRUE(FailsWith(s, {dir.file("m.gguf")}));
  };
  GgufBuilder g = base();
  EXPECT_TRUE(Open(dir, g.Build()).ok());

  g = base(); g.version = 1; expect(g, {"GGUF version 1"});
  g = base(); g.version = 0x03000000; expect(g, {"big-endian"});
  Bytes bad_magic = base().Build();
  bad_magic[0] = 'X';
  EXPECT_TRUE(FailsWith(Open(dir, bad_magic), {"bad magic"}));

  // Tensor offset past the end of the file.
  g = base(); g.tensors[1].offset = 1 << 20; expect(g, {"tensor 'b'", "past the end"});
  // Offset whose sum with the data start overflows 64 bits.
  g = base(); g.tensors[1].offset = static_cast<int64_t>(INT64_MAX - 31); expect(g, {"tensor 'b'"});
  // Dims whose element count overflows int64.
  g = base(); g.tensors[0].ne = {1ull << 32, 1ull << 32}; expect(g, {"tensor 'a'", "64 bits"});
  g = base(); g.tensors[0].ne = {UINT64_MAX}; expect(g, {"tensor 'a'", "too large"});
  g = base(); g.tensors[0].ne = {1, 1, 1, 1, 1}; expect(g, {"tensor 'a'", "n_dims 5"});
  // Misaligned and overlapping tensors.
  g = base(); g.tensors[1].offset = 8; expect(g, {"tensor 'b'", "offset 8", "alignment 32"});
  g = base(); g.tensors[1].offset = 0; expect(g, {"'a' and 'b' overlap"});
  g = base(); g.KvU32("general.alignment", 1); g.alignment = 1; g.tensors[1].offset = 34;
  expect(g, {"tensor 'b'", "not aligned to its f32"});
  g = base(); g.KvU32("general.alignment", 24); expect(g, {"general.alignment", "power of two"});
  g = base(); g.KvU32("general.alignment", 0); expect(g, {"general.alignment", "outside"});
  // Unknown types, block types detinfer does not read, and rows that are not whole blocks.
  g = base(); g.tensors[0].type = 10; expect(g, {"tensor 'a'", "Q2_K", "reads F32", "Q6_K"});
  g = base(); g.tensors[0].type = 999; expect(g, {"tensor 'a'", "type 999"});
  EXPECT_EQ(Open(dir, [&] { GgufBuilder q = base(); q.tensors[0].type = 16; return q.Build(); }())
                .code(), StatusCode::kUnsupported);  // IQ2_XXS
  g = base(); g.tensors[0].type = 12;
  expect(g, {"tensor 'a'", "Q4_K (blocks of 256)", "row length ne[0]", "not a multiple"});
  // A block array longer than the bytes it has: 4 rows x 8 Q4_0 blocks = 576 bytes.
  g = base(); g.tensors[0].type = 2; g.tensors[0].ne = {256, 4}; expect(g, {"'a'"});
  // Huge string and array lengths.
  g = base(); g.KvRaw("s", 8, [] { Bytes b; testing::Put(&b, UINT64_MAX); return b; }());
  expect(g, {"metadata 's'", "truncated"});
  g = base(); g.KvRaw("arr", 9, [] {
    Bytes b; testing::Put(&b, uint32_t{8}); testing::Put(&b, uint64_t{1} << 61); return b; }());
  expect(g, {"metadata 'arr'", "2305843009213693952 strings"});
  g = base(); g.KvRaw("arr", 9, [] {
    Bytes b; testing::Put(&b, uint32_t{12}); testing::Put(&b, uint64_t{1} << 62); return b; }());
  expect(g, {"metadata 'arr'", "4611686018427387904 f64 elements"});
  g = base(); g.KvRaw("arr", 9, [] {
    Bytes b; testing::Put(&b, uint32_t{9}); testing::Put(&b, uint64_t{1}); return b; }());
  expect(g, {"metadata 'arr'", "nested"});
  g = base(); g.KvRaw("k", 77, Bytes{}); expect(g, {"metadata 'k'", "unknown value type 77"});
  // Counts larger than the file could hold, duplicate keys and tensor names.
  Bytes counts = base().Build();
  std::memset(counts.data() + 8, 0xff, 8);
  EXPECT_TRUE(FailsWith(Open(dir, counts), {"claims", "tensors"}));
  g = base(); g.KvString("general.architecture", "x"); expect(g, {"duplicate metadata key"});
  g = base(); g.tensors[1].name = "a"; expect(g, {"duplicate tensor name 'a'"});
}

TEST(Gguf, InconsistentModelsAreRejected) {
  TempDir dir;
  auto without = [](GgufBuilder g, const std::string& key) {
    for (size_t i = 0; i < g.kvs.size(); ++i) {
      if (g.kvs[i].first == key) g.kvs.erase(g.kvs.begin() + static_cast<long>(i));
    }
    for (size_t i = 0; i < g.tensors.size(); ++i) {
      if (g.tensors[i].name == key) g.tensors.erase(g.tensors.begin() + static_cast<long>(i));
    }
    return g;
  };
  const GgufBuilder q3 = testing::TinyGguf(Arch::kQwen3);
  EXPECT_TRUE(Load(dir, q3).ok());
  EXPECT_TRUE(FailsWith(Load(dir, without(q3, "blk.1.attn_k_norm.weight")),
                        {"missing tensor 'blk.1.attn_k_norm.weight'"}));
  EXPECT_TRUE(FailsWith(Load(dir, without(q3, "qwen3.block_count")),
                        {"metadata 'qwen3.block_count' is missing"}));
  GgufBuilder g = without(q3, "qwen3.attention.head_count_kv");
  g.KvU32("qwen3.attention.head_count_kv", 3);
  EXPECT_TRUE(FailsWith(Load(dir, g), {"n_heads (2) is not a multiple of n_kv_heads (3)"}));
  g = without(q3, "tokenizer.ggml.tokens");
  g.KvStrings("tokenizer.ggml.tokens", {"a", "b"});
  EXPECT_TRUE(FailsWith(Load(dir, g), {"tokenizer.ggml.tokens has 2 entries", "16 rows"}));
  g = without(q3, "general.architecture");
  g.KvString("general.architecture", "gpt2");
  EXPECT_TRUE(FailsWith(Load(dir, g), {"'gpt2'"}));
  // A tensor the model would not use is refused, not skipped: without it the file's model is
  // not what would run.
  g = q3;
  g.AddF32("pos_embd.weight", {8}, std::vector<float>(8, 0.5f));
  EXPECT_TRUE(FailsWith(Load(dir, g), {"does not use", "'pos_embd.weight'"}));
  // Llama-3.1's RoPE frequency divisors are read (one per frequency), and checked.
  g = q3;
  g.AddF32("rope_freqs.weight", {2}, {1.0f, 8.0f});
  EXPECT_TRUE(Load(dir, g).ok());
  g = q3;
  g.AddF32("rope_freqs.weight", {3}, {1.0f, 8.0f, 8.0f});
  EXPECT_TRUE(FailsWith(Load(dir, g), {"rope_freqs.weight must be f32 [2]"}));
  g = q3;
  g.AddF32("rope_freqs.weight", {2}, {1.0f, -8.0f});
  EXPECT_TRUE(FailsWith(Load(dir, g), {"frequency divisor 1"}));
  g = q3;
  for (auto& t : g.tensors) {
    if (t.name == "blk.0.ffn_up.weight") t.ne = {8, 6}, t.data.resize(8 * 6 * 4);
  }
  EXPECT_TRUE(FailsWith(Load(dir, g), {"layers.0.w_up", "[6, 8] f32", "expected [12, 8]"}));
  g = q3;
  g.KvU32("qwen3.rope.dimension_count", 2);
  EXPECT_TRUE(FailsWith(Load(dir, g), {"rope.dimension_count 2"}));
}

// llama.cpp's linear RoPE scaling keys, read as llama.cpp reads them: rope.scaling.type absent
// means linear, the factor in rope.scaling.factor or the older rope.scale_linear, 0 or type
// "none" is no scaling; every frequency divided by the factor (head_dim 4: two divisors).
TEST(Gguf, LinearRopeScalingKeysAreReadAsLlamaCppReadsThem) {
  TempDir dir;
  const GgufBuilder q3 = testing::TinyGguf(Arch::kQwen3);
  const auto scaling = [&](GgufBuilder g) -> Result<RopeScaling> {
    testing::WriteFile(dir.file("m.gguf"), g.Build());
    DETINFER_ASSIGN_OR_RETURN(ModelWeights w, LoadModel(dir.file("m.gguf")));
    return w.config.rope_scaling;
  };
  const auto expect_linear = [&](const GgufBuilder& g, float factor) {
    auto s = scaling(g);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->kind, RopeScaling::Kind::kLinear);
    EXPECT_EQ(s->factor, double(factor));
    EXPECT_EQ(s->divisors, std::vector<float>(2, factor));
  };
  const auto expect_none = [&](const GgufBuilder& g) {
    auto s = scaling(g);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ(s->kind, RopeScaling::Kind::kNone);
    EXPECT_TRUE(s->divisors.empty());
  };
  GgufBuilder g = q3;
  g.KvString("qwen3.rope.scaling.type", "linear");
  g.KvF32("qwen3.rope.scaling.factor", 8.0f);
  expect_linear(g, 8.0f);
  g = q3;  // no type: linear, as llama.cpp's default
  g.KvF32("qwen3.rope.scaling.factor", 2.5f);
  expect_linear(g, 2.5f);
  g = q3;  // the older key
  g.KvF32("qwen3.rope.scale_linear", 4.0f);
  expect_linear(g, 4.0f);
  g = q3;  // type none switches a factor off (llama.cpp: "never scale if scaling type is none")
  g.KvString("qwen3.rope.scaling.type", "none");
  g.KvF32("qwen3.rope.scaling.factor", 8.0f);
  expect_none(g);
  g = q3;  // a factor of 0 is none
  g.KvF32("qwen3.rope.scaling.factor", 0.0f);
  expect_none(g);
  g = q3;
  g.KvString("qwen3.rope.scaling.type", "linear");
  expect_none(g);
  // Refused by name.
  g = q3;
  g.KvString("qwen3.rope.scaling.type", "yarn");
  g.KvF32("qwen3.rope.scaling.factor", 4.0f);
  EXPECT_TRUE(FailsWith(Load(dir, g), {"qwen3.rope.scaling.type 'yarn'"}));
  g = q3;
  g.KvF32("qwen3.rope.scaling.factor", -2.0f);
  EXPECT_TRUE(FailsWith(Load(dir, g), {"qwen3.rope.scaling.factor -2"}));
  g = q3;
  g.KvF32("qwen3.rope.scaling.factor", 8.0f);
  g.AddF32("rope_freqs.weight", {2}, {1.0f, 8.0f});
  EXPECT_TRUE(FailsWith(Load(dir, g), {"qwen3.rope.scaling.factor", "'rope_freqs.weight'"}));
}

}  // namespace
}  // namespace detinfer
