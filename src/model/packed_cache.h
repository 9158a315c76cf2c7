// Packed-weight cache files: a model's packed matmul block (kernels/matmul_pack.h), written once
// and used by later loads instead of packing, so that a warm load packs nothing: the file is
// mapped read-only (its page-cache pages, shared by every process using it, on 2 MiB folios
// where the file system gives them), or read into the huge-page memory a pack fills where not.
//
// A file is named by its key, the content hash of the model's files and the hash of the packed
// layout (MatrixPacker::Layout: packer version, shapes, dtypes, where each part is read from), so
// a changed model, another packer version or another layout looks for another file; a file whose
// header disagrees with its name, is shorter or longer than its header says, or whose payload
// does not hash to the checksum in its header is never used. The weight hash
// (Transformer::weight_hash) recorded at writing is then the loaded model's: it is a function of
// the model's files (the key) and the packed bytes (the checksum), so a hit need not recompute it. Writing goes to a temporary file in the same directory and is
// renamed into place, so a reader sees a whole file or none, and two processes creating the same
// entry at once both succeed (the bytes are the same). Packing is a copy, so nothing computed
// from an entry read back differs by one bit from a fresh pack (tested).
//
// Layout (file version 2): a 4096-byte header, a hole, and the block's bytes from 2 MiB into the
// file (so that 2 MiB page-cache folios of the block can be mapped whole). Header, little-endian: "DETINFER-PACKED\0", u32 file version, u32 packer version, u64 model
// hash, u64 layout hash, u64 payload bytes, u64 weight hash, u64 payload checksum (XXH3-64 of
// every 256 KiB piece, then of the digests), u64 XXH3-64 of the preceding 64 bytes; zeros after.
#ifndef DETINFER_MODEL_PACKED_CACHE_H_
#define DETINFER_MODEL_PACKED_CACHE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "kernels/context.h"
#include "kernels/matmul_pack.h"

namespace detinfer {

// How a hit gets its block. kMapHuge: the file mapped (shared with other processes) when its
// pages are 2 MiB folios mapped with 2 MiB entries (>= 90 % of the payload's whole 2 MiB
// stretches), else, or when it cannot be mapped, a copy read into huge pages. kMap: mapped
// whatever the page size (tests). kCopy: always read into a copy.
enum class PackedCacheRead { kMapHuge, kMap, kCopy };

struct PackedCacheOptions {
  std::string dir;          // where the files live; empty: no cache (pack every time)
  // Content hash of the model's files (ModelBundle::model_hash); 0: Transformer::Create
  // computes it.
  uint64_t model_hash = 0;
  // Blocks smaller than this are packed every time (packing 256 MB takes ~40 ms here; a
  // file per small model would only fill the directory).
  uint64_t min_bytes = uint64_t{256} << 20;
  // After writing, least recently used files go until the directory holds at most this much
  // (never the file just written).
  uint64_t max_dir_bytes = uint64_t{64} << 30;
  PackedCacheRead read = PackedCacheRead::kMapHuge;  // how a hit gets its block
};

// $DETINFER_CACHE_DIR, else $XDG_CACHE_HOME/detinfer, else $HOME/.cache/detinfer; "" when none
// is set.
std::string DefaultPackedCacheDir();

struct PackedCacheKey {
  uint64_t model_hash = 0, layout_hash = 0, bytes = 0;
};
std::string PackedCachePath(const std::string& dir, const PackedCacheKey& key);
// XXH3-64 of packer.Layout, each part located by (file index, offset) in `files` (the model's
// files, whose contents the model hash covers), or by a hash of its bytes when in none.
uint64_t PackedLayoutHash(const MatrixPacker& packer, const std::vector<MappedFile>& files);

// Where a file's payload starts (the header is its first 4096 bytes; a hole follows).
inline constexpr size_t kPackedCachePayloadOffset = size_t{2} << 20;

struct PackedCacheEntry {
  std::shared_ptr<const void> owner;  // keeps the block alive (a mapping or a buffer)
  std::span<const uint8_t> block;
  uint64_t weight_hash = 0;  // Transformer::HashWeights of the model the file was written for
  std::string path;
  bool mapped = false;      // the block is the file's page-cache pages (else a private copy)
  uint64_t huge_bytes = 0;  // of the mapping, how many bytes were on 2 MiB entries
  std::string note;         // why a copy was read instead of mapping, if it was
};
// NotFound when there is no file for the key; InvalidArgument naming the file and what is wrong
// when there is one that must not be used (truncated, another version, a header that disagrees,
// a payload that fails its checksum).
// The payload is faulted in (mapped) or read (copied) and hashed on ctx's threads.
Result<PackedCacheEntry> OpenPackedCache(const std::string& dir, const PackedCacheKey& key,
                                         const KernelContext& ctx = {},
                                         PackedCacheRead how = PackedCacheRead::kMapHuge);
// Whether an entry for the key can be written: creates `dir` if needed; errors name the file
// and the reason (not writable, no room: it keeps 1 GiB or 10 % of the disk free, whichever is
// less).
Status CheckPackedCacheRoom(const std::string& dir, const PackedCacheKey& key);
// Writes the entry atomically after CheckPackedCacheRoom; errors name the file and the reason.
Status WritePackedCache(const std::string& dir, const PackedCacheKey& key,
                        std::span<const uint8_t> block, uint64_t weight_hash,
                        uint64_t max_dir_bytes);
// Writes an entry on a thread of its own, so that a load does not wait for gigabytes of disk
// writes (a 1B model's file took ~9 s here; packing it ~5 s). `owner` keeps the block alive
// until then. Wait() joins and returns how it went; the destructor waits too, so a process that
// exits normally leaves a whole file (one killed leaves a temporary file, removed later).
class PackedCacheWriter {
 public:
  PackedCacheWriter(std::string dir, PackedCacheKey key, std::shared_ptr<const void> owner,
                    std::span<const uint8_t> block, uint64_t weight_hash, uint64_t max_dir_bytes);
  ~PackedCacheWriter();
  PackedCacheWriter(const PackedCacheWriter&) = delete;
  PackedCacheWriter& operator=(const PackedCacheWriter&) = delete;
  const Status& Wait();

