// Packed-weight cache files: a model's packed matmul block (kernels/matmul_pack.h), written once
// and read by later loads instead of packing, so that a warm load packs nothing (a read of the
// file from the page cache into the same huge-page memory a pack fills).
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
// Layout: a 4096-byte header, then the block's bytes (so the block starts page-aligned in the
// file). Header, little-endian: "DETINFER-PACKED\0", u32 file version, u32 packer version, u64 model
// hash, u64 layout hash, u64 payload bytes, u64 weight hash, u64 payload checksum (XXH3-64 of
// every 256 KiB piece, then of the digests), u64 XXH3-64 of the preceding 64 bytes; zeros after.
#ifndef DETINFER_MODEL_PACKED_CACHE_H_
#define DETINFER_MODEL_PACKED_CACHE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "kernels/context.h"
#include "kernels/matmul_pack.h"

namespace detinfer {

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

struct PackedCacheEntry {
  std::shared_ptr<const void> owner;  // keeps the block alive
  std::span<const uint8_t> block;
  uint64_t weight_hash = 0;  // Transformer::HashWeights of the model the file was written for
  std::string path;
};
// NotFound when there is no file for the key; InvalidArgument naming the file and what is wrong
// when there is one that must not be used (truncated, another version, a header that disagrees,
// a payload that fails its checksum).
// The payload is read on ctx's threads into fresh huge-page memory (packed_cache.cc says why).
Result<PackedCacheEntry> OpenPackedCache(const std::string& dir, const PackedCacheKey& key,
                                         const KernelContext& ctx = {});
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

// Removes the file for the key (a payload found corrupt); quiet when there is none.
void RemovePackedCache(const std::string& dir, const PackedCacheKey& key);

// What a load did with the cache, for `info`, `--json` timings and logs.
struct PackedCacheReport {
  // kWriting: a PackedCacheWriter is at work (Transformer::WaitForPackedCache ends it).
  enum class Outcome { kOff, kTooSmall, kHit, kWriting, kWritten, kNotWritten };
  Outcome outcome = Outcome::kOff;
  std::string path;    // the file used or written
  std::string detail;  // why not written, or what was wrong with a file found
};
std::string_view PackedCacheOutcomeName(PackedCacheReport::Outcome o);  // "off", "hit", ...

}  // namespace detinfer

#endif  // DETINFER_MODEL_PACKED_CACHE_H_
