#include "core/buffer.h"

#include <cstdlib>
#include <cstring>
#include <limits>

namespace detinfer {

void AlignedBuffer::Free::operator()(void* p) const { std::free(p); }

Result<AlignedBuffer> AlignedBuffer::Allocate(size_t bytes) {
  AlignedBuffer buf;
  if (bytes == 0) return buf;
  if (bytes > std::numeric_limits<size_t>::max() - kBufferAlignment) {
    return Status::ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes");
  }
  const size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  void* p = std::aligned_alloc(kBufferAlignment, rounded);
  if (p == nullptr) {
    return Status::ResourceExhausted("out of memory allocating " + std::to_string(bytes) +
                                     " bytes");
  }
  std::memset(p, 0, rounded);
  buf.data_.reset(p);
  buf.size_ = bytes;
  return buf;
}

}  // namespace detinfer
