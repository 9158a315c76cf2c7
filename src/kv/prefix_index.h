// PrefixIndex: which KV blocks hold which token prefixes (the prefix cache's lookup table).
//
// A full block is identified by its chain hash h_i = XXH3-128(h_{i-1}, the block's token ids),
// h_{-1} = 0, so a block is found only under the exact prefix that produced its K/V. Entries
// also keep the parent hash and the token ids, compared on every lookup: a hit needs equal
// tokens under an equal parent, not just an equal hash. Identifying blocks by content rather
// than by block id means evicting a parent can never make a stale child match another prefix.
//
// Why reusing a block is exact: by SPEC §R2 the K/V rows of position p depend only on tokens
// 0..p, and every path computes them with the same bits, so a cached block equals what a cold
// prefill of the same prefix would write.
#ifndef DETINFER_KV_PREFIX_INDEX_H_
#define DETINFER_KV_PREFIX_INDEX_H_

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>
#include <vector>

namespace detinfer {

struct BlockHash {
  uint64_t lo = 0, hi = 0;
  bool operator==(const BlockHash&) const = default;
};

BlockHash ChainHash(const BlockHash& parent, std::span<const int32_t> tokens);

class PrefixIndex {
 public:
  // The block cached for `tokens` under `parent`, or -1. A hit becomes most recently used.
  int32_t Find(const BlockHash& parent, const BlockHash& hash, std::span<const int32_t> tokens);
  // Records `block` under `hash`; false (nothing recorded) if the hash is already present.
  bool Insert(const BlockHash& parent, const BlockHash& hash, std::span<const int32_t> tokens,
              int32_t block);
  // Removes and returns the least recently used block for which evictable(block) holds, or -1.
  template <typename Pred>
  int32_t EvictOne(Pred evictable) {
    for (auto it = lru_.begin(); it != lru_.end(); ++it) {
      if (evictable(it->block)) {
        const int32_t b = it->block;
        Erase(it);
        return b;
      }
    }
    return -1;
  }
  bool Contains(int32_t block) const { return by_block_.count(block) != 0; }
  // Forgets every entry; returns their blocks (the caller drops the index's references).
  std::vector<int32_t> Clear();
  size_t size() const { return lru_.size(); }

 private:
  struct Entry {
    BlockHash parent, hash;
    std::vector<int32_t> tokens;
    int32_t block;
  };
  struct HashOf {
    size_t operator()(const BlockHash& h) const { return static_cast<size_t>(h.lo); }
  };
  using Lru = std::list<Entry>;  // front = least recently used
  void Erase(Lru::iterator it);

  Lru lru_;
  std::unordered_map<BlockHash, Lru::iterator, HashOf> by_hash_;
  std::unordered_map<int32_t, Lru::iterator> by_block_;
};

}  // namespace detinfer

#endif  // DETINFER_KV_PREFIX_INDEX_H_
