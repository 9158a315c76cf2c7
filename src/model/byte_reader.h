// Overflow-checked arithmetic and a bounds-checked little-endian reader for parsing model files.
//
// Model files are untrusted input: every size, offset and count read from one is checked
// against the bytes actually present before anything is read or allocated (a length field that
// is trusted is how CVE-2024-21802-class heap overflows happen). Every reader error names the
// file, the field being read and its offset.
#ifndef DETINFER_MODEL_BYTE_READER_H_
#define DETINFER_MODEL_BYTE_READER_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/status.h"

namespace detinfer {

// The formats are little-endian and the engine only targets x86-64, so scalars are memcpy'd.
static_assert(std::endian::native == std::endian::little, "detinfer assumes a little-endian host");

inline bool CheckedMul(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool CheckedAdd(uint64_t a, uint64_t b, uint64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// Element count of a tensor whose dimensions come from a file: fails (returns false) when a
// dimension is negative or the product does not fit in int64 (so that later `numel * size`
// byte counts, checked again, start from a sane number).
bool CheckedNumel(const int64_t* dims, int rank, int64_t* out);
// numel * elem_size as a byte count; false on overflow.
bool CheckedBytes(int64_t numel, size_t elem_size, uint64_t* out);

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string source)
      : data_(data), size_(size), source_(std::move(source)) {}

  size_t pos() const { return pos_; }
  size_t size() const { return size_; }
  size_t remaining() const { return size_ - pos_; }
  const uint8_t* data() const { return data_; }
  const std::string& source() const { return source_; }

  // "<file>: truncated: <what> at offset P needs N bytes, only M left".
  Status Truncated(std::string_view what, uint64_t need) const;

  // Reads n raw bytes (a view into the file); fails without moving when fewer remain.
  Status ReadBytes(uint64_t n, std::string_view what, const uint8_t** out);
  Status Skip(uint64_t n, std::string_view what) {
    const uint8_t* unused;
    return ReadBytes(n, what, &unused);
  }

  template <typename T>
  Status Read(std::string_view what, T* out) {
    const uint8_t* p;
    DETINFER_RETURN_IF_ERROR(ReadBytes(sizeof(T), what, &p));
    std::memcpy(out, p, sizeof(T));
    return Status::Ok();
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string source_;
};

}  // namespace detinfer

#endif  // DETINFER_MODEL_BYTE_READER_H_