 private:
  Status status_;  // before thread_, which writes it
  std::thread thread_;
};

// The model hash remembered (so that a warm load need not read gigabytes of model file to
// name the model). `dir`/<hash of the identities>.dmh holds, for the identities of a model's
// files (MappedFile::identity: device, inode, size, mtime and ctime in ns, from the fstat of
// the very file mapped), the ModelFilesHash computed from them. Why this is safe: the kernel
// sets a file's ctime to the current time on every change to its contents or size, and no
// program can set it (utimensat / touch set only mtime), so a file edited in place, replaced,
// truncated or restored with an old mtime has another identity and is hashed afresh. A hash is
// only remembered when every file's ctime was at least 2 s old before hashing began (a change
// within one timestamp tick of the fstat could otherwise keep the ctime; git's "racy clean"
// rule) and unchanged after it. Left out: a system clock set back to the very nanosecond, or a
// file system that does not keep ctime — for those, --weight-cache off (and `replay`, which
// checks receipts, always hashes). A memo is 40 bytes + 40 per file, its last 8 an XXH3 of the
// rest; one that does not match exactly is not used.
std::optional<uint64_t> RecallModelHash(const std::string& dir,
                                        const std::vector<MappedFile>& files);
// Remembers `hash` for `files` when that is safe (above); `hash_started_ns` is the wall clock
// (CLOCK_REALTIME, ns) just before the files were hashed. Failures only cost the memo.
void RememberModelHash(const std::string& dir, const std::vector<MappedFile>& files,
                       uint64_t hash, int64_t hash_started_ns);
// CLOCK_REALTIME in ns: the clock file times are set from.
int64_t WallClockNs();

// Removes the file for the key (a payload found corrupt); quiet when there is none.
void RemovePackedCache(const std::string& dir, const PackedCacheKey& key);

// What a load did with the cache, for `info`, `--json` timings and logs.
struct PackedCacheReport {
  // kWriting: a PackedCacheWriter is at work (Transformer::WaitForPackedCache ends it).
  enum class Outcome { kOff, kTooSmall, kHit, kWriting, kWritten, kNotWritten };
  Outcome outcome = Outcome::kOff;
  std::string path;    // the file used or written
  std::string detail;  // why not written, or what was wrong with a file found
  // A hit: whether the packed weights are the file's shared page-cache pages (else a private
  // copy), and why a copy was read when a mapping was asked for.
  bool mapped = false;
  std::string read_note;
};
std::string_view PackedCacheOutcomeName(PackedCacheReport::Outcome o);  // "off", "hit", ...

}  // namespace detinfer

#endif  // DETINFER_MODEL_PACKED_CACHE_H_
