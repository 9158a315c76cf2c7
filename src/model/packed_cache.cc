#include "model/packed_cache.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <system_error>
#include <vector>

#include "core/buffer.h"
#include "core/storage_format.h"
#include "model/model_bundle.h"

namespace detinfer {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[16] = "DETINFER-PACKED";
constexpr uint32_t kFileVersion = 2;  // 2: the payload at 2 MiB (1: at 4096)
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

// Where the payload starts in a file: 2 MiB, so that the page cache's 2 MiB folios of the
// payload are 2 MiB-aligned in the file and can be mapped with one page-table entry each.
static_assert(kPackedCachePayloadOffset % (size_t{2} << 20) == 0);
constexpr size_t kPackedStretch = size_t{2} << 20;
static_assert(kPackedStretch % kPayloadPiece == 0);

struct PackedUnmap {
  size_t bytes;  // no initializer: value-initialised where used
  void operator()(const uint8_t* p) const { ::munmap(const_cast<uint8_t*>(p), bytes); }
};
using PackedMapping = std::unique_ptr<const uint8_t, PackedUnmap>;

// The payload mapped read-only at a 2 MiB-aligned address (congruent with its file offset, as
// a 2 MiB page-table entry needs), with huge pages asked for; empty when it cannot be mapped.
PackedMapping MapPackedPayload(int fd, size_t bytes) {
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const size_t length = (bytes + page - 1) / page * page;
  const size_t span = length + kPackedStretch;
  void* raw = ::mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return {};
  const auto base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (base + kPackedStretch - 1) / kPackedStretch * kPackedStretch;
  void* p = ::mmap(reinterpret_cast<void*>(aligned), length, PROT_READ, MAP_SHARED | MAP_FIXED,
                   fd, static_cast<off_t>(kPackedCachePayloadOffset));
  if (p == MAP_FAILED) {
    ::munmap(raw, span);
    return {};
  }
  if (aligned > base) ::munmap(raw, aligned - base);
  if (base + span > aligned + length) {
    ::munmap(reinterpret_cast<void*>(aligned + length), base + span - (aligned + length));
  }
  // Advice: faults read ahead, and the page cache keeps, 2 MiB folios where the file system
  // supports large folios (ext4 and XFS on recent kernels).
  (void)::madvise(p, length, MADV_HUGEPAGE);
  return PackedMapping(static_cast<const uint8_t*>(p), PackedUnmap{length});
}

// The bytes of [start, start + bytes) that are mapped by 2 MiB entries: PAGEMAP_SCAN's
// PAGE_IS_HUGE (Linux 6.7; its ABI, declared here for older headers), else FilePmdMapped of the
// mapping in /proc/self/smaps (slower: it walks every mapping, counting each 4 KiB page); 0 when
// neither is available.
struct PackedPageRegion {
  uint64_t start, end, categories;
};
struct PackedScanArg {
  uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
      category_mask, category_anyof_mask, return_mask;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, PackedScanArg);
constexpr uint64_t kPageIsPresent = 1u << 3, kPageIsHuge = 1u << 6;

uint64_t HugeMappedBytes(const uint8_t* start, size_t bytes) {
  const int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pm >= 0) {
    uint64_t huge = 0;
    bool scanned = true;
    PackedPageRegion regions[64];
    auto at = reinterpret_cast<uint64_t>(start);
    const uint64_t end = at + bytes;
    while (at < end) {
      PackedScanArg a{};
      a.size = sizeof a;
      a.start = at;
      a.end = end;
      a.vec = reinterpret_cast<uint64_t>(regions);
      a.vec_len = std::size(regions);
      a.category_mask = kPageIsPresent | kPageIsHuge;
      a.return_mask = kPageIsHuge;
      const int n = ::ioctl(pm, kPagemapScan, &a);
      if (n < 0) {
        scanned = false;
        break;
      }
      for (int i = 0; i < n; ++i) huge += regions[i].end - regions[i].start;
      if (a.walk_end <= at) break;
      at = a.walk_end;
    }
    ::close(pm);
    if (scanned) return huge;
  }
  std::FILE* f = std::fopen("/proc/self/smaps", "re");
  if (f == nullptr) return 0;
  char line[512];
  bool in = false;
  uint64_t kb = 0;
  const auto want = reinterpret_cast<uintptr_t>(start);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long lo = 0, hi = 0;
    char dash = 0;
    if (std::sscanf(line, "%llx%c%llx ", &lo, &dash, &hi) == 3 && dash == '-') {
      if (in) break;
      in = lo == want;
      continue;
    }
    unsigned long long v = 0;
    if (in && std::sscanf(line, "FilePmdMapped: %llu kB", &v) == 1) {
      kb = v;
      break;
    }
  }
  std::fclose(f);
  return kb << 10;
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
    if (name.find(std::string(kSuffix) + ".") != std::string::npos ||
        name.find(".dmh.") != std::string::npos) {  // a temporary file
      if (now - time > std::chrono::hours(1)) fs::remove(e.path(), ec2);
      continue;
    }
    if (name.ends_with(".dmh")) {  // a model-hash memo: one unused for 30 days goes
      if (now - time > std::chrono::hours(24 * 30)) fs::remove(e.path(), ec2);
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
                                         const KernelContext& ctx, PackedCacheRead how) {
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
  const uint64_t want = kPackedCachePayloadOffset + key.bytes;
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
  const size_t total = static_cast<size_t>(key.bytes);
  const auto stretches = static_cast<int64_t>((total + kPackedStretch - 1) / kPackedStretch);
  std::vector<uint64_t> digests((total + kPayloadPiece - 1) / kPayloadPiece);
  // Each task hashes one 2 MiB stretch (a huge page of the block either way).
  const auto hash_stretch = [&digests, total](const uint8_t* block, size_t stretch) {
    for (size_t piece = stretch; piece < std::min(total, stretch + kPackedStretch);
         piece += kPayloadPiece) {
      const size_t end = std::min(total, piece + kPayloadPiece);
      digests[piece / kPayloadPiece] = XXH3_64bits(block + piece, end - piece);
    }
  };
  PackedCacheEntry entry;
  entry.weight_hash = h.weight_hash;
  entry.path = path;
  std::shared_ptr<const void> owner;
  const uint8_t* data = nullptr;
  if (how != PackedCacheRead::kCopy && total > 0) {
    // Mapped: the page cache's pages are this process's weights, shared with every process
    // that maps the file. Each task faults its stretch in (one 2 MiB fault where the page cache
    // holds a 2 MiB folio) and hashes it: the checksum covers the very pages used.
    if (auto mapped = MapPackedPayload(fd, total)) {
      // Faulted in first (parallel, no data read yet when cached), so that how it is mapped
      // is known before it is hashed. A file cut short since fstat fails here (EFAULT), not
      // with a SIGBUS later.
      std::vector<int> fault(static_cast<size_t>(stretches), 0);
      ctx.ParallelFor(stretches, [&](int64_t t) {
        const size_t at = static_cast<size_t>(t) * kPackedStretch;
        if (::madvise(const_cast<uint8_t*>(mapped.get()) + at,
                      std::min(kPackedStretch, total - at), MADV_POPULATE_READ) != 0) {
          fault[static_cast<size_t>(t)] = errno;
        }
      });
      for (int e : fault) {
        // EINVAL: a kernel before 5.14 (then the hash below faults the pages in).
        if (e != 0 && e != EINVAL) return bad("cannot be read: " + Errno(e));
      }
      // Decode streams every weight per token: mapped on 4 KiB pages it ran 10-20 % slower
      // than on 2 MiB ones (docs/formats.md). Where the page cache did not give 2 MiB folios
      // (a file system without large folios, pages cached by a small-read tool), a copy into
      // huge pages is read instead.
      const uint64_t pmd = HugeMappedBytes(mapped.get(), total);
      const uint64_t whole = total / kPackedStretch * kPackedStretch;
      entry.huge_bytes = pmd;
      if (how == PackedCacheRead::kMap || pmd * 10 >= whole * 9) {
        data = mapped.get();
        owner = std::move(mapped);
        entry.mapped = true;
        ctx.ParallelFor(stretches, [&](int64_t t) {
          hash_stretch(data, static_cast<size_t>(t) * kPackedStretch);
        });
      } else {
        entry.note = "read, not mapped: " + std::to_string(pmd >> 20) + " of " +
                     std::to_string(whole >> 20) + " MiB were on 2 MiB pages";
      }
    }
  }
  if (!entry.mapped) {
    // Read into the huge pages a fresh pack gets (core/buffer.h). Each task reads one 2 MiB
    // stretch, so its thread faults (zeroes) and fills that huge page alone.
    auto block = AlignedBuffer::Allocate(total);
    if (!block.ok()) return block.status();
    auto buffer = std::make_shared<AlignedBuffer>(std::move(block).value());
    auto* dst = static_cast<uint8_t*>(buffer->data());
    std::vector<int> failed(static_cast<size_t>(stretches), 0);
    ctx.ParallelFor(stretches, [&](int64_t t) {
      const size_t stretch = static_cast<size_t>(t) * kPackedStretch;
      const size_t end = std::min(total, stretch + kPackedStretch);
      for (size_t at = stretch; at < end;) {
        const ssize_t r = ::pread(fd, dst + at, end - at,
                                  static_cast<off_t>(kPackedCachePayloadOffset + at));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
          failed[static_cast<size_t>(t)] = r < 0 ? errno : EIO;
          return;
        }
        at += static_cast<size_t>(r);
      }
      hash_stretch(dst, stretch);
    });
    for (int e : failed) {
      if (e != 0) return bad("cannot be read: " + Errno(e));
    }
    data = dst;
    owner = std::move(buffer);
  }
  if (CombineDigests(digests) != h.payload_hash) {
    return bad("has a corrupt payload (it does not hash to its header's checksum)");
  }
  // A hit counts as a use for the eviction order.
  (void)::utimensat(AT_FDCWD, path.c_str(), nullptr, 0);
  entry.block = {data, total};
  entry.owner = std::move(owner);
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
    const uint64_t need = key.bytes + kPackedCachePayloadOffset + reserve;
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
  // Read-only: running processes map the file, so an edit in place would change their weights
  // after the checksum (detinfer only ever replaces a file whole, by rename).
  (void)::fchmod(fd, 0444);
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
  // The payload at its 2 MiB offset; what lies between is a hole, never read.
  const bool ok = write_all(header.data(), header.size()) &&
                  ::lseek(fd, static_cast<off_t>(kPackedCachePayloadOffset), SEEK_SET) >= 0 &&
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
#if defined(__linux__)
        // SCHED_IDLE: the writer runs only on a core nothing else wants. Checksumming and
        // copying the whole file at normal priority took a core and memory bandwidth from the
        // first requests (a 512-token prefill of the 110M f32 model, right after a cold load,
        // took 1.2 s instead of 0.6 s). The work is the same either way, only later: between
        // requests, or at exit, where the destructor waits for it.
        const sched_param idle{};
        (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
#endif
        status_ = WritePackedCache(dir, key, block, weight_hash, max_dir_bytes);
      }) {}

