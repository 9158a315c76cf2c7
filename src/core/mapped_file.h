// MappedFile: a read-only memory map of a whole file (model weights are used in place), or the
// same read-only view over a private copy of bytes already in memory (FromBytes), so that every
// parser of a file format also parses a byte buffer (fuzz targets, network input) through the
// same code and the same checks.
#ifndef DETINFER_CORE_MAPPED_FILE_H_
#define DETINFER_CORE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/status.h"

struct stat;

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
  // A copy of `bytes` in a buffer aligned like a page of a map (so that alignment checks
  // against file offsets decide pointer alignment the same way); `name` plays the path's part
  // in error messages.
  static MappedFile FromBytes(const uint8_t* bytes, size_t size, std::string name);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Which file was mapped, as fstat saw it when it was opened: all zero for a FromBytes copy.
  // A change to a file's contents changes its ctime, which no program can set (touch sets
  // mtime): model/packed_cache.h remembers a model's content hash by these.
  struct Identity {
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtime_ns = 0, ctime_ns = 0;
    bool operator==(const Identity&) const = default;
  };
  const Identity& identity() const { return identity_; }
  bool Contains(const void* p, size_t n) const {
    const auto* b = static_cast<const uint8_t*>(p);
    return data_ != nullptr && b >= data_ && n <= size_ && b - data_ <= static_cast<ptrdiff_t>(size_ - n);
  }

  // Drops the resident pages wholly inside [p, p + n) from this process (MADV_DONTNEED): a read
  // after that faults them back in from the file, unchanged, so nothing a reader sees changes;
  // only memory is given back (e.g. a matrix once its packed copy exists). The range must be in
  // the file. A FromBytes copy has no file to refill from: nothing is dropped there.
  void ReleasePages(const void* p, size_t n) const;

  // Copies the n bytes of the view at p (inside it) into out. From a map they are read from
  // the file (pread), not through the map, so no page of it becomes resident in this process:
  // a read through the map would map the whole page-cache folio it lands in (up to 2 MiB), and
  // the embedding rows of a 512-token prompt brought a 14 MB q4_0 table wholly back that way.
  // The bytes are the map's either way (a private read-only map of an unwritten file shows the
  // file). Fails, naming the path, on an I/O error or a file cut short since it was mapped.
  Status ReadInto(const void* p, size_t n, void* out) const;

 private:
  void Reset();
  const uint8_t* data_ = nullptr;  // null for an empty file
  size_t size_ = 0;
  bool owned_ = false;  // data_ is a FromBytes copy (freed), not a map (unmapped)
  int fd_ = -1;          // the mapped file, kept open for ReadInto; -1 for a FromBytes copy
  std::string path_;
  Identity identity_;
};

// The identity fstat/stat `st` gives (MappedFile::identity).
MappedFile::Identity IdentityOf(const struct stat& st);

}  // namespace detinfer

#endif  // DETINFER_CORE_MAPPED_FILE_H_
