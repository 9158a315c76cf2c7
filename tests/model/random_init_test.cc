// InitRandomModel: deterministic in the seed (pinned across machines by a hash of the bytes),
// exact dtype rounding, realistic scales, the arch's tensors and clean config errors.
#include "model/random_init.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "model/tensor_roles.h"
#include "model/writer_test_util.h"

namespace detinfer {
namespace {

using testing::SmallConfig;

std::vector<uint8_t> InitViewBytes(const TensorView& t) {
  const auto* p = static_cast<const uint8_t*>(t.data);
  return std::vector<uint8_t>(p, p + t.numel() * static_cast<int64_t>(DTypeSize(t.dtype)));
}

// FNV-1a over every tensor's bytes in ListTensors order.
uint64_t ModelHash(const ModelWeights& w) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto entries = ListTensors(w);
  EXPECT_TRUE(entries.ok()) << entries.status().ToString();
  for (const TensorEntry& e : *entries) {
    for (uint8_t b : InitViewBytes(*e.view)) h = (h ^ b) * 0x100000001b3ull;
  }
  return h;
}

TEST(RandomInit, SameSeedSameBitsDifferentSeedDifferentBits) {
  for (Arch arch : {Arch::kLlama, Arch::kQwen2, Arch::kQwen3}) {
    for (DType dt : {DType::kF32, DType::kBF16, DType::kF16}) {
      const ModelConfig c = SmallConfig(arch);
      auto a = InitRandomModel(c, 7, dt), b = InitRandomModel(c, 7, dt), d = InitRandomModel(c, 8, dt);
      ASSERT_TRUE(a.ok() && b.ok() && d.ok()) << a.status().ToString();
      auto ea = *ListTensors(*a), eb = *ListTensors(*b), ed = *ListTensors(*d);
      ASSERT_EQ(ea.size(), eb.size());
      for (size_t i = 0; i < ea.size(); ++i) {
        EXPECT_EQ(InitViewBytes(*ea[i].view), InitViewBytes(*eb[i].view)) << EntryName(ea[i].role, ea[i].layer);
        EXPECT_NE(InitViewBytes(*ea[i].view), InitViewBytes(*ed[i].view)) << EntryName(ea[i].role, ea[i].layer);
      }
    }
  }
}

// The generator and the integer -> float mapping use no library randomness, so these hashes
// must hold on every machine and compiler; a change here changes every generated model file.
TEST(RandomInit, BitsArePinned) {
  EXPECT_EQ(ModelHash(*InitRandomModel(SmallConfig(Arch::kLlama), 1, DType::kF32)),
            0x06076293931c744full);
  EXPECT_EQ(ModelHash(*InitRandomModel(SmallConfig(Arch::kQwen3, true), 2, DType::kBF16)),
            0xa87710d8d673af5bull);
}

TEST(RandomInit, NarrowDTypesAreOneExactRoundingOfTheF32Draw) {
  const ModelConfig c = SmallConfig(Arch::kQwen2);
  auto f32 = InitRandomModel(c, 3, DType::kF32);
  auto bf16 = InitRandomModel(c, 3, DType::kBF16);
  auto f16 = InitRandomModel(c, 3, DType::kF16);
  ASSERT_TRUE(f32.ok() && bf16.ok() && f16.ok());
  auto e32 = *ListTensors(*f32), eb = *ListTensors(*bf16), eh = *ListTensors(*f16);
  int64_t checked = 0;
  for (size_t i = 0; i < e32.size(); ++i) {
    const TensorView &a = *e32[i].view, &b = *eb[i].view, &h = *eh[i].view;
    ASSERT_EQ(a.dtype, DType::kF32);
    if (IsVectorRole(e32[i].role)) {  // norms and biases stay f32
      EXPECT_EQ(b.dtype, DType::kF32);
      EXPECT_EQ(h.dtype, DType::kF32);
      EXPECT_EQ(InitViewBytes(a), InitViewBytes(b));
      EXPECT_EQ(InitViewBytes(a), InitViewBytes(h));
      continue;
    }
    ASSERT_EQ(b.dtype, DType::kBF16);
    ASSERT_EQ(h.dtype, DType::kF16);
    for (int64_t k = 0; k < a.numel(); ++k) {
      const float v = a.as<float>()[k];
      EXPECT_EQ(v, RandomInitValue(c, 3, e32[i].role, e32[i].layer, k));
      ASSERT_EQ(b.as<uint16_t>()[k], F32ToBF16(v)) << EntryName(e32[i].role, e32[i].layer) << " " << k;
      ASSERT_EQ(h.as<uint16_t>()[k], F32ToF16(v)) << EntryName(e32[i].role, e32[i].layer) << " " << k;
      ++checked;
    }
  }
  EXPECT_GT(checked, 10000);
}

TEST(RandomInit, ScalesAreLikeARealInit) {
  ModelConfig c = SmallConfig(Arch::kLlama);
  c.dim = 64;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.head_dim = 16;
  c.vocab_size = 512;
  c.ffn_dim = 160;
  auto w = InitRandomModel(c, 11, DType::kF32);
  ASSERT_TRUE(w.ok());
  auto stats = [](const TensorView& t) {
    double sum = 0, sq = 0, mx = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double v = t.as<float>()[i];
      sum += v;
      sq += v * v;
      mx = std::max(mx, std::fabs(v));
    }
    const double n = double(t.numel());
    return std::array<double, 3>{sum / n, std::sqrt(sq / n - (sum / n) * (sum / n)), mx};
  };
  // Uniform in +-b: std b/sqrt(3), max |x| <= b.
  auto check_uniform = [&](const TensorView& t, int64_t fan_in, const char* what) {
    const double b = 1.0 / std::sqrt(double(fan_in));
    const auto s = stats(t);
    EXPECT_NEAR(s[0], 0.0, 0.05 * b) << what;
    EXPECT_NEAR(s[1], b / std::sqrt(3.0), 0.05 * b) << what;
    EXPECT_LE(s[2], b) << what;
    EXPECT_GT(s[2], 0.95 * b) << what;
  };
  check_uniform(w->layers[0].wq, c.dim, "wq");
  check_uniform(w->layers[1].w_up, c.dim, "w_up");
  check_uniform(w->layers[0].wo, c.n_heads * c.head_dim, "wo");
  check_uniform(w->layers[0].w_down, c.ffn_dim, "w_down");
  check_uniform(w->lm_head, c.dim, "lm_head");
  const auto e = stats(w->token_embedding);  // ~N(0, 1/dim)
  EXPECT_NEAR(e[0], 0.0, 0.01);
  EXPECT_NEAR(e[1], 1.0 / std::sqrt(double(c.dim)), 0.01);
  for (const TensorView* n : {&w->layers[0].attn_norm, &w->layers[1].ffn_norm, &w->final_norm}) {
    const auto s = stats(*n);
    EXPECT_NEAR(s[0], 1.0, 0.05);
    EXPECT_LE(s[2], 1.125);
    EXPECT_GT(s[1], 0.01);  // not all equal
  }
}

