// PagedKvCache: K and V of every layer in fixed-size blocks, per-sequence block tables.
//
// SPEC §K5: K/V are rounded to the storage dtype exactly once, when written, and every reader
// (decode, prefill, re-scoring, the no-cache path) reads that rounded value through the same
// views. SPEC §R2 (slot identity) follows: the stored row for position p is a function of the
// first p+1 tokens only.
//
// Storage per layer, in the storage dtype, in one of kernels/attention.h's paged layouts:
// * block_size a multiple of 16 — KvLayout::kPagedTiled (head-major, K in transposed chunks of
//   16 keys): V [n_kv_heads, num_blocks, block_size, head_dim], K [n_kv_heads,
//   num_blocks * block_size / 16, head_dim, 16]. Each head's K and V then form sequential runs
//   that decode attention streams without transposing K (docs/attention.md, Speed).
// * otherwise — KvLayout::kPaged: K and V [num_blocks, block_size, n_kv_heads, head_dim].
// The layout decides only where a stored element lives, never its bits.
#ifndef DETINFER_KV_PAGED_KV_CACHE_H_
#define DETINFER_KV_PAGED_KV_CACHE_H_

#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/buffer.h"
#include "core/dtype.h"
#include "core/status.h"
#include "core/tensor.h"
#include "kernels/attention.h"
#include "kv/block_allocator.h"
#include "kv/prefix_index.h"

namespace detinfer {

struct KvCacheConfig {
  int64_t n_layers = 0;
  int64_t n_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t block_size = 16;        // tokens per block
  DType dtype = DType::kF32;      // storage dtype
  int64_t capacity_tokens = 0;    // rounded up to whole blocks
};

using SeqId = int64_t;

class PagedKvCache {
 public:
  static Result<PagedKvCache> Create(const KvCacheConfig& config);

  const KvCacheConfig& config() const { return config_; }
  int32_t num_blocks() const { return allocator_.num_blocks(); }
  int32_t free_blocks() const { return allocator_.num_free(); }
  // Free blocks plus cached blocks no sequence uses (evicted on demand, least recent first).
  int32_t available_blocks() const;
  size_t bytes() const { return storage_.size(); }

  // Registers an empty sequence. Error if the id is in use.
  Status AddSequence(SeqId seq);
  bool HasSequence(SeqId seq) const { return seqs_.count(seq) != 0; }
  // Makes room for positions [0, length): allocates the missing blocks all at once or, when
  // they are not free, fails with ResourceExhausted naming the sequence and changes nothing.
  Status Reserve(SeqId seq, int64_t length);
  // Releases the sequence's blocks.
  Status FreeSequence(SeqId seq);
  // Forgets positions >= length (their blocks, when wholly past the end, are released).
  Status Truncate(SeqId seq, int64_t length);

  // Rounds and stores rows for positions [pos, pos + n) of one layer. k and v are [n, n_kv_heads,
  // head_dim] f32, row stride `ld` floats. The positions must be reserved.
  Status Write(int64_t layer, SeqId seq, int64_t pos, int64_t n, const float* k, const float* v,
               int64_t ld);
  // Records that every layer now holds positions [0, length) (called once per forward step,
  // after all layers wrote). Length never shrinks here; use Truncate.
  Status Commit(SeqId seq, int64_t length);
  // Number of committed positions of the sequence (0 for an unknown one).
  int64_t Length(SeqId seq) const;
  std::span<const int32_t> BlockTable(SeqId seq) const;

  // Prefix cache (off by default). When on, full blocks a sequence publishes stay cached after
  // it is freed, and a new sequence can start from the longest cached prefix of its tokens.
  void EnablePrefixCache(bool on) { prefix_on_ = on; }
  bool prefix_cache_enabled() const { return prefix_on_; }
  // For a new, empty sequence: attaches the cached blocks holding the longest prefix of
  // `tokens` made of whole blocks, leaving at least one token to compute (whose logits the
  // caller needs). Returns the number of positions reused (a multiple of the block size).
  Result<int64_t> AttachPrefix(SeqId seq, std::span<const int32_t> tokens);
  // Publishes the sequence's full, committed blocks (tokens[0, Length(seq)) are its tokens),
  // so that later sequences can reuse them — generated tokens included.
  Status Publish(SeqId seq, std::span<const int32_t> tokens);
  struct PrefixStats {
    int64_t lookups = 0, hit_tokens = 0, looked_up_tokens = 0, evictions = 0;
  };
  const PrefixStats& prefix_stats() const { return stats_; }
  // Forgets every cached prefix (their blocks go back to the free list once no sequence holds
  // them), and the sequences alive now will never publish: their K/V was computed before the
  // flush, so a block they fill later is not what a cold prefill after it would write (e.g.
  // under new weights). Sequences added afterwards publish as usual.
  Status FlushPrefixCache();

  KvLayout layout() const { return tiled_ ? KvLayout::kPagedTiled : KvLayout::kPaged; }
  // One layer's storage as the attention op reads it (layout() above).
  KvView View(int64_t layer) const;
  // The stored (rounded) K and V rows of one position, widened to f32 ([n_kv_heads*head_dim]).
  Status ReadRow(int64_t layer, SeqId seq, int64_t pos, float* k, float* v) const;
  // The stored bytes of one position's K (value = false) or V row, [n_kv_heads, head_dim] in the
  // storage dtype, whatever the layout.
  Status CopyStoredRow(int64_t layer, bool value, SeqId seq, int64_t pos,
                       std::vector<uint8_t>* out) const;

 private:
  struct Sequence {
    std::vector<int32_t> blocks;
    int64_t length = 0;  // written positions
    std::vector<BlockHash> chain;  // hashes of its published (leading, full) blocks
    bool publishes = true;         // false once FlushPrefixCache ran while it was alive
  };
  Result<Sequence*> Find(SeqId seq);
  Result<const Sequence*> Find(SeqId seq) const;
  Status AllocateOrEvict(int32_t n, std::vector<int32_t>* out);
  // Byte offset of element (head g, dim d) of the K or V row in slot `slot` of `block`.
  size_t ElementOffset(int64_t layer, bool value, int32_t block, int64_t slot, int64_t g,
                       int64_t d) const;
  // Its storage row (block, slot) as [n_kv_heads, head_dim] bytes <-> the layout (per element
  // where the layout scatters it).
  void StoreRow(int64_t layer, bool value, int32_t block, int64_t slot, const uint8_t* row);
  void LoadRow(int64_t layer, bool value, int32_t block, int64_t slot, uint8_t* row) const;
  Result<std::pair<int32_t, int64_t>> Slot(SeqId seq, int64_t layer, int64_t pos) const;

  KvCacheConfig config_;
  BlockAllocator allocator_{0};
  AlignedBuffer storage_;
  int64_t row_elems_ = 0;  // n_kv_heads * head_dim
  bool tiled_ = false;
  std::unordered_map<SeqId, Sequence> seqs_;
  bool prefix_on_ = false;
  PrefixIndex prefix_;
  PrefixStats stats_;
};

}  // namespace detinfer

#endif  // DETINFER_KV_PAGED_KV_CACHE_H_
