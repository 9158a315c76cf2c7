#include "kv/paged_kv_cache.h"

#include <limits>
#include <string>

namespace detinfer {

namespace {

std::string SeqName(SeqId seq) { return "sequence " + std::to_string(seq); }

}  // namespace

Result<PagedKvCache> PagedKvCache::Create(const KvCacheConfig& config) {
  auto positive = [](const char* name, int64_t v) -> Status {
    if (v <= 0) {
      return Status::InvalidArgument(std::string("kv cache: ") + name +
                                     " must be positive, got " + std::to_string(v));
    }
    return Status::Ok();
  };
  DETINFER_RETURN_IF_ERROR(positive("n_layers", config.n_layers));
  DETINFER_RETURN_IF_ERROR(positive("n_kv_heads", config.n_kv_heads));
  DETINFER_RETURN_IF_ERROR(positive("head_dim", config.head_dim));
  DETINFER_RETURN_IF_ERROR(positive("block_size", config.block_size));
  DETINFER_RETURN_IF_ERROR(positive("capacity_tokens", config.capacity_tokens));
  const int64_t blocks = (config.capacity_tokens + config.block_size - 1) / config.block_size;
  if (blocks > std::numeric_limits<int32_t>::max()) {
    return Status::InvalidArgument("kv cache: capacity of " +
                                   std::to_string(config.capacity_tokens) + " tokens is too large");
  }
  // bytes = layers * 2 * blocks * block_size * heads * head_dim * elem, overflow-checked.
  const double approx = double(config.n_layers) * 2 * double(blocks) * double(config.block_size) *
                        double(config.n_kv_heads) * double(config.head_dim) *
                        double(DTypeSize(config.dtype));
  if (approx > double(std::numeric_limits<int64_t>::max() / 2)) {
    return Status::ResourceExhausted("kv cache: " + std::to_string(approx) +
                                     " bytes requested is beyond any machine");
  }
  PagedKvCache cache;
  cache.config_ = config;
  cache.row_elems_ = config.n_kv_heads * config.head_dim;
  const size_t bytes = static_cast<size_t>(config.n_layers) * 2 * static_cast<size_t>(blocks) *
                       static_cast<size_t>(config.block_size) *
                       static_cast<size_t>(cache.row_elems_) * DTypeSize(config.dtype);
  auto storage = AlignedBuffer::Allocate(bytes);
  if (!storage.ok()) {
    return Status::ResourceExhausted("kv cache: cannot allocate " + std::to_string(bytes) +
                                     " bytes for " + std::to_string(config.capacity_tokens) +
                                     " tokens: " + storage.status().message());
  }
  cache.storage_ = std::move(storage).value();
  cache.allocator_ = BlockAllocator(static_cast<int32_t>(blocks));
  return cache;
}

Result<PagedKvCache::Sequence*> PagedKvCache::Find(SeqId seq) {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return Status::NotFound("kv cache: unknown " + SeqName(seq));
  return &it->second;
}

Result<const PagedKvCache::Sequence*> PagedKvCache::Find(SeqId seq) const {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return Status::NotFound("kv cache: unknown " + SeqName(seq));
  return &it->second;
}

Status PagedKvCache::AddSequence(SeqId seq) {
  if (!seqs_.emplace(seq, Sequence{}).second) {
    return Status::InvalidArgument("kv cache: " + SeqName(seq) + " already exists");
  }
  return Status::Ok();
}

Status PagedKvCache::Reserve(SeqId seq, int64_t length) {
  DETINFER_ASSIGN_OR_RETURN(Sequence * s, Find(seq));
  if (length < 0) return Status::InvalidArgument("kv cache: negative length for " + SeqName(seq));
  const int64_t need = (length + config_.block_size - 1) / config_.block_size;
  const int64_t have = static_cast<int64_t>(s->blocks.size());
  if (need <= have) return Status::Ok();
  Status st = AllocateOrEvict(static_cast<int32_t>(need - have), &s->blocks);
  if (!st.ok()) {
    return Status::ResourceExhausted("kv cache: " + SeqName(seq) + " needs room for " +
                                     std::to_string(length) + " tokens: " + st.message());
  }
  return Status::Ok();
}

Status PagedKvCache::FreeSequence(SeqId seq) {
  DETINFER_ASSIGN_OR_RETURN(Sequence * s, Find(seq));
  for (int32_t b : s->blocks) DETINFER_RETURN_IF_ERROR(allocator_.Release(b));
  seqs_.erase(seq);
  return Status::Ok();
}

Status PagedKvCache::Truncate(SeqId seq, int64_t length) {
  DETINFER_ASSIGN_OR_RETURN(Sequence * s, Find(seq));
  if (length < 0 || length > s->length) {
    return Status::OutOfRange("kv cache: cannot truncate " + SeqName(seq) + " of length " +
                              std::to_string(s->length) + " to " + std::to_string(length));
  }
  const size_t keep = static_cast<size_t>((length + config_.block_size - 1) / config_.block_size);
  while (s->blocks.size() > keep) {
    DETINFER_RETURN_IF_ERROR(allocator_.Release(s->blocks.back()));
    s->blocks.pop_back();
  }
  const size_t full = static_cast<size_t>(length / config_.block_size);
  if (s->chain.size() > full) s->chain.resize(full);
  s->length = length;
  return Status::Ok();
}

int32_t PagedKvCache::available_blocks() const {
  int32_t cached_idle = 0;
  if (prefix_on_) {
    for (int32_t b = 0; b < num_blocks(); ++b) {
      if (allocator_.RefCount(b) == 1 && prefix_.Contains(b)) ++cached_idle;
    }
  }
  return allocator_.num_free() + cached_idle;
}

Status PagedKvCache::AllocateOrEvict(int32_t n, std::vector<int32_t>* out) {
  // Cached blocks that only the index holds (reference count 1) are given back, least
  // recently used first, until the request fits or nothing more can be evicted.
  while (allocator_.num_free() < n) {
    const int32_t b = prefix_.EvictOne([&](int32_t blk) { return allocator_.RefCount(blk) == 1; });
    if (b < 0) break;
    DETINFER_RETURN_IF_ERROR(allocator_.Release(b));
    ++stats_.evictions;
  }
  return allocator_.Allocate(n, out);
}

Result<int64_t> PagedKvCache::AttachPrefix(SeqId seq, std::span<const int32_t> tokens) {
  DETINFER_ASSIGN_OR_RETURN(Sequence * s, Find(seq));
  if (!s->blocks.empty()) {
    return Status::InvalidArgument("kv cache: " + SeqName(seq) + " is not empty");
  }
  if (!prefix_on_ || tokens.empty()) return int64_t{0};
  ++stats_.lookups;
  stats_.looked_up_tokens += static_cast<int64_t>(tokens.size());
  const int64_t bs = config_.block_size;
  const int64_t max_blocks = (static_cast<int64_t>(tokens.size()) - 1) / bs;
  BlockHash parent;
  for (int64_t i = 0; i < max_blocks; ++i) {
    const auto ids = tokens.subspan(static_cast<size_t>(i * bs), static_cast<size_t>(bs));
    const BlockHash h = ChainHash(parent, ids);
    const int32_t b = prefix_.Find(parent, h, ids);
    if (b < 0) break;
    DETINFER_RETURN_IF_ERROR(allocator_.AddRef(b));
    s->blocks.push_back(b);
    s->chain.push_back(h);
    parent = h;
  }
  s->length = static_cast<int64_t>(s->blocks.size()) * bs;
  stats_.hit_tokens += s->length;
  return s->length;
}

Status PagedKvCache::Publish(SeqId seq, std::span<const int32_t> tokens) {
  DETINFER_ASSIGN_OR_RETURN(Sequence * s, Find(seq));
  if (!prefix_on_) return Status::Ok();
  const int64_t bs = config_.block_size;
  if (static_cast<int64_t>(tokens.size()) < s->length) {
    return Status::InvalidArgument("kv cache: publishing " + SeqName(seq) + " with " +
                                   std::to_string(tokens.size()) + " tokens but " +
                                   std::to_string(s->length) + " are committed");
  }
  const size_t full = static_cast<size_t>(s->length / bs);
  while (s->chain.size() < full) {
    const size_t i = s->chain.size();
    const BlockHash parent = i == 0 ? BlockHash{} : s->chain[i - 1];
    const auto ids = tokens.subspan(i * static_cast<size_t>(bs), static_cast<size_t>(bs));
    const BlockHash h = ChainHash(parent, ids);
    // If an equal block is already cached (computed by another sequence), this one stays
    // private; the chain goes on under the same hash either way.
    if (prefix_.Insert(parent, h, ids, s->blocks[i])) {
      DETINFER_RETURN_IF_ERROR(allocator_.AddRef(s->blocks[i]));
    }
    s->chain.push_back(h);
  }
  return Status::Ok();
}

size_t PagedKvCache::RowOffset(int64_t layer, bool value, int32_t block, int64_t slot) const {
  const size_t per_side = static_cast<size_t>(num_blocks()) *
                          static_cast<size_t>(config_.block_size) * static_cast<size_t>(row_elems_);
  const size_t elems = (static_cast<size_t>(layer) * 2 + (value ? 1 : 0)) * per_side +
                       (static_cast<size_t>(block) * static_cast<size_t>(config_.block_size) +
                        static_cast<size_t>(slot)) * static_cast<size_t>(row_elems_);
  return elems * DTypeSize(config_.dtype);
}

Status PagedKvCache::Write(int64_t layer, SeqId seq, int64_t pos, int64_t n, const float* k,
                           const float* v, int64_t ld) {
  DETINFER_ASSIGN_OR_RETURN(Sequence * s, Find(seq));
  if (layer < 0 || layer >= config_.n_layers) {
    return Status::OutOfRange("kv cache: layer " + std::to_string(layer) + " of " +
                              std::to_string(config_.n_layers));
  }
  const int64_t reserved = static_cast<int64_t>(s->blocks.size()) * config_.block_size;
  if (pos < 0 || n < 0 || pos + n > reserved) {
    return Status::OutOfRange("kv cache: " + SeqName(seq) + " writes positions [" +
                              std::to_string(pos) + ", " + std::to_string(pos + n) +
                              ") but only " + std::to_string(reserved) + " are reserved");
  }
  auto* base = storage_.as<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = pos + i;
    const int32_t block = s->blocks[static_cast<size_t>(p / config_.block_size)];
    const int64_t slot = p % config_.block_size;
    if (allocator_.RefCount(block) > 1 || prefix_.Contains(block)) {
      // Shared and cached blocks are immutable: other sequences read them as their prefix.
      return Status::Internal("kv cache: " + SeqName(seq) + " would overwrite shared block " +
                              std::to_string(block) + " at position " + std::to_string(p));
    }
    // The one rounding of this K/V row (SPEC §K5).
    ConvertFromF32(k + i * ld, config_.dtype, base + RowOffset(layer, false, block, slot),
                   static_cast<size_t>(row_elems_));
    ConvertFromF32(v + i * ld, config_.dtype, base + RowOffset(layer, true, block, slot),
                   static_cast<size_t>(row_elems_));
  }
  return Status::Ok();
}

