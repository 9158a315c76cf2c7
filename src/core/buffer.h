// AlignedBuffer: an owning, zero-initialised, 64-byte-aligned block of bytes.
//
// Zero-initialised because SPEC §A9 forbids any output depending on uninitialised memory:
// padding lanes of packed weights, for instance, must be the same bits on every run.
#ifndef DETINFER_CORE_BUFFER_H_
#define DETINFER_CORE_BUFFER_H_

#include <cstddef>
#include <memory>

#include "core/status.h"

namespace detinfer {

inline constexpr size_t kBufferAlignment = 64;  // one cache line; enough for AVX-512 loads

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // How a large buffer is backed (small ones come from the heap either way).
  enum class Pages {
    kHuge,    // transparent huge pages asked for: dense data touched whole (packed weights)
    kSparse,  // 4 KiB pages, huge pages refused: data touched in scattered runs, so that only
              // what is touched becomes resident (the KV cache: each sequence writes a few
              // blocks of every head's region, spread across the whole reservation)
  };
  // Allocates `bytes` (rounded up to the alignment), zero-filled. Fails cleanly on OOM.
  static Result<AlignedBuffer> Allocate(size_t bytes, Pages pages = Pages::kHuge);

  void* data() { return data_.get(); }
  const void* data() const { return data_.get(); }
  template <typename T> T* as() { return static_cast<T*>(data()); }
  template <typename T> const T* as() const { return static_cast<const T*>(data()); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  // mapped == 0: from aligned_alloc; else the length of the anonymous mapping (see Allocate).
  struct Free {
    size_t mapped;  // no initializer: GCC rejects one in a nested class used here; value-initialised
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> data_;
  size_t size_ = 0;
};

}  // namespace detinfer

#endif  // DETINFER_CORE_BUFFER_H_
