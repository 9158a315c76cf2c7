#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>

namespace detinfer {

namespace {
// mmap returns page-aligned memory; a FromBytes copy is aligned as strictly.
constexpr std::align_val_t kBytesAlignment{4096};
}  // namespace

MappedFile::Identity IdentityOf(const struct stat& st) {
  MappedFile::Identity id;
  id.dev = static_cast<uint64_t>(st.st_dev);
  id.ino = static_cast<uint64_t>(st.st_ino);
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  id.ctime_ns = int64_t{st.st_ctim.tv_sec} * 1000000000 + st.st_ctim.tv_nsec;
  return id;
}

MappedFile::~MappedFile() { Reset(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      owned_(std::exchange(other.owned_, false)),
      fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      identity_(std::exchange(other.identity_, {})) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    owned_ = std::exchange(other.owned_, false);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    identity_ = std::exchange(other.identity_, {});
  }
  return *this;
}

void MappedFile::Reset() {
  if (data_ != nullptr && owned_) {
    ::operator delete(const_cast<uint8_t*>(data_), kBytesAlignment);
  } else if (data_ != nullptr) {
    munmap(const_cast<uint8_t*>(data_), size_);
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  data_ = nullptr;
  owned_ = false;
  size_ = 0;
}

MappedFile MappedFile::FromBytes(const uint8_t* bytes, size_t size, std::string name) {
  MappedFile file;
  file.path_ = std::move(name);
  if (size > 0) {
    auto* p = static_cast<uint8_t*>(::operator new(size, kBytesAlignment));
    std::memcpy(p, bytes, size);
    file.data_ = p;
    file.size_ = size;
    file.owned_ = true;
  }
  return file;
}

Result<MappedFile> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = "cannot open '" + path + "': " + std::strerror(err);
    if (err == ENOENT) return Status::NotFound(msg);
    return Status::IoError(msg);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::IoError("cannot stat '" + path + "': " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("'" + path + "' is not a regular file");
  }
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(st.st_size);
  file.identity_ = IdentityOf(st);
  if (file.size_ > 0) {
    // No MAP_POPULATE / MADV_POPULATE_READ / MADV_WILLNEED, on purpose. Measured on the 110M
    // bf16 GGUF (page-cache hits, 2 packing threads): populating moved ~10 ms of page-table
    // work onto this thread before packing (map 0.3 -> 10.5 ms) and saved only 4-6 ms of
    // packing, whose threads otherwise take these faults in parallel (64 KiB fault-around);
    // WILLNEED and MADV_HUGEPAGE changed nothing measurable (the file is already cached).
    void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      file.size_ = 0;
      return Status::IoError("cannot map '" + path + "': " + std::strerror(err));
    }
    file.data_ = static_cast<const uint8_t*>(p);
    file.fd_ = fd;  // for ReadInto
    return file;
  }
  ::close(fd);
  return file;
}

void MappedFile::ReleasePages(const void* p, size_t n) const {
  if (owned_ || n == 0 || !Contains(p, n)) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;  // inward
  const auto end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  // Advice on a read-only private file map: the kernel may drop the pages and refills them from
  // the file on the next read. A refusal only keeps them resident, so it is not an error.
  if (end > begin) (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

Status MappedFile::ReadInto(const void* p, size_t n, void* out) const {
  if (n == 0) return Status::Ok();
  if (!Contains(p, n)) {
    return Status::InvalidArgument("ReadInto: the range is not inside '" + path_ + "'");
  }
  if (fd_ < 0) {  // a FromBytes copy: its memory is all there is
    std::memcpy(out, p, n);
    return Status::Ok();
  }
  auto offset = static_cast<off_t>(static_cast<const uint8_t*>(p) - data_);
  auto* dst = static_cast<uint8_t*>(out);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, dst, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int err = errno;
      return Status::IoError("cannot read '" + path_ + "' at byte " + std::to_string(offset) +
                             ": " + std::strerror(err));
    }
    if (got == 0) {
      return Status::IoError("'" + path_ + "' ends at byte " + std::to_string(offset) +
                             ", before the end of the map: it was cut short after it was opened");
    }
    dst += got;
    offset += got;
    n -= static_cast<size_t>(got);
  }
  return Status::Ok();
}

}  // namespace detinfer
