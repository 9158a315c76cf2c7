// AvailableMemoryBytes and its parsers (the default KV capacity is sized from them), and
// DefaultKvCapacity's rule (include/detinfer/engine.h) in closed form.
#include "core/available_memory.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "detinfer/engine.h"

namespace detinfer {
namespace {

TEST(AvailableMemoryTest, ParsesMeminfoAndCgroupFiles) {
  const char* meminfo =
      "MemTotal:       24576000 kB\nMemFree:         1000000 kB\n"
      "MemAvailable:   20000000 kB\nBuffers:           12345 kB\n";
  EXPECT_EQ(MemAvailableFromMeminfo(meminfo), int64_t{20000000} * 1024);
  EXPECT_FALSE(MemAvailableFromMeminfo("MemTotal: 1 kB\n").has_value());
  EXPECT_FALSE(MemAvailableFromMeminfo("MemAvailable: lots\n").has_value());
  EXPECT_EQ(CgroupRoom("8589934592\n", "1073741824\n"), int64_t{7} << 30);
  EXPECT_EQ(CgroupRoom("1000\n", "5000\n"), 0);  // over its limit already: no room
  EXPECT_FALSE(CgroupRoom("max\n", "1073741824\n").has_value());
  EXPECT_FALSE(CgroupRoom("garbage", "1").has_value());
}

// On this machine (Linux): some memory is available, and no more than the machine has.
TEST(AvailableMemoryTest, ThisMachineHasSomeAndNoMoreThanItsTotal) {
  const auto got = AvailableMemoryBytes();
  ASSERT_TRUE(got.has_value());
  EXPECT_GT(*got, 0);
  std::ifstream f("/proc/meminfo");
  std::ostringstream s;
  s << f.rdbuf();
  const std::string text = s.str();
  const size_t at = text.find("MemTotal:");
  ASSERT_NE(at, std::string::npos);
  const int64_t total_kb = std::stoll(text.substr(at + 9));
  EXPECT_LE(*got, total_kb * 1024);
}

TEST(AvailableMemoryTest, DefaultKvCapacityIsEightContextsOrThreeQuartersOfWhatIsAvailable) {
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
