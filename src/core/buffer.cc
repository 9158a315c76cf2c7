#include "core/buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace detinfer {

void AlignedBuffer::Free::operator()(void* p) const {
  if (mapped != 0) {
    ::munmap(p, mapped);
  } else {
    std::free(p);
  }
}

Result<AlignedBuffer> AlignedBuffer::Allocate(size_t bytes, Pages pages) {
  AlignedBuffer buf;
  if (bytes == 0) return buf;
  constexpr size_t kHugePage = size_t{2} << 20;
  if (bytes > std::numeric_limits<size_t>::max() - 2 * kHugePage) {
    return Status::ResourceExhausted("cannot allocate " + std::to_string(bytes) + " bytes");
  }
  // Large buffers (packed weights: hundreds of MB) are fresh anonymous mappings, aligned to
  // 2 MiB and offered to the kernel as transparent huge pages. The kernel hands out such pages
  // already zeroed, so they are not memset here: the zeroing then happens at first touch, one
  // fault per 2 MiB instead of one per 4 KiB, on whichever thread writes the page first (the
  // packing threads share it). Memsetting them here made every page fault, and its zeroing, run
  // on one thread before packing even started: 110M bf16 model, 2 packing threads, load median
  // 44 ms with the memset, 26 ms without.
  if (bytes >= kHugePage) {
    const size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
    const size_t span = rounded + kHugePage;  // room to align the start
    void* raw = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
      return Status::ResourceExhausted("out of memory allocating " + std::to_string(bytes) +
                                       " bytes");
    }
    // Trim the unaligned head and the tail so that exactly [p, p + rounded) stays mapped.
    const auto base = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
    if (aligned > base) ::munmap(raw, aligned - base);
    const size_t tail = (base + span) - (aligned + rounded);
    if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + rounded), tail);
    void* p = reinterpret_cast<void*>(aligned);
    // Advice only: may be refused. A huge page is faulted (and zeroed) whole on first touch, so
    // sparse data refuses them: one 64-token prefill of a 110M model touched 288 of them
    // (12 layers x 12 heads x K,V) in an 8-context KV reservation, zeroing 576 MiB to store 2.
    ::madvise(p, rounded, pages == Pages::kHuge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    buf.data_ = std::unique_ptr<void, Free>(p, Free{rounded});
    buf.size_ = bytes;
    return buf;
  }
  const size_t rounded = (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment;
  void* p = std::aligned_alloc(kBufferAlignment, rounded);
  if (p == nullptr) {
    return Status::ResourceExhausted("out of memory allocating " + std::to_string(bytes) +
                                     " bytes");
  }
  std::memset(p, 0, rounded);  // malloc'd memory may be reused: zero it
  buf.data_.reset(p);
  buf.size_ = bytes;
  return buf;
}

}  // namespace detinfer
