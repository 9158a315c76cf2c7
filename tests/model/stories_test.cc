// The shared stories260K model in all its formats: each loads with the configuration
// REFERENCE.md gives, and the formats hold the same weights bit for bit.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "core/dtype.h"
#include "model/loader.h"
#include "model_test_util.h"

namespace detinfer {
namespace {

using testing::StoriesDir;

ModelWeights LoadStories(const std::string& rel) {
  Result<ModelWeights> w = LoadModel(StoriesDir() + "/" + rel);
  EXPECT_TRUE(w.ok()) << w.status().ToString();
  return w.ok() ? std::move(w).value() : ModelWeights{};
}

void ExpectStoriesConfig(const ModelWeights& w, int64_t ctx) {
  const ModelConfig& c = w.config;
  EXPECT_EQ(c.arch, Arch::kLlama);
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.ffn_dim, 172);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_seq_len, ctx);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.norm_eps, 1e-5f);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.qk_norm);
  ASSERT_EQ(w.layers.size(), 5u);
}

TEST(StoriesModel, Llama2cLoads) {
  DETINFER_REQUIRE_STORIES();
  ModelWeights w = LoadStories("stories260K.bin");
  ExpectStoriesConfig(w, 512);
  EXPECT_EQ(w.format, ModelFormat::kLlama2c);
  EXPECT_TRUE(w.config.tied_embeddings);
  EXPECT_EQ(w.config.rope_style, RopeStyle::kInterleaved);
  EXPECT_EQ(w.lm_head.data, w.token_embedding.data);
  // The embedding is the first array after the 28-byte header.
  ASSERT_EQ(w.files.size(), 1u);
  EXPECT_EQ(w.token_embedding.data, w.files[0].data() + 28);
  EXPECT_EQ(w.layers[4].wk.ShapeString(), "[32, 64] f32");
  EXPECT_EQ(w.layers[4].w_down.ShapeString(), "[64, 172] f32");
}

TEST(StoriesModel, HfLoads) {
  DETINFER_REQUIRE_STORIES();
  for (const char* dir : {"hf-f32", "hf-bf16"}) {
    SCOPED_TRACE(dir);
    ModelWeights w = LoadStories(dir);
    ExpectStoriesConfig(w, 512);
    EXPECT_EQ(w.format, ModelFormat::kHuggingFace);
    EXPECT_TRUE(w.config.tied_embeddings);
    EXPECT_EQ(w.config.rope_style, RopeStyle::kRotateHalf);
    const DType want = std::string(dir) == "hf-f32" ? DType::kF32 : DType::kBF16;
    EXPECT_EQ(w.layers[0].wq.dtype, want);
    EXPECT_EQ(w.layers[0].attn_norm.dtype, DType::kF32);
  }
}

TEST(StoriesModel, GgufLoads) {
  DETINFER_REQUIRE_STORIES();
  for (const char* t : {"f32", "f16", "bf16"}) {
    SCOPED_TRACE(t);
    ModelWeights w = LoadStories(std::string("gguf/stories260K-") + t + ".gguf");
    ExpectStoriesConfig(w, 128);  // the llama.cpp converter declares 128
    EXPECT_EQ(w.format, ModelFormat::kGguf);
    EXPECT_FALSE(w.config.tied_embeddings);  // it writes output.weight separately
    EXPECT_EQ(w.config.rope_style, RopeStyle::kInterleaved);
    const DType want = std::string(t) == "f32" ? DType::kF32
                       : std::string(t) == "f16" ? DType::kF16 : DType::kBF16;
    EXPECT_EQ(w.layers[2].w_up.dtype, want);
    EXPECT_EQ(w.token_embedding.dtype, want);
    EXPECT_EQ(w.layers[2].ffn_norm.dtype, DType::kF32);
  }
}

// ---- the formats agree ---------------------------------------------------------------------

std::vector<uint16_t> Halves(const TensorView& v) {
  std::vector<uint16_t> out(static_cast<size_t>(v.numel()));
  std::memcpy(out.data(), v.data, out.size() * 2);
  return out;
}

std::vector<float> Floats(const TensorView& v) {
  EXPECT_EQ(v.dtype, DType::kF32);
  std::vector<float> out(static_cast<size_t>(v.numel()));
  std::memcpy(out.data(), v.data, out.size() * 4);
  return out;
}

// Rows of an interleaved-RoPE q/k matrix in the order a rotate-half checkpoint stores them:
// within each head, rotate-half row i < hd/2 is interleaved row 2i, row hd/2 + i is 2i + 1.
template <typename T>
std::vector<T> InterleavedToRotateHalf(const std::vector<T>& w, int64_t rows, int64_t cols,
                                       int64_t hd) {
  std::vector<T> out(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t h = r / hd, j = r % hd;
    const int64_t src = h * hd + (j < hd / 2 ? 2 * j : 2 * (j - hd / 2) + 1);
    std::memcpy(&out[static_cast<size_t>(r * cols)], &w[static_cast<size_t>(src * cols)],
                static_cast<size_t>(cols) * sizeof(T));
  }
  return out;
}