PackedCacheWriter::~PackedCacheWriter() { (void)Wait(); }

const Status& PackedCacheWriter::Wait() {
  if (thread_.joinable()) thread_.join();
  return status_;
}

namespace {

constexpr char kHashMemoMagic[16] = "DETINFER-MODELH";
// Bumped whenever ModelFilesHash's definition changes (model_bundle.h), with its piece size in
// the memo's name too.
constexpr uint32_t kHashMemoVersion = 1;
constexpr std::string_view kHashMemoSuffix = ".dmh";
constexpr size_t kHashMemoFixed = 16 + 4 + 4 + 8 + 8;  // magic, version, count, hash, checksum

struct HashMemo {
  std::string path;
  std::vector<uint8_t> bytes;  // what the file holds for these identities (checksum last)
};

// The memo's name and contents for `files` and `hash`; empty when a file has no identity.
HashMemo EncodeHashMemo(const std::string& dir, const std::vector<MappedFile>& files,
                        uint64_t hash) {
  HashMemo m;
  std::vector<uint64_t> words = {kHashMemoVersion, kModelHashPiece};
  for (const MappedFile& f : files) {
    const MappedFile::Identity& id = f.identity();
    if (id.ino == 0 && id.dev == 0) return {};
    for (uint64_t w : {id.dev, id.ino, id.size, static_cast<uint64_t>(id.mtime_ns),
                       static_cast<uint64_t>(id.ctime_ns)}) {
      words.push_back(w);
    }
  }
  if (files.empty()) return {};
  m.path = (fs::path(dir) / (Hex(XXH3_64bits(words.data(), words.size() * sizeof(uint64_t))) +
                             std::string(kHashMemoSuffix)))
               .string();
  m.bytes.resize(kHashMemoFixed + 40 * files.size(), 0);
  uint8_t* at = m.bytes.data();
  std::memcpy(at, kHashMemoMagic, sizeof(kHashMemoMagic));
  Put(at + 16, kHashMemoVersion);
  Put(at + 20, static_cast<uint32_t>(files.size()));
  at += 24;
  for (size_t i = 2; i < words.size(); ++i, at += 8) Put(at, words[i]);
  Put(at, hash);
  Put(at + 8, static_cast<uint64_t>(XXH3_64bits(m.bytes.data(), m.bytes.size() - 8)));
  return m;
}

uint64_t HashInMemo(const std::vector<uint8_t>& bytes) {
  return Get<uint64_t>(bytes.data() + bytes.size() - 16);
}

}  // namespace

