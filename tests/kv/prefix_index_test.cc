#include "kv/prefix_index.h"

#include <gtest/gtest.h>

#include <vector>

namespace detinfer {
namespace {

TEST(PrefixIndexTest, FindsABlockOnlyUnderTheSamePrefix) {
  PrefixIndex idx;
  const std::vector<int32_t> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};
  const BlockHash ha = ChainHash({}, a), hb = ChainHash(ha, b);
  EXPECT_TRUE(idx.Insert({}, ha, a, 10));
  EXPECT_TRUE(idx.Insert(ha, hb, b, 11));
  EXPECT_EQ(idx.Find({}, ha, a), 10);
  EXPECT_EQ(idx.Find(ha, hb, b), 11);
  // The same tokens under another parent are another block.
  const BlockHash other = ChainHash({}, b);
  EXPECT_EQ(idx.Find({}, other, b), -1);
  // A forged hash with the wrong tokens never matches.
  EXPECT_EQ(idx.Find(ha, hb, a), -1);
  EXPECT_FALSE(idx.Insert({}, ha, a, 12));  // already cached
}

TEST(PrefixIndexTest, EvictsLeastRecentlyUsedFirst) {
  PrefixIndex idx;
  std::vector<BlockHash> hs;
  for (int32_t i = 0; i < 3; ++i) {
    const std::vector<int32_t> t = {i};
    hs.push_back(ChainHash({}, t));
    ASSERT_TRUE(idx.Insert({}, hs.back(), t, i));
  }
  const std::vector<int32_t> t0 = {0};
  EXPECT_EQ(idx.Find({}, hs[0], t0), 0);  // 0 becomes most recent
  EXPECT_EQ(idx.EvictOne([](int32_t) { return true; }), 1);
  EXPECT_EQ(idx.EvictOne([](int32_t b) { return b != 2; }), 0);
  EXPECT_EQ(idx.size(), 1u);
  EXPECT_FALSE(idx.Contains(0));
}

}  // namespace
}  // namespace detinfer
