#include "kv/prefix_index.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace detinfer {

BlockHash ChainHash(const BlockHash& parent, std::span<const int32_t> tokens) {
  std::vector<uint64_t> buf(2 + (tokens.size() + 1) / 2, 0);
  buf[0] = parent.lo;
  buf[1] = parent.hi;
  if (!tokens.empty()) std::memcpy(buf.data() + 2, tokens.data(), tokens.size() * sizeof(int32_t));
  const XXH128_hash_t h =
      XXH3_128bits(buf.data(), 2 * sizeof(uint64_t) + tokens.size() * sizeof(int32_t));
  return {h.low64, h.high64};
}

int32_t PrefixIndex::Find(const BlockHash& parent, const BlockHash& hash,
                          std::span<const int32_t> tokens) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return -1;
  Lru::iterator e = it->second;
  if (!(e->parent == parent) || !std::equal(tokens.begin(), tokens.end(), e->tokens.begin(),
                                            e->tokens.end())) {
    return -1;  // a hash collision: never a hit
  }
  lru_.splice(lru_.end(), lru_, e);
  return e->block;
}

bool PrefixIndex::Insert(const BlockHash& parent, const BlockHash& hash,
                         std::span<const int32_t> tokens, int32_t block) {
  if (by_hash_.count(hash) != 0 || by_block_.count(block) != 0) return false;
  lru_.push_back(Entry{parent, hash, std::vector<int32_t>(tokens.begin(), tokens.end()), block});
  auto it = std::prev(lru_.end());
  by_hash_.emplace(hash, it);
  by_block_.emplace(block, it);
  return true;
}

std::vector<int32_t> PrefixIndex::Clear() {
  std::vector<int32_t> blocks;
  for (const Entry& e : lru_) blocks.push_back(e.block);
  lru_.clear();
  by_hash_.clear();
  by_block_.clear();
  return blocks;
}

void PrefixIndex::Erase(Lru::iterator it) {
  by_hash_.erase(it->hash);
  by_block_.erase(it->block);
  lru_.erase(it);
}

}  // namespace detinfer