int64_t WallClockNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::optional<uint64_t> RecallModelHash(const std::string& dir,
                                        const std::vector<MappedFile>& files) {
  if (dir.empty()) return std::nullopt;
  // The contents this memo would hold for any hash: everything up to the hash must match, and
  // the checksum must be the file's own.
  HashMemo want = EncodeHashMemo(dir, files, 0);
  if (want.path.empty()) return std::nullopt;
  const int fd = ::open(want.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::vector<uint8_t> got(want.bytes.size() + 1);
  const ssize_t n = ::pread(fd, got.data(), got.size(), 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(want.bytes.size())) return std::nullopt;
  got.pop_back();
  const size_t body = got.size() - 16;
  if (std::memcmp(got.data(), want.bytes.data(), body) != 0 ||
      Get<uint64_t>(got.data() + got.size() - 8) != XXH3_64bits(got.data(), got.size() - 8)) {
    return std::nullopt;
  }
  // A use, for the clean-up of memos nobody used for a month (Evict).
  (void)::utimensat(AT_FDCWD, want.path.c_str(), nullptr, 0);
  return HashInMemo(got);
}

void RememberModelHash(const std::string& dir, const std::vector<MappedFile>& files,
                       uint64_t hash, int64_t hash_started_ns) {
  if (dir.empty()) return;
  constexpr int64_t kSettled = int64_t{2} * 1000000000;
  for (const MappedFile& f : files) {
    struct stat st {};
    // Changed while it was hashed, or too recently to tell: not remembered (hashed next time).
    if (f.identity().ctime_ns > hash_started_ns - kSettled || ::stat(f.path().c_str(), &st) != 0 ||
        !(IdentityOf(st) == f.identity())) {
      return;
    }
  }
  const HashMemo m = EncodeHashMemo(dir, files, hash);
  if (m.path.empty()) return;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return;
  std::string tmp = m.path + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());
  if (fd < 0) return;
  (void)::fchmod(fd, 0444);
  const bool ok = ::write(fd, m.bytes.data(), m.bytes.size()) ==
                  static_cast<ssize_t>(m.bytes.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), m.path.c_str()) != 0) ::unlink(tmp.c_str());
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
