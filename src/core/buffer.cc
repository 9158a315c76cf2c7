#include "core/buffer.h"

#include <sys/mman.h>

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
  // Large buffers (packed weights: hundreds of MB) are aligned to 2 MiB and offered to the
  // kernel as transparent huge pages: zero-filling them then takes one page fault per 2 MiB
  // instead of one per 4 KiB, which was most of a model's load time.
  constexpr size_t kHugePage = size_t{2} << 20;
  const size_t align = bytes >= kHugePage ? kHugePage : kBufferAlignment;
  const size_t rounded = (bytes + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (p == nullptr) {
    return Status::ResourceExhausted("out of memory allocating " + std::to_string(bytes) +
                                     " bytes");
  }
  if (align == kHugePage) ::madvise(p, rounded, MADV_HUGEPAGE);  // advice only: may be refused
  std::memset(p, 0, rounded);
  buf.data_.reset(p);
  buf.size_ = bytes;
  return buf;
}

}  // namespace detinfer
