// The engine options from plain values (include/detinfer/engine.h): DefaultKvCapacity's rule in
// closed form, and MakeEngineOptions taking it when no capacity is given.
#include <gtest/gtest.h>

#include "core/available_memory.h"
#include "detinfer/engine.h"

namespace detinfer {
namespace {

TEST(EngineConfigTest, DefaultKvCapacityIsEightContextsOrThreeQuartersOfWhatIsAvailable) {
  ModelConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.max_seq_len = 256;
  // K and V, 2 layers, 2 heads of 8, 4 bytes: 256 bytes a token in f32, 128 in bf16.
  EXPECT_EQ(KvBytesPerToken(c, DType::kF32), 256);
  EXPECT_EQ(KvBytesPerToken(c, DType::kBF16), 128);
  // Plenty of memory, or none known: 8 full contexts.
  for (const std::optional<int64_t> avail : {std::optional<int64_t>{int64_t{1} << 40},
                                             std::optional<int64_t>{}}) {
    const KvCapacityPlan p = DefaultKvCapacity(c, DType::kF32, 16, avail);
    EXPECT_EQ(p.tokens, 8 * 256);
    EXPECT_FALSE(p.memory_bound);
  }
  // 100 000 bytes available: 3/4 of it is 75 000 = 292.97 f32 tokens -> 288 (18 blocks of 16).
  KvCapacityPlan p = DefaultKvCapacity(c, DType::kF32, 16, 100000);
  EXPECT_TRUE(p.memory_bound);
  EXPECT_EQ(p.tokens, 288);
  EXPECT_EQ(p.bytes_per_token, 256);
  // bf16 halves the cost: 585.9 -> 576 tokens.
  EXPECT_EQ(DefaultKvCapacity(c, DType::kBF16, 16, 100000).tokens, 576);
  // Nearly nothing: still one block (a request that needs more gets the engine's clear error).
  EXPECT_EQ(DefaultKvCapacity(c, DType::kF32, 16, 1000).tokens, 16);
  // The engine options take it when no capacity is given, and keep an explicit one.
  EngineConfig ec;
  auto o = MakeEngineOptions(ec, c);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->kv_capacity_tokens,
            DefaultKvCapacity(c, DType::kF32, 16, AvailableMemoryBytes()).tokens);
  ec.kv_capacity = 1000;
  EXPECT_EQ(MakeEngineOptions(ec, c)->kv_capacity_tokens, 1000);
}

}  // namespace
}  // namespace detinfer
