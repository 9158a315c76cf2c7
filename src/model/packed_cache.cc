#include "model/packed_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

#include "core/buffer.h"
#include "core/storage_format.h"

namespace detinfer {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[16] = "DETINFER-PACKED";
constexpr uint32_t kFileVersion = 1;
constexpr size_t kHeaderBytes = 4096;
constexpr std::string_view kSuffix = ".dpk";

struct Header {
  uint32_t file_version = 0, packer_version = 0;
  uint64_t model_hash = 0, layout_hash = 0, bytes = 0, weight_hash = 0, payload_hash = 0;
};

// The payload's checksum: XXH3-64 of each kPayloadPiece bytes, then of those digests. A reader
// hashes each piece right after reading it, while it is still in cache.
constexpr size_t kPayloadPiece = size_t{256} << 10;

uint64_t CombineDigests(const std::vector<uint64_t>& digests) {
  return XXH3_64bits(digests.data(), digests.size() * sizeof(uint64_t));
}

uint64_t PayloadHash(std::span<const uint8_t> block) {
  std::vector<uint64_t> digests;
  for (size_t at = 0; at < block.size(); at += kPayloadPiece) {
    digests.push_back(XXH3_64bits(block.data() + at, std::min(kPayloadPiece, block.size() - at)));
  }
  return CombineDigests(digests);
}

template <typename T>
void Put(uint8_t* at, T v) {
  for (size_t i = 0; i < sizeof(T); ++i) at[i] = static_cast<uint8_t>(v >> (8 * i));
}
template <typename T>
T Get(const uint8_t* at) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(at[i]) << (8 * i);
  return v;
}

std::vector<uint8_t> EncodeHeader(const Header& h) {
  std::vector<uint8_t> b(kHeaderBytes, 0);
  std::memcpy(b.data(), kMagic, sizeof(kMagic));
  Put(b.data() + 16, h.file_version);
  Put(b.data() + 20, h.packer_version);
  Put(b.data() + 24, h.model_hash);
  Put(b.data() + 32, h.layout_hash);
  Put(b.data() + 40, h.bytes);
  Put(b.data() + 48, h.weight_hash);
  Put(b.data() + 56, h.payload_hash);
  Put(b.data() + 64, static_cast<uint64_t>(XXH3_64bits(b.data(), 64)));
  return b;
}

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Errno(int e) { return std::strerror(e); }

Status NotWritten(const std::string& path, const std::string& why) {
  return Status::IoError("packed-weight cache " + path + " not written: " + why);
}


// The least recently used entries (by mtime, which a hit refreshes) go until the directory
// holds at most `budget` bytes; `keep` stays whatever its age. Temporary files of writers that
// died (older than an hour) go too. Failures only leave files behind.
void Evict(const fs::path& dir, const fs::path& keep, uint64_t budget) {
  struct Entry {
    fs::file_time_type time;
    uint64_t bytes;
    fs::path path;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    std::error_code ec2;
    const auto time = e.last_write_time(ec2);
    if (ec2) continue;
    if (name.find(std::string(kSuffix) + ".") != std::string::npos) {  // a temporary file
      if (now - time > std::chrono::hours(1)) fs::remove(e.path(), ec2);
      continue;
    }
    if (!name.ends_with(kSuffix)) continue;
    const uint64_t bytes = e.file_size(ec2);
    if (ec2) continue;
    total += bytes;
    if (e.path() != keep) entries.push_back({time, bytes, e.path()});
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.time < b.time; });
  for (const Entry& e : entries) {
    if (total <= budget) break;
    std::error_code ec2;
    if (fs::remove(e.path, ec2)) total -= e.bytes;
  }
}

}  // namespace

std::string DefaultPackedCacheDir() {
  if (const char* d = std::getenv("DETINFER_CACHE_DIR"); d != nullptr && *d != '\0') return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x != '\0') {
    return (fs::path(x) / "detinfer").string();
  }
  if (const char* h = std::getenv("HOME"); h != nullptr && *h != '\0') {
    return (fs::path(h) / ".cache" / "detinfer").string();
  }
  return "";
}

std::string PackedCachePath(const std::string& dir, const PackedCacheKey& key) {
  return (fs::path(dir) / (Hex(key.model_hash) + "-" + Hex(key.layout_hash) +
                           std::string(kSuffix)))
      .string();
}

