#include "kv/paged_kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

namespace detinfer {
namespace {

KvCacheConfig SmallConfig(DType dt) {
  KvCacheConfig c;
  c.n_layers = 2;
  c.n_kv_heads = 3;
  c.head_dim = 8;
  c.block_size = 4;
  c.dtype = dt;
  c.capacity_tokens = 40;  // 10 blocks
  return c;
}

TEST(PagedKvCacheTest, RowsAreRoundedOnceOnWriteAndReadBackExactly) {
  // Block size 4: the row-major paged layout; 16: the key-tiled one.
  for (const auto& [dt, bs] : {std::pair{DType::kF32, 4}, std::pair{DType::kBF16, 4},
                               std::pair{DType::kF16, 4}, std::pair{DType::kF32, 16},
                               std::pair{DType::kBF16, 16}, std::pair{DType::kF16, 16}}) {
    KvCacheConfig config = SmallConfig(dt);
    config.block_size = bs;
    auto cache = PagedKvCache::Create(config);
    EXPECT_EQ(cache->layout(), bs == 16 ? KvLayout::kPagedTiled : KvLayout::kPaged);
    ASSERT_TRUE(cache.ok()) << cache.status().ToString();
    ASSERT_TRUE(cache->AddSequence(7).ok());
    ASSERT_TRUE(cache->Reserve(7, 11).ok());
    const int64_t row = 3 * 8;
    const auto k = testing::RandomFloats(11 * row, 1), v = testing::RandomFloats(11 * row, 2);
    for (int64_t layer = 0; layer < 2; ++layer) {
      // Written in two pieces, as chunked prefill does.
      ASSERT_TRUE(cache->Write(layer, 7, 0, 5, k.data(), v.data(), row).ok());
      ASSERT_TRUE(cache->Write(layer, 7, 5, 6, k.data() + 5 * row, v.data() + 5 * row, row).ok());
    }
    ASSERT_TRUE(cache->Commit(7, 11).ok());
    EXPECT_EQ(cache->Length(7), 11);
    std::vector<float> rk(row), rv(row), want(row);
    for (int64_t p = 0; p < 11; ++p) {
      ASSERT_TRUE(cache->ReadRow(1, 7, p, rk.data(), rv.data()).ok());
      // Oracle: one rounding of the f32 value to the storage dtype, widened back.
      for (int64_t i = 0; i < row; ++i) {
        const float x = k[p * row + i];
        want[i] = dt == DType::kF32 ? x : dt == DType::kBF16 ? BF16ToF32(F32ToBF16(x))
                                                            : F16ToF32(F32ToF16(x));
      }
      ASSERT_TRUE(testing::BitsEqual(rk.data(), want.data(), row)) << DTypeName(dt) << " p=" << p;
    }
  }
}

TEST(PagedKvCacheTest, BlockTableMapsPositionsToSlotsOfTheStorageView) {
  auto cache = PagedKvCache::Create(SmallConfig(DType::kF32));
  ASSERT_EQ(cache->layout(), KvLayout::kPaged);
  ASSERT_TRUE(cache->AddSequence(1).ok());
  ASSERT_TRUE(cache->AddSequence(2).ok());
  ASSERT_TRUE(cache->Reserve(1, 4).ok());
  ASSERT_TRUE(cache->Reserve(2, 4).ok());
  ASSERT_TRUE(cache->Reserve(1, 9).ok());  // interleaved growth: blocks are not contiguous
  const auto table = cache->BlockTable(1);
  ASSERT_EQ(table.size(), 3u);
  const int64_t row = 24;
  const auto k = testing::RandomFloats(9 * row, 3), v = testing::RandomFloats(9 * row, 4);
  ASSERT_TRUE(cache->Write(0, 1, 0, 9, k.data(), v.data(), row).ok());
  const KvView view = cache->View(0);
  ASSERT_EQ(view.layout, KvLayout::kPaged);
  for (int64_t p = 0; p < 9; ++p) {
    const int64_t at = (table[p / 4] * 4 + p % 4) * row;
    ASSERT_TRUE(testing::BitsEqual(view.k.as<float>() + at, k.data() + p * row, row)) << p;
    ASSERT_TRUE(testing::BitsEqual(view.v.as<float>() + at, v.data() + p * row, row)) << p;
  }
}

// The key-tiled layout, element by element, from the formula in kernels/attention.h:
// V [Hkv, num_blocks, bs, D]; K [Hkv, num_blocks * bs / 16, D, 16].
TEST(PagedKvCacheTest, KeyTiledLayoutPlacesEveryElementWhereTheViewSays) {
  KvCacheConfig c = SmallConfig(DType::kBF16);
  c.block_size = 32;
  c.capacity_tokens = 32 * 5;
  auto cache = PagedKvCache::Create(c);
  ASSERT_TRUE(cache.ok());
  ASSERT_EQ(cache->layout(), KvLayout::kPagedTiled);
  ASSERT_TRUE(cache->AddSequence(1).ok());
  ASSERT_TRUE(cache->AddSequence(2).ok());
  ASSERT_TRUE(cache->Reserve(1, 20).ok());
  ASSERT_TRUE(cache->Reserve(2, 32).ok());
  ASSERT_TRUE(cache->Reserve(1, 70).ok());  // blocks 0, 2, 3: not contiguous
  const auto table = cache->BlockTable(1);
  const int64_t h = 3, d = 8, row = h * d, n = 70, nb = cache->num_blocks();
  const auto k = testing::RandomFloats(n * row, 5), v = testing::RandomFloats(n * row, 6);
  ASSERT_TRUE(cache->Write(1, 1, 0, 33, k.data(), v.data(), row).ok());
  ASSERT_TRUE(cache->Write(1, 1, 33, n - 33, k.data() + 33 * row, v.data() + 33 * row, row).ok());
  const KvView view = cache->View(1);
  ASSERT_EQ(view.layout, KvLayout::kPagedTiled);
  EXPECT_EQ(view.k.ShapeString(), "[3, " + std::to_string(nb * 2) + ", 8, 16] bf16");
  EXPECT_EQ(view.v.ShapeString(), "[3, " + std::to_string(nb) + ", 32, 8] bf16");
  const uint16_t* ks = view.k.as<uint16_t>();
  const uint16_t* vs = view.v.as<uint16_t>();
  for (int64_t p = 0; p < n; ++p) {
    const int64_t blk = table[static_cast<size_t>(p / 32)], slot = p % 32;
    for (int64_t g = 0; g < h; ++g) {
      for (int64_t e = 0; e < d; ++e) {
        const int64_t chunk = blk * 2 + slot / 16;
        const uint16_t want_k = F32ToBF16(k[static_cast<size_t>(p * row + g * d + e)]);
        const uint16_t want_v = F32ToBF16(v[static_cast<size_t>(p * row + g * d + e)]);
        ASSERT_EQ(ks[((g * nb * 2 + chunk) * d + e) * 16 + slot % 16], want_k) << p << " " << g << " " << e;
        ASSERT_EQ(vs[((g * nb + blk) * 32 + slot) * d + e], want_v) << p << " " << g << " " << e;
      }
    }
    std::vector<uint8_t> stored;
    ASSERT_TRUE(cache->CopyStoredRow(1, false, 1, p, &stored).ok());
    ASSERT_EQ(stored.size(), static_cast<size_t>(row * 2));
    for (int64_t i = 0; i < row; ++i) {
      uint16_t x;
      std::memcpy(&x, stored.data() + i * 2, 2);
      ASSERT_EQ(x, F32ToBF16(k[static_cast<size_t>(p * row + i)])) << p << " " << i;
    }
  }
  std::vector<uint8_t> stored;
  EXPECT_FALSE(cache->CopyStoredRow(1, true, 1, 96, &stored).ok());  // 3 blocks = 96 positions
  EXPECT_FALSE(cache->CopyStoredRow(2, true, 1, 0, &stored).ok());   // no layer 2
}

// The same formula for f32 keys written one position at a time (decode), with more heads than
// the row's skewed write order cycles through (StoreRow scatters a row to the heads' tiles d by
// d, each head starting further along its row): every element lands where the view says.
TEST(PagedKvCacheTest, KeyTiledF32RowsWrittenOneByOneLandWhereTheViewSays) {
  KvCacheConfig c = SmallConfig(DType::kF32);
  c.n_kv_heads = 7;
  c.head_dim = 16;
  c.block_size = 16;
  c.capacity_tokens = 16 * 4;
  auto cache = PagedKvCache::Create(c);
  ASSERT_TRUE(cache.ok());
  ASSERT_EQ(cache->layout(), KvLayout::kPagedTiled);
  ASSERT_TRUE(cache->AddSequence(0).ok());
  const int64_t h = 7, d = 16, row = h * d, n = 40, nb = cache->num_blocks();
  ASSERT_TRUE(cache->Reserve(0, n).ok());
  const auto table = cache->BlockTable(0);
  const auto k = testing::RandomFloats(n * row, 7), v = testing::RandomFloats(n * row, 8);
  for (int64_t p = 0; p < n; ++p) {
    ASSERT_TRUE(cache->Write(0, 0, p, 1, k.data() + p * row, v.data() + p * row, row).ok());
  }
  const KvView view = cache->View(0);
  const float* ks = view.k.as<float>();
  for (int64_t p = 0; p < n; ++p) {
    const int64_t chunk = table[static_cast<size_t>(p / 16)];  // block size 16: one chunk each
    for (int64_t g = 0; g < h; ++g) {
      for (int64_t e = 0; e < d; ++e) {
        const float got = ks[((g * nb + chunk) * d + e) * 16 + p % 16];
        ASSERT_EQ(std::memcmp(&got, &k[static_cast<size_t>(p * row + g * d + e)], 4), 0)
            << p << " " << g << " " << e;
      }
    }
  }
}

TEST(PagedKvCacheTest, OutOfMemoryIsAnErrorThatLosesNothing) {
  auto cache = PagedKvCache::Create(SmallConfig(DType::kF16));
  ASSERT_TRUE(cache->AddSequence(1).ok());
  ASSERT_TRUE(cache->AddSequence(2).ok());
  ASSERT_TRUE(cache->Reserve(1, 30).ok());  // 8 blocks
  const auto before = std::vector<int32_t>(cache->BlockTable(1).begin(), cache->BlockTable(1).end());
  Status s = cache->Reserve(2, 12);  // 3 blocks, 2 free
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("sequence 2"), std::string::npos) << s.message();
  EXPECT_EQ(cache->free_blocks(), 2);
  EXPECT_TRUE(cache->BlockTable(2).empty());
  EXPECT_EQ(std::vector<int32_t>(cache->BlockTable(1).begin(), cache->BlockTable(1).end()), before);
  ASSERT_TRUE(cache->FreeSequence(1).ok());
  EXPECT_TRUE(cache->Reserve(2, 12).ok());
}

TEST(PagedKvCacheTest, TruncateReleasesWholeBlocksPastTheEnd) {
  auto cache = PagedKvCache::Create(SmallConfig(DType::kF32));
  ASSERT_TRUE(cache->AddSequence(1).ok());
  ASSERT_TRUE(cache->Reserve(1, 10).ok());
  ASSERT_TRUE(cache->Commit(1, 10).ok());
  EXPECT_EQ(cache->free_blocks(), 7);
  ASSERT_TRUE(cache->Truncate(1, 5).ok());
  EXPECT_EQ(cache->BlockTable(1).size(), 2u);
  EXPECT_EQ(cache->free_blocks(), 8);
  EXPECT_EQ(cache->Length(1), 5);
  EXPECT_FALSE(cache->Truncate(1, 6).ok());
}

TEST(PagedKvCacheTest, BadUseIsAnErrorNamingTheThing) {
  auto cache = PagedKvCache::Create(SmallConfig(DType::kF32));
  std::vector<float> k(24), v(24);
  EXPECT_EQ(cache->Reserve(5, 1).code(), StatusCode::kNotFound);
  ASSERT_TRUE(cache->AddSequence(5).ok());
  EXPECT_FALSE(cache->AddSequence(5).ok());
  Status s = cache->Write(0, 5, 0, 1, k.data(), v.data(), 24);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("reserved"), std::string::npos);
  ASSERT_TRUE(cache->Reserve(5, 1).ok());
  EXPECT_EQ(cache->Write(2, 5, 0, 1, k.data(), v.data(), 24).code(), StatusCode::kOutOfRange);
  KvCacheConfig bad = SmallConfig(DType::kF32);
  bad.block_size = 0;
  EXPECT_FALSE(PagedKvCache::Create(bad).ok());
  bad = SmallConfig(DType::kF32);
  bad.capacity_tokens = int64_t{1} << 62;
  EXPECT_FALSE(PagedKvCache::Create(bad).ok());
}

}  // namespace
}  // namespace detinfer
