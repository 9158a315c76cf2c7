// MappedFile: a read-only memory map of a whole file (model weights are used in place).
#ifndef DETINFER_CORE_MAPPED_FILE_H_
#define DETINFER_CORE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

namespace detinfer {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Errors name the path and the OS's reason (missing file, a directory, no permission).
  static Result<MappedFile> Open(const std::string& path);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void Reset();
  const uint8_t* data_ = nullptr;  // null for an empty file
  size_t size_ = 0;
  std::string path_;
};

}  // namespace detinfer

#endif  // DETINFER_CORE_MAPPED_FILE_H_