Status PagedKvCache::Commit(SeqId seq, int64_t length) {
  DETINFER_ASSIGN_OR_RETURN(Sequence * s, Find(seq));
  const int64_t reserved = static_cast<int64_t>(s->blocks.size()) * config_.block_size;
  if (length < s->length || length > reserved) {
    return Status::OutOfRange("kv cache: cannot commit " + SeqName(seq) + " at length " +
                              std::to_string(length) + " (written " + std::to_string(s->length) +
                              ", reserved " + std::to_string(reserved) + ")");
  }
  s->length = length;
  return Status::Ok();
}

int64_t PagedKvCache::Length(SeqId seq) const {
  auto it = seqs_.find(seq);
  return it == seqs_.end() ? 0 : it->second.length;
}

std::span<const int32_t> PagedKvCache::BlockTable(SeqId seq) const {
  auto it = seqs_.find(seq);
  if (it == seqs_.end()) return {};
  return it->second.blocks;
}

TensorView PagedKvCache::Keys(int64_t layer) const {
  return TensorView::Contiguous(storage_.as<uint8_t>() + RowOffset(layer, false, 0, 0),
                                config_.dtype,
                                {num_blocks(), config_.block_size, config_.n_kv_heads,
                                 config_.head_dim});
}

TensorView PagedKvCache::Values(int64_t layer) const {
  return TensorView::Contiguous(storage_.as<uint8_t>() + RowOffset(layer, true, 0, 0),
                                config_.dtype,
                                {num_blocks(), config_.block_size, config_.n_kv_heads,
                                 config_.head_dim});
}

Status PagedKvCache::ReadRow(int64_t layer, SeqId seq, int64_t pos, float* k, float* v) const {
  DETINFER_ASSIGN_OR_RETURN(const Sequence* s, Find(seq));
  if (layer < 0 || layer >= config_.n_layers || pos < 0 ||
      pos >= static_cast<int64_t>(s->blocks.size()) * config_.block_size) {
    return Status::OutOfRange("kv cache: no row for layer " + std::to_string(layer) +
                              " position " + std::to_string(pos) + " of " + SeqName(seq));
  }
  const int32_t block = s->blocks[static_cast<size_t>(pos / config_.block_size)];
  const int64_t slot = pos % config_.block_size;
  const auto* base = storage_.as<uint8_t>();
  ConvertToF32(config_.dtype, base + RowOffset(layer, false, block, slot), k,
               static_cast<size_t>(row_elems_));
  ConvertToF32(config_.dtype, base + RowOffset(layer, true, block, slot), v,
               static_cast<size_t>(row_elems_));
  return Status::Ok();
}

}  // namespace detinfer
