#include "kv/block_allocator.h"

#include <string>

namespace detinfer {

BlockAllocator::BlockAllocator(int32_t num_blocks)
    : refcount_(static_cast<size_t>(num_blocks), 0) {
  free_.reserve(static_cast<size_t>(num_blocks));
  // Highest id at the bottom so that block 0 is handed out first.
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

Status BlockAllocator::Allocate(int32_t n, std::vector<int32_t>* out) {
  if (n < 0) return Status::InvalidArgument("kv blocks: cannot allocate " + std::to_string(n));
  if (n > num_free()) {
    return Status::ResourceExhausted("out of KV memory: need " + std::to_string(n) +
                                     " more blocks, " + std::to_string(num_free()) + " of " +
                                     std::to_string(num_blocks()) + " are free");
  }
  for (int32_t i = 0; i < n; ++i) {
    const int32_t b = free_.back();
    free_.pop_back();
    refcount_[static_cast<size_t>(b)] = 1;
    out->push_back(b);
  }
  return Status::Ok();
}

Status BlockAllocator::AddRef(int32_t block) {
  if (block < 0 || block >= num_blocks() || refcount_[static_cast<size_t>(block)] == 0) {
    return Status::InvalidArgument("kv blocks: block " + std::to_string(block) +
                                   " is not in use");
  }
  ++refcount_[static_cast<size_t>(block)];
  return Status::Ok();
}

Status BlockAllocator::Release(int32_t block) {
  if (block < 0 || block >= num_blocks() || refcount_[static_cast<size_t>(block)] == 0) {
    return Status::InvalidArgument("kv blocks: block " + std::to_string(block) +
                                   " is not in use");
  }
  if (--refcount_[static_cast<size_t>(block)] == 0) free_.push_back(block);
  return Status::Ok();
}

}  // namespace detinfer
