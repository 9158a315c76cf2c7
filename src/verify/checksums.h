// SHA-256 (FIPS 180-4) for the manifest's model hashes, and CRC-32 (IEEE 802.3, the zip
// checksum) for the .npz writer. Small and dependency-free.
#ifndef DETINFER_VERIFY_CHECKSUMS_H_
#define DETINFER_VERIFY_CHECKSUMS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace detinfer::verify {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t n);
  std::string HexDigest();  // finishes the hash

 private:
  void Block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// Lowercase hex SHA-256 of a file's bytes; errors name the file.
Result<std::string> Sha256File(const std::string& path);

uint32_t Crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace detinfer::verify

#endif  // DETINFER_VERIFY_CHECKSUMS_H_
