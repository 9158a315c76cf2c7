#include "model/byte_reader.h"

#include <limits>

namespace detinfer {

bool CheckedNumel(const int64_t* dims, int rank, int64_t* out) {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] < 0) return false;
    if (__builtin_mul_overflow(n, dims[i], &n)) return false;
  }
  *out = n;
  return true;
}

bool CheckedBytes(int64_t numel, size_t elem_size, uint64_t* out) {
  if (numel < 0) return false;
  uint64_t bytes;
  if (!CheckedMul(static_cast<uint64_t>(numel), elem_size, &bytes)) return false;
  // Keep byte counts representable as int64 and size_t so callers may mix them freely.
  if (bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
  *out = bytes;
  return true;
}

Status ByteReader::Truncated(std::string_view what, uint64_t need) const {
  return Status::InvalidArgument(source_ + ": truncated: " + std::string(what) + " at offset " +
                                 std::to_string(pos_) + " needs " + std::to_string(need) +
                                 " bytes, only " + std::to_string(remaining()) + " left");
}

Status ByteReader::ReadBytes(uint64_t n, std::string_view what, const uint8_t** out) {
  if (n > remaining()) return Truncated(what, n);
  *out = data_ + pos_;
  pos_ += static_cast<size_t>(n);
  return Status::Ok();
}

}  // namespace detinfer
