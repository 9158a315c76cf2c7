// llama2.c checkpoints: a synthetic file checks the array order; crafted headers and sizes are
// rejected with messages naming the file and the field.
#include <gtest/gtest.h>

#include <climits>

#include "model/llama2c_loader.h"
#include "model/loader.h"
#include "model_test_util.h"

namespace detinfer {
namespace {

using testing::Bytes;
using testing::FailsWith;
using testing::TempDir;

// dim 8, hidden 12, 2 layers, 2 heads, 1 kv head, vocab 16 (negative when unshared), seq 4;
// float k of the body holds the value k.
Bytes MakeLlama2c(bool shared, int64_t* n_floats) {
  const int32_t h[7] = {8, 12, 2, 2, 1, shared ? 16 : -16, 4};
  const int64_t dim = 8, kv = 4, L = 2, hid = 12, V = 16, hd = 4;
  *n_floats = V * dim + L * dim + L * dim * dim + 2 * L * kv * dim + L * dim * dim + L * dim +
              3 * L * hid * dim + dim + 4 * hd + (shared ? 0 : V * dim);
  Bytes b;
  for (int32_t v : h) testing::Put(&b, v);
  for (int64_t k = 0; k < *n_floats; ++k) testing::Put(&b, static_cast<float>(k));
  return b;
}

float At(const TensorView& v, int64_t flat) { return static_cast<const float*>(v.data)[flat]; }

TEST(Llama2cLoader, ArraysInRunCOrder) {
  TempDir dir;
  int64_t n = 0;
  testing::WriteFile(dir.file("m.bin"), MakeLlama2c(false, &n));
  Result<ModelWeights> r = LoadModel(dir.file("m.bin"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const ModelWeights& w = *r;
  EXPECT_FALSE(w.config.tied_embeddings);
  EXPECT_EQ(w.config.vocab_size, 16);
  EXPECT_EQ(w.config.head_dim, 4);
  // Offsets (in floats) of each array's first element, from the layout in llama2c_loader.h.
  int64_t o = 0;
  EXPECT_EQ(At(w.token_embedding, 0), static_cast<float>(o)); o += 16 * 8;
  EXPECT_EQ(At(w.layers[0].attn_norm, 0), static_cast<float>(o));
  EXPECT_EQ(At(w.layers[1].attn_norm, 0), static_cast<float>(o + 8)); o += 2 * 8;
  EXPECT_EQ(At(w.layers[1].wq, 0), static_cast<float>(o + 64)); o += 2 * 64;
  EXPECT_EQ(At(w.layers[1].wk, 0), static_cast<float>(o + 32)); o += 2 * 32;
  EXPECT_EQ(At(w.layers[0].wv, 31), static_cast<float>(o + 31)); o += 2 * 32;
  EXPECT_EQ(At(w.layers[0].wo, 0), static_cast<float>(o)); o += 2 * 64;
  EXPECT_EQ(At(w.layers[1].ffn_norm, 0), static_cast<float>(o + 8)); o += 2 * 8;
  EXPECT_EQ(At(w.layers[1].w_gate, 0), static_cast<float>(o + 96)); o += 2 * 96;
  EXPECT_EQ(At(w.layers[0].w_down, 95), static_cast<float>(o + 95)); o += 2 * 96;
  EXPECT_EQ(At(w.layers[0].w_up, 0), static_cast<float>(o)); o += 2 * 96;
  EXPECT_EQ(At(w.final_norm, 0), static_cast<float>(o)); o += 8 + 4 * 4;  // + freq_cis
  EXPECT_EQ(At(w.lm_head, 0), static_cast<float>(o));
  EXPECT_EQ(At(w.lm_head, 127), static_cast<float>(n - 1));
  EXPECT_EQ(w.layers[0].w_down.ShapeString(), "[8, 12] f32");
  EXPECT_EQ(w.layers[0].w_gate.ShapeString(), "[12, 8] f32");
}

TEST(Llama2cLoader, TruncatedAnywhereIsRejected) {
  TempDir dir;
  int64_t n = 0;
  const Bytes full = MakeLlama2c(true, &n);
  for (size_t len = 0; len < full.size(); len += (len < 64 ? 1 : 37)) {
    testing::WriteFile(dir.file("m.bin"), Bytes(full.begin(), full.begin() + len));
    Result<ModelWeights> r = LoadLlama2c(dir.file("m.bin"));
    EXPECT_TRUE(FailsWith(r.status(), {dir.file("m.bin"), "truncated"})) << "length " << len;
  }
  Bytes longer = full;
  longer.push_back(0);
  testing::WriteFile(dir.file("m.bin"), longer);
  EXPECT_TRUE(FailsWith(LoadLlama2c(dir.file("m.bin")).status(), {"does not match", "bytes"}));
}

TEST(Llama2cLoader, BadHeadersAreRejected) {
  TempDir dir;
  struct Case { int32_t h[7]; const char* field; };
  const Case cases[] = {
      {{0, 12, 2, 2, 1, 16, 4}, "dim = 0"},
      {{8, -12, 2, 2, 1, 16, 4}, "hidden_dim = -12"},
      {{8, 12, 2, 3, 1, 16, 4}, "dim = 8 is not a multiple of n_heads 3"},
      {{8, 12, 2, 2, 3, 16, 4}, "n_heads = 2 is not a multiple of n_kv_heads 3"},
      {{8, 12, 2, 2, 1, 0, 4}, "vocab_size = 0"},
      {{8, 12, 2, 2, 1, INT32_MIN, 4}, "vocab_size"},
      {{8, 12, 2, 2, 1, 16, 0}, "seq_len = 0"},
      // Sizes whose product overflows 64 bits must not wrap into a small "valid" size.
      {{INT32_MAX - 3, INT32_MAX, INT32_MAX, 2, 1, INT32_MAX, INT32_MAX}, "fit in 64 bits"},
  };
  for (const Case& c : cases) {
    Bytes b;
    for (int32_t v : c.h) testing::Put(&b, v);
    b.resize(b.size() + 4096);
    testing::WriteFile(dir.file("m.bin"), b);
    EXPECT_TRUE(FailsWith(LoadModel(dir.file("m.bin")).status(), {dir.file("m.bin"), c.field}));
  }
}

TEST(Llama2cLoader, NewerVersionsAndMissingFiles) {
  TempDir dir;
  Bytes b;
  testing::Put(&b, uint32_t{0x616b3432});
  testing::Put(&b, int32_t{2});
  b.resize(256);
  testing::WriteFile(dir.file("v2.bin"), b);
  Result<ModelWeights> r = LoadModel(dir.file("v2.bin"));
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(FailsWith(r.status(), {"version-1+", dir.file("v2.bin")}));
  r = LoadModel(dir.file("absent.bin"));
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(FailsWith(r.status(), {"absent.bin"}));
  EXPECT_TRUE(FailsWith(LoadModel(dir.path()).status(), {"config.json"}));
}

}  // namespace
}  // namespace detinfer