uint64_t PackedLayoutHash(const MatrixPacker& packer, const std::vector<MappedFile>& files) {
  const std::vector<uint64_t> words = packer.Layout([&files](const TensorView& part) {
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].Contains(part.data, 1)) {
        const auto offset = static_cast<uint64_t>(static_cast<const uint8_t*>(part.data) -
                                                  files[i].data());
        return (uint64_t{i + 1} << 48) | offset;
      }
    }
    // Not in a file (converted at load, e.g. a llama2.c transposition): its bytes name it.
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    const size_t row = StorageBytes(part.dtype, part.rank == 2 ? part.shape[1] : part.shape[0]);
    const int64_t rows = part.rank == 2 ? part.shape[0] : 1;
    for (int64_t r = 0; r < rows; ++r) XXH3_64bits_update(st, part.row_bytes(r), row);
    const uint64_t h = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return h;
  });
  return XXH3_64bits(words.data(), words.size() * sizeof(uint64_t));
}

Result<PackedCacheEntry> OpenPackedCache(const std::string& dir, const PackedCacheKey& key,
                                         const KernelContext& ctx) {
  const std::string path = PackedCachePath(dir, key);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    if (e == ENOENT) return Status::NotFound("packed-weight cache " + path + ": none yet");
    return Status::IoError("packed-weight cache " + path + ": " + Errno(e));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  const auto bad = [&](const std::string& why) -> Status {
    return Status::InvalidArgument("packed-weight cache " + path + " " + why);
  };
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return bad("is not a regular file");
  const uint64_t want = kHeaderBytes + key.bytes;
  if (static_cast<uint64_t>(st.st_size) != want) {
    return bad("has " + std::to_string(st.st_size) + " bytes, not " + std::to_string(want) +
               " (truncated or not this layout's)");
  }
  uint8_t b[72];
  if (::pread(fd, b, sizeof(b), 0) != static_cast<ssize_t>(sizeof(b))) {
    return bad("cannot be read: " + Errno(errno));
  }
  if (std::memcmp(b, kMagic, sizeof(kMagic)) != 0) return bad("is not a packed-weight cache file");
  if (Get<uint64_t>(b + 64) != XXH3_64bits(b, 64)) return bad("has a corrupt header");
  Header h;
  h.file_version = Get<uint32_t>(b + 16);
  h.packer_version = Get<uint32_t>(b + 20);
  h.model_hash = Get<uint64_t>(b + 24);
  h.layout_hash = Get<uint64_t>(b + 32);
  h.bytes = Get<uint64_t>(b + 40);
  h.weight_hash = Get<uint64_t>(b + 48);
  h.payload_hash = Get<uint64_t>(b + 56);
  if (h.file_version != kFileVersion || h.packer_version != MatrixPacker::kPackerVersion) {
    return bad("was written by file version " + std::to_string(h.file_version) + ", packer " +
               std::to_string(h.packer_version) + " (this build: " +
               std::to_string(kFileVersion) + ", " +
               std::to_string(MatrixPacker::kPackerVersion) + ")");
  }
  if (h.model_hash != key.model_hash || h.layout_hash != key.layout_hash || h.bytes != key.bytes) {
    return bad("holds model " + Hex(h.model_hash) + " layout " + Hex(h.layout_hash) +
               ", not the model and layout its name says");
  }
  // Read, not mapped: the payload lands in the huge pages a fresh pack gets (core/buffer.h).
  // Mapped page-cache pages are 4 KiB on most systems, and decode streams every weight per
  // token: mapped, the 110M f32 shape decoded 10-20 % slower here (alternating runs). Each
  // task reads one 2 MiB stretch, so its thread faults (zeroes) and fills that huge page alone.
  auto block = AlignedBuffer::Allocate(static_cast<size_t>(key.bytes));
  if (!block.ok()) return block.status();
  auto owner = std::make_shared<AlignedBuffer>(std::move(block).value());
  auto* dst = static_cast<uint8_t*>(owner->data());
  constexpr size_t kStretch = size_t{2} << 20;
  static_assert(kStretch % kPayloadPiece == 0);
  const size_t total = static_cast<size_t>(key.bytes);
  const auto tasks = static_cast<int64_t>((total + kStretch - 1) / kStretch);
  std::vector<int> failed(static_cast<size_t>(tasks), 0);
  std::vector<uint64_t> digests((total + kPayloadPiece - 1) / kPayloadPiece);
  ctx.ParallelFor(tasks, [&](int64_t t) {
    const size_t stretch = static_cast<size_t>(t) * kStretch;
    for (size_t piece = stretch; piece < std::min(total, stretch + kStretch); piece += kPayloadPiece) {
      const size_t end = std::min(total, piece + kPayloadPiece);
      for (size_t at = piece; at < end;) {
        const ssize_t r = ::pread(fd, dst + at, end - at, static_cast<off_t>(kHeaderBytes + at));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
          failed[static_cast<size_t>(t)] = r < 0 ? errno : EIO;
          return;
        }
        at += static_cast<size_t>(r);
      }
      digests[piece / kPayloadPiece] = XXH3_64bits(dst + piece, end - piece);
    }
  });
  for (int e : failed) {
    if (e != 0) return bad("cannot be read: " + Errno(e));
  }
  if (CombineDigests(digests) != h.payload_hash) {
    return bad("has a corrupt payload (it does not hash to its header's checksum)");
  }
  // A hit counts as a use for the eviction order.
  (void)::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
  PackedCacheEntry entry;
  entry.block = {dst, total};
  entry.owner = std::move(owner);
  entry.weight_hash = h.weight_hash;
  entry.path = path;
  return entry;
}