// Calls fn(name, a, b, is_qk) for every tensor pair of two loaded models.
void ForEachPair(const ModelWeights& a, const ModelWeights& b,
                 const std::function<void(const std::string&, const TensorView&,
                                          const TensorView&, bool)>& fn) {
  fn("token_embedding", a.token_embedding, b.token_embedding, false);
  fn("lm_head", a.lm_head, b.lm_head, false);
  fn("final_norm", a.final_norm, b.final_norm, false);
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerWeights &x = a.layers[i], &y = b.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    fn(p + "attn_norm", x.attn_norm, y.attn_norm, false);
    fn(p + "wq", x.wq, y.wq, true);
    fn(p + "wk", x.wk, y.wk, true);
    fn(p + "wv", x.wv, y.wv, false);
    fn(p + "wo", x.wo, y.wo, false);
    fn(p + "ffn_norm", x.ffn_norm, y.ffn_norm, false);
    fn(p + "w_gate", x.w_gate, y.w_gate, false);
    fn(p + "w_up", x.w_up, y.w_up, false);
    fn(p + "w_down", x.w_down, y.w_down, false);
  }
}

TEST(StoriesModel, HfF32EqualsLlama2cWithRotateHalfPermutation) {
  DETINFER_REQUIRE_STORIES();
  ModelWeights l2c = LoadStories("stories260K.bin"), hf = LoadStories("hf-f32");
  int permuted = 0;
  ForEachPair(l2c, hf, [&](const std::string& n, const TensorView& a, const TensorView& b,
                           bool qk) {
    SCOPED_TRACE(n);
    ASSERT_EQ(a.ShapeString(), b.ShapeString());
    std::vector<float> want = Floats(a);
    if (qk) {
      // The permutation is not the identity on these weights, so agreeing after it (and only
      // after it) pins down its direction.
      EXPECT_FALSE(testing::BitsEqual(want, Floats(b)));
      // The other direction (llama2.c rows = the permutation of the HF rows) does not hold.
      EXPECT_FALSE(testing::BitsEqual(
          want, InterleavedToRotateHalf(Floats(b), a.dim(0), a.dim(1), l2c.config.head_dim)));
      want = InterleavedToRotateHalf(want, a.dim(0), a.dim(1), l2c.config.head_dim);
      ++permuted;
    }
    EXPECT_TRUE(testing::BitsEqual(want, Floats(b)));
  });
  EXPECT_EQ(permuted, 10);
}

TEST(StoriesModel, GgufF32EqualsLlama2cExactly) {
  DETINFER_REQUIRE_STORIES();
  ModelWeights l2c = LoadStories("stories260K.bin"), gguf = LoadStories("gguf/stories260K-f32.gguf");
  ForEachPair(l2c, gguf, [&](const std::string& n, const TensorView& a, const TensorView& b,
                             bool) {
    SCOPED_TRACE(n);
    ASSERT_EQ(a.ShapeString(), b.ShapeString());
    EXPECT_TRUE(testing::BitsEqual(Floats(a), Floats(b)));  // same (interleaved) row order
  });
}

TEST(StoriesModel, GgufBf16EqualsHfBf16) {
  DETINFER_REQUIRE_STORIES();
  ModelWeights hf = LoadStories("hf-bf16"), gguf = LoadStories("gguf/stories260K-bf16.gguf");
  ForEachPair(gguf, hf, [&](const std::string& n, const TensorView& a, const TensorView& b,
                            bool qk) {
    SCOPED_TRACE(n);
    ASSERT_EQ(a.ShapeString(), b.ShapeString());
    if (a.dtype == DType::kF32) {
      EXPECT_TRUE(testing::BitsEqual(Floats(a), Floats(b)));
      return;
    }
    std::vector<uint16_t> want = Halves(a);
    if (qk) want = InterleavedToRotateHalf(want, a.dim(0), a.dim(1), gguf.config.head_dim);
    EXPECT_TRUE(want == Halves(b));
  });
}

// The narrower files are the f32 weights rounded to nearest-even; norms stay f32.
TEST(StoriesModel, NarrowFilesAreRoundedF32) {
  DETINFER_REQUIRE_STORIES();
  ModelWeights l2c = LoadStories("stories260K.bin"), f16 = LoadStories("gguf/stories260K-f16.gguf");
  ModelWeights hf32 = LoadStories("hf-f32"), hf16 = LoadStories("hf-bf16");
  auto check = [](const ModelWeights& wide, const ModelWeights& narrow, uint16_t (*round)(float)) {
    ForEachPair(wide, narrow, [&](const std::string& n, const TensorView& a, const TensorView& b,
                                  bool) {
      SCOPED_TRACE(n);
      ASSERT_EQ(a.rank, b.rank);
      std::vector<float> src = Floats(a);
      if (a.rank == 1) {
        EXPECT_TRUE(testing::BitsEqual(src, Floats(b)));
        return;
      }
      std::vector<uint16_t> want(src.size());
      for (size_t i = 0; i < src.size(); ++i) want[i] = round(src[i]);
      EXPECT_TRUE(want == Halves(b));
    });
  };
  check(l2c, f16, &F32ToF16);
  check(hf32, hf16, &F32ToBF16);
}

TEST(StoriesModel, GgufOutputWeightEqualsEmbedding) {
  DETINFER_REQUIRE_STORIES();
  ModelWeights gguf = LoadStories("gguf/stories260K-f32.gguf");
  EXPECT_NE(gguf.lm_head.data, gguf.token_embedding.data);
  EXPECT_TRUE(testing::BitsEqual(Floats(gguf.lm_head), Floats(gguf.token_embedding)));
}

}  // namespace
}  // namespace detinfer