TEST(RandomInit, HasTheArchsTensorsAndTiesTheHead) {
  auto llama = InitRandomModel(SmallConfig(Arch::kLlama, /*tied=*/true), 5, DType::kBF16);
  auto qwen2 = InitRandomModel(SmallConfig(Arch::kQwen2), 5, DType::kBF16);
  auto qwen3 = InitRandomModel(SmallConfig(Arch::kQwen3), 5, DType::kBF16);
  ASSERT_TRUE(llama.ok() && qwen2.ok() && qwen3.ok());
  EXPECT_EQ(llama->lm_head.data, llama->token_embedding.data);
  EXPECT_EQ(llama->layers[0].bq.data, nullptr);
  EXPECT_EQ(llama->layers[0].q_norm.data, nullptr);
  EXPECT_EQ(qwen2->layers[1].bk.shape[0], 2 * 8);
  EXPECT_EQ(qwen2->layers[1].bv.dtype, DType::kF32);
  EXPECT_NE(qwen2->lm_head.data, qwen2->token_embedding.data);
  EXPECT_EQ(qwen3->layers[1].k_norm.shape[0], 16);
  EXPECT_EQ(qwen3->layers[0].wq.shape[0], 4 * 16);
  EXPECT_EQ(qwen3->layers[0].wq.shape[1], 32);
  EXPECT_EQ(qwen3->layers[0].wo.shape[1], 4 * 16);
  // Counter-based: a tensor's values do not depend on which other tensors exist.
  EXPECT_EQ(InitViewBytes(llama->token_embedding), InitViewBytes(qwen2->token_embedding));
  EXPECT_EQ(InitViewBytes(llama->layers[1].wq), InitViewBytes(qwen2->layers[1].wq));
}

TEST(RandomInit, RejectsBadConfigs) {
  ModelConfig c = SmallConfig(Arch::kLlama);
  c.n_kv_heads = 3;
  auto r = InitRandomModel(c, 1, DType::kF32);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("n_kv_heads"), std::string::npos) << r.status().ToString();
  c = SmallConfig(Arch::kLlama);
  c.qk_norm = true;
  r = InitRandomModel(c, 1, DType::kF32);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("q/k norm"), std::string::npos) << r.status().ToString();
  c = SmallConfig(Arch::kQwen2);
  c.qkv_bias = false;
  r = InitRandomModel(c, 1, DType::kF32);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bias"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace detinfer