Status CheckPackedCacheRoom(const std::string& dir, const PackedCacheKey& key) {
  const std::string path = PackedCachePath(dir, key);
  const auto fail = [&](const std::string& why) { return NotWritten(path, why); };
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return fail("cannot create " + dir + ": " + ec.message());
  if (::access(dir.c_str(), W_OK) != 0) return fail(dir + ": " + Errno(errno));
  struct statvfs vfs {};
  if (::statvfs(dir.c_str(), &vfs) == 0) {
    const uint64_t free = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const uint64_t disk = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    const uint64_t reserve = std::min(uint64_t{1} << 30, disk / 10);
    const uint64_t need = key.bytes + kHeaderBytes + reserve;
    if (free < need) {
      return fail("the disk has " + std::to_string(free >> 20) + " MiB free, it needs " +
                  std::to_string(need >> 20) + " MiB (the file and a reserve)");
    }
  }
  return Status::Ok();
}

Status WritePackedCache(const std::string& dir, const PackedCacheKey& key,
                        std::span<const uint8_t> block, uint64_t weight_hash,
                        uint64_t max_dir_bytes) {
  DETINFER_RETURN_IF_ERROR(CheckPackedCacheRoom(dir, key));
  const std::string path = PackedCachePath(dir, key);
  const auto fail = [&](const std::string& why) { return NotWritten(path, why); };
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return fail(Errno(errno));
  (void)::fchmod(fd, 0644);
  Header h;
  h.file_version = kFileVersion;
  h.packer_version = MatrixPacker::kPackerVersion;
  h.model_hash = key.model_hash;
  h.layout_hash = key.layout_hash;
  h.bytes = key.bytes;
  h.weight_hash = weight_hash;
  h.payload_hash = PayloadHash(block);
  const std::vector<uint8_t> header = EncodeHeader(h);
  const auto write_all = [fd](const uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd, p, std::min(n, size_t{1} << 30));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  };
  // No fsync: a file cut short by a crash is refused by its size, one with lost pages by the
  // payload checksum; either is then rewritten. Syncing gigabytes would only slow the first load.
  const bool ok = write_all(header.data(), header.size()) &&
                  write_all(block.data(), block.size());
  const int write_errno = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return fail(Errno(write_errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    return fail(Errno(e));
  }
  Evict(dir, path, max_dir_bytes);
  return Status::Ok();
}

PackedCacheWriter::PackedCacheWriter(std::string dir, PackedCacheKey key,
                                     std::shared_ptr<const void> owner,
                                     std::span<const uint8_t> block, uint64_t weight_hash,
                                     uint64_t max_dir_bytes)
    : thread_([this, dir = std::move(dir), key, owner = std::move(owner), block, weight_hash,
               max_dir_bytes] {
        status_ = WritePackedCache(dir, key, block, weight_hash, max_dir_bytes);
      }) {}

PackedCacheWriter::~PackedCacheWriter() { (void)Wait(); }

const Status& PackedCacheWriter::Wait() {
  if (thread_.joinable()) thread_.join();
  return status_;
}

void RemovePackedCache(const std::string& dir, const PackedCacheKey& key) {
  (void)::unlink(PackedCachePath(dir, key).c_str());
}

std::string_view PackedCacheOutcomeName(PackedCacheReport::Outcome o) {
  switch (o) {
    case PackedCacheReport::Outcome::kOff: return "off";
    case PackedCacheReport::Outcome::kTooSmall: return "not used (small model)";
    case PackedCacheReport::Outcome::kHit: return "hit";
    case PackedCacheReport::Outcome::kWriting: return "writing";
    case PackedCacheReport::Outcome::kWritten: return "written";
    case PackedCacheReport::Outcome::kNotWritten: return "not written";
  }
  return "off";
}

}  // namespace detinfer
