// BlockAllocator: hands out fixed-size KV blocks by id, with reference counts so that blocks
// can later be shared between sequences (prefix cache).
//
// Which physical block a position lands in never changes any result — attention reads K/V by
// absolute position through the block table — but the allocator is still deterministic (a LIFO
// free list seeded in ascending order) so that runs are repeatable down to the block ids.
#ifndef DETINFER_KV_BLOCK_ALLOCATOR_H_
#define DETINFER_KV_BLOCK_ALLOCATOR_H_

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace detinfer {

class BlockAllocator {
 public:
  explicit BlockAllocator(int32_t num_blocks);

  int32_t num_blocks() const { return static_cast<int32_t>(refcount_.size()); }
  int32_t num_free() const { return static_cast<int32_t>(free_.size()); }

  // Takes `n` blocks or none: on shortage returns ResourceExhausted and changes nothing.
  Status Allocate(int32_t n, std::vector<int32_t>* out);
  // Adds a reference to a block already in use (sharing).
  Status AddRef(int32_t block);
  // Drops one reference; the block returns to the free list when none are left.
  Status Release(int32_t block);
  int32_t RefCount(int32_t block) const { return refcount_[static_cast<size_t>(block)]; }

 private:
  std::vector<int32_t> refcount_;
  std::vector<int32_t> free_;  // stack; back() is allocated next
};

}  // namespace detinfer

#endif  // DETINFER_KV_BLOCK_ALLOCATOR_H_
