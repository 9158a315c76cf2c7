// A NumPy .npz writer: a zip archive (stored entries, no compression, CRC-32) of .npy v1.0
// arrays, readable by numpy.load. Arrays are little-endian; bf16 has no NumPy dtype, so callers
// store its raw bits as '<u2' (say so beside the file). No ZIP64: an archive over 4 GiB is an
// error naming the limit.
#ifndef DETINFER_VERIFY_NPZ_WRITER_H_
#define DETINFER_VERIFY_NPZ_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace detinfer::verify {

// The bytes of a .npy file: `descr` is a NumPy dtype string ('<f4', '<u2', '<f2'), `shape` the
// C-order shape; data holds prod(shape) * itemsize bytes.
std::vector<uint8_t> NpyBytes(const std::string& descr, const std::vector<int64_t>& shape,
                              const void* data, size_t bytes);

class NpzWriter {
 public:
  // Adds `name`.npy. Names must be unique.
  Status Add(const std::string& name, const std::string& descr, const std::vector<int64_t>& shape,
             const void* data, size_t bytes);
  Status WriteFile(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    uint32_t crc = 0;
    uint32_t size = 0;
    uint32_t offset = 0;
  };
  std::vector<Entry> entries_;
  std::vector<uint8_t> body_;  // local headers and data
};

}  // namespace detinfer::verify

#endif  // DETINFER_VERIFY_NPZ_WRITER_H_
