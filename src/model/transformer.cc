#include "model/transformer.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/storage_format.h"
#include "kernels/attention.h"
#include "kernels/matmul_pack.h"
#include "model/model_bundle.h"
#include "model/transformer_faults.h"

namespace detinfer {

namespace {

// The table the embedding gather reads and the ids into it. A table in a model file's map is
// not gathered through the map: each row of `ids` is read from the file into `rows` (in the
// order of ids, so the ids become 0..n-1), and nothing of the table enters this process's
// memory. Through the map, the rows of a 512-token prompt mapped the whole 14 MB table of a
// 110M q4_0 model (each read maps the page-cache folio it lands in), a sixth of its peak RSS.
// The bytes are the file's either way, so are the bits. An id outside the table leaves the
// table as it is, for the gather to refuse with its own message.
struct EmbeddingRows {
  TensorView table;
  std::span<const int32_t> ids;
  std::vector<uint8_t> rows;
  std::vector<int32_t> row_ids;
};

Status ReadEmbeddingRows(const ModelWeights& w, std::span<const int32_t> ids, EmbeddingRows* out) {
  const TensorView& e = w.token_embedding;
  out->table = e;
  out->ids = ids;
  if (e.data == nullptr || e.rank != 2 || !e.is_contiguous()) return Status::Ok();
  const int64_t vocab = e.dim(0);
  const size_t row_bytes = StorageBytes(e.dtype, e.dim(1));
  const MappedFile* file = nullptr;
  for (const MappedFile& f : w.files) {
    if (f.Contains(e.data, row_bytes * static_cast<size_t>(vocab))) file = &f;
  }
  if (file == nullptr) return Status::Ok();  // memory the weights own: gathered in place
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab) return Status::Ok();
  }
  out->rows.resize(row_bytes * ids.size());
  out->row_ids.resize(ids.size());
  const auto* base = static_cast<const uint8_t*>(e.data);
  for (size_t i = 0; i < ids.size(); ++i) {
    DETINFER_RETURN_IF_ERROR(file->ReadInto(base + row_bytes * static_cast<size_t>(ids[i]),
                                            row_bytes, out->rows.data() + row_bytes * i));
    out->row_ids[i] = static_cast<int32_t>(i);
  }
  out->table = TensorView::Contiguous(out->rows.data(), e.dtype,
                                      {static_cast<int64_t>(ids.size()), e.dim(1)});
  out->ids = out->row_ids;
  return Status::Ok();
}

}  // namespace

Result<Transformer> Transformer::Create(ModelWeights weights, const KernelContext& ctx,
                                        const PackedCacheOptions* cache) {
  const ModelConfig& c = weights.config;
  DETINFER_RETURN_IF_ERROR(c.Validate(weights.source));
  Transformer t;
  // Every matrix is queued, then packed in one pass on ctx's threads (kernels/matmul_pack.h).
  MatrixPacker packer;
  DETINFER_RETURN_IF_ERROR(QueueDecoderParams(weights, &packer, &t.params_));
  const bool reorder = c.rope_style == RopeStyle::kInterleaved;
  using Outcome = PackedCacheReport::Outcome;
  PackedCacheKey key;
  uint64_t cached_hash = 0;
  bool hit = false, write = false;
  if (cache != nullptr && !cache->dir.empty()) {
    if (packer.block_bytes() < cache->min_bytes) {
      t.cache_report_.outcome = Outcome::kTooSmall;
    } else {
      // The model's content hash names the file (computed here when the caller has none).
      const uint64_t model_hash =
          cache->model_hash != 0 ? cache->model_hash : ModelFilesHash(weights.files, ctx);
      key = {model_hash, PackedLayoutHash(packer, weights.files), packer.block_bytes()};
      t.cache_report_.path = PackedCachePath(cache->dir, key);
      auto entry = OpenPackedCache(cache->dir, key, ctx, cache->read);
      if (entry.ok()) {
        DETINFER_RETURN_IF_ERROR(packer.Adopt(entry->owner, entry->block));
        cached_hash = entry->weight_hash;
        hit = true;
        t.cache_report_.outcome = Outcome::kHit;
        t.cache_report_.mapped = entry->mapped;
        t.cache_report_.read_note = entry->note;
      } else {
        write = true;
        if (entry.status().code() != StatusCode::kNotFound) {
          t.cache_report_.detail = entry.status().message();  // rewritten below
        }
      }
    }
  }
  MatrixPacker::Block block;
  if (!hit) {
    // Once packed, a matrix's file pages are not read again (the forward pass reads the packed
    // copy), so each stretch of a contiguous source leaves memory as soon as the packer has
    // read it: the load never holds a whole file and its packed copy at once (a 110M bf16
    // model peaked at 528 MB with them, 315 MB without; 512-token prompt, KV included). A tied
    // head's source is the embedding: released too (the gather reads its rows from the file).
    // q/k reordered to rotate-half are packed from strided views, which the packer does not
    // report: released once all is packed.
    DETINFER_RETURN_IF_ERROR(packer.Run(
        ctx, [&weights](const void* data, size_t bytes) { weights.ReleaseFilePages(data, bytes); },
        &block));
    if (reorder) {
      for (const LayerWeights& l : weights.layers) {
        for (const TensorView* m : {&l.wq, &l.wk}) {
          if (m->data != nullptr && m->is_contiguous()) {
            weights.ReleaseFilePages(m->data, StorageBytes(m->dtype, m->numel()));
          }
        }
      }
    }
  }
  t.weights_ = std::move(weights);
  // A hit's file was written for these weights (the key) with these packed bytes (its
  // checksum, verified as read): its recorded hash is theirs, and hashing them again would be
  // a quarter of the warm load.
  t.weight_hash_ = hit ? cached_hash : t.HashWeights(ctx);
  // Released above range by range, while other threads read the neighbouring ranges: a read
  // maps the whole page-cache folio it lands in (up to 2 MiB on recent kernels), so pages
  // released by one thread came back with the next tensor's first read (20 MB of a 72 MB q4_0
  // file stayed). Nothing the forward pass reads lives in the maps now (the embedding rows it
  // needs are read from the file: ReadEmbeddingRows): one sweep over every file, once all
  // reading is done.
  for (const MappedFile& f : t.weights_.files) f.ReleasePages(f.data(), f.size());
  if (write) {
    // What can be known now (no directory, no room) is said now; the writing is left to run.
    if (Status room = CheckPackedCacheRoom(cache->dir, key); !room.ok()) {
      t.cache_report_.outcome = Outcome::kNotWritten;
      t.cache_report_.detail = room.message();
      return t;
    }
    t.cache_report_.outcome = Outcome::kWriting;
    t.cache_writer_ = std::make_shared<PackedCacheWriter>(
        cache->dir, key, block.owner, block.bytes, t.weight_hash_, cache->max_dir_bytes);
  }
  return t;
}

const PackedCacheReport& Transformer::WaitForPackedCache() {
  if (cache_writer_ != nullptr) {
    const Status& w = cache_writer_->Wait();
    cache_report_.outcome = w.ok() ? PackedCacheReport::Outcome::kWritten
                                   : PackedCacheReport::Outcome::kNotWritten;
    if (!w.ok()) {
      cache_report_.detail = w.message();
    } else if (!cache_report_.detail.empty()) {
      cache_report_.detail += "; packed afresh and rewritten";
    }
    cache_writer_.reset();
  }
  return cache_report_;
}

Result<PagedKvCache> Transformer::NewCache(int64_t capacity_tokens, DType dtype,
                                           int64_t block_size) const {
  KvCacheConfig kc;
  kc.n_layers = config().n_layers;
  kc.n_kv_heads = config().n_kv_heads;
  kc.head_dim = config().head_dim;
  kc.block_size = block_size;
  kc.dtype = dtype;
  kc.capacity_tokens = capacity_tokens;
  return PagedKvCache::Create(kc);
}

Status Transformer::CheckSegments(const PagedKvCache& cache, std::span<const Segment> segs) const {
  const ModelConfig& c = config();
  for (size_t i = 0; i < segs.size(); ++i) {
    const Segment& s = segs[i];
    const std::string name = "forward: segment " + std::to_string(i) + " (sequence " +
                             std::to_string(s.seq) + ")";
    if (s.tokens.empty()) return Status::InvalidArgument(name + " has no tokens");
    if (!cache.HasSequence(s.seq)) return Status::NotFound(name + " is not in the KV cache");
    if (s.pos != cache.Length(s.seq)) {
      return Status::InvalidArgument(name + " starts at position " + std::to_string(s.pos) +
                                     " but the cache holds " +
                                     std::to_string(cache.Length(s.seq)) + " positions");
    }
    const int64_t end = s.pos + static_cast<int64_t>(s.tokens.size());
    if (end > c.max_seq_len) {
      return Status::OutOfRange(name + " reaches position " + std::to_string(end - 1) +
                                " beyond the context length " + std::to_string(c.max_seq_len));
    }
    for (int32_t id : s.tokens) {
      if (id < 0 || id >= c.vocab_size) {
        return Status::OutOfRange(name + " has token id " + std::to_string(id) +
                                  " outside the vocabulary [0, " + std::to_string(c.vocab_size) +
                                  ")");
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (segs[j].seq == s.seq) {
        return Status::InvalidArgument(name + " appears twice in one step");
      }
    }
  }
  return Status::Ok();
}

Status Transformer::Forward(const KernelContext& ctx, PagedKvCache& cache,
                            std::span<const Segment> segs, std::vector<float>* logits) const {
  // The fault is chosen once per call: without one, the faulty code is not in the loop at all.
  switch (fault_) {
    case Fault::kNone: break;
    case Fault::kKvWriteBeforeAttend:
      return ForwardImpl<Fault::kKvWriteBeforeAttend>(ctx, cache, segs, logits);
    case Fault::kRopeOffByOne: return ForwardImpl<Fault::kRopeOffByOne>(ctx, cache, segs, logits);
    case Fault::kStaleLayerCache:
      return ForwardImpl<Fault::kStaleLayerCache>(ctx, cache, segs, logits);
    case Fault::kKvDtypeSkipRounding:
      return ForwardImpl<Fault::kKvDtypeSkipRounding>(ctx, cache, segs, logits);
  }
  return ForwardImpl<Fault::kNone>(ctx, cache, segs, logits);
}

template <Fault F>
Status Transformer::ForwardImpl(const KernelContext& ctx, PagedKvCache& cache,
                                std::span<const Segment> segs, std::vector<float>* logits) const {
  DETINFER_RETURN_IF_ERROR(CheckSegments(cache, segs));
  const ModelConfig& c = config();
  // Reserve every segment's room first, so that running out of KV memory fails the step before
  // any K/V is written (nothing already accepted is lost).
  {
    std::vector<std::pair<SeqId, int64_t>> before;
    for (const Segment& s : segs) {
      before.emplace_back(s.seq, static_cast<int64_t>(cache.BlockTable(s.seq).size()));
      Status st = cache.Reserve(s.seq, s.pos + static_cast<int64_t>(s.tokens.size()));
      if (!st.ok()) {
        for (auto& [seq, blocks] : before) {  // give back what this step took
          const int64_t keep_len = std::min(cache.Length(seq), blocks * cache.config().block_size);
          (void)cache.Truncate(seq, keep_len);
        }
        return st;
      }
    }
  }

  int64_t t_total = 0;
  for (const Segment& s : segs) t_total += static_cast<int64_t>(s.tokens.size());
  std::vector<int32_t> ids, positions;
  ids.reserve(static_cast<size_t>(t_total));
  positions.reserve(static_cast<size_t>(t_total));
  std::vector<AttentionSeq> aseqs;
  for (const Segment& s : segs) {
    AttentionSeq a;
    a.q_begin = static_cast<int64_t>(ids.size());
    a.q_len = static_cast<int64_t>(s.tokens.size());
    a.q_pos = s.pos;
    a.kv_len = s.pos + a.q_len;
    a.blocks = cache.BlockTable(s.seq);
    aseqs.push_back(a);
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      ids.push_back(s.tokens[i]);
      positions.push_back(static_cast<int32_t>(s.pos + static_cast<int64_t>(i)));
    }
  }

  // Verification taps (model/forward_probe.h): one pointer test per op when no one listens.
  std::vector<TapRow> tap_rows;
  if (observer_ != nullptr) tap_rows = TapRowsOf(segs);
  if constexpr (F == Fault::kRopeOffByOne) positions = OffByOnePositions(segs, c.max_seq_len);

  LayerHooks hooks;
  // Attention over the cache: this step's K/V are written first (rounded to the cache's dtype),
  // so the step's own tokens reach attention through the cache like every earlier one.
  hooks.attend = [&](int64_t l, const TensorView& q, const TensorView& k, const TensorView& v,
                     const AttentionOptions& aopts, const TensorView& av,
                     const TensorView& lsev) -> Status {
    const auto write_kv = [&]() -> Status {
      for (size_t i = 0; i < segs.size(); ++i) {
        const int64_t r = aseqs[i].q_begin;
        DETINFER_RETURN_IF_ERROR(cache.Write(l, segs[i].seq, segs[i].pos, aseqs[i].q_len,
                                             reinterpret_cast<const float*>(k.row_bytes(r)),
                                             reinterpret_cast<const float*>(v.row_bytes(r)),
                                             k.stride[0]));
      }
      if (observer_ != nullptr) TapStoredKv(*observer_, cache, l, tap_rows);
      return Status::Ok();
    };
    if constexpr (F != Fault::kKvWriteBeforeAttend) DETINFER_RETURN_IF_ERROR(write_kv());
    int64_t kv_layer = l;
    if constexpr (F == Fault::kStaleLayerCache) kv_layer = StaleKvLayer(segs, l, c.n_layers);
    if constexpr (F == Fault::kKvDtypeSkipRounding) {
      DETINFER_RETURN_IF_ERROR(AttendUnrounded(ctx, cache, l, segs, q, k, v, aseqs, aopts, av,
                                               lsev));
    } else {
      DETINFER_RETURN_IF_ERROR(Attention(ctx, q, cache.View(kv_layer), aseqs, aopts, av, lsev));
    }
    if constexpr (F == Fault::kKvWriteBeforeAttend) DETINFER_RETURN_IF_ERROR(write_kv());
    return Status::Ok();
  };
  if (observer_ != nullptr) {
    hooks.tap = [&](int64_t layer, TapOp op, const float* data, int64_t stride, int64_t width,
                    int64_t head_dim) {
      observer_->OnTap({layer, op, data, stride, width, head_dim, tap_rows});
    };
  }
  std::vector<float> x;
  {
    EmbeddingRows e;
    DETINFER_RETURN_IF_ERROR(ReadEmbeddingRows(weights_, ids, &e));
    DETINFER_RETURN_IF_ERROR(EmbedTokens(ctx, c, e.table, params_, e.ids, &x));
  }
  LayerScratch scratch;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    DETINFER_RETURN_IF_ERROR(RunDecoderLayer(ctx, c, params_, l, positions, &x, &scratch, hooks));
  }
  for (const Segment& s : segs) {
    DETINFER_RETURN_IF_ERROR(cache.Commit(s.seq, s.pos + static_cast<int64_t>(s.tokens.size())));
  }

  // Final norm and LM head only for the rows asked for.
  std::vector<int64_t> rows;
  for (size_t i = 0; i < segs.size(); ++i) {
    const int64_t b = aseqs[i].q_begin, n = aseqs[i].q_len;
    for (int64_t r = segs[i].all_logits ? b : b + n - 1; r < b + n; ++r) rows.push_back(r);
  }
  const int64_t nr = static_cast<int64_t>(rows.size()), dim = c.dim;
  std::vector<float> picked(static_cast<size_t>(nr * dim));
  for (int64_t i = 0; i < nr; ++i) {
    std::copy_n(x.data() + rows[static_cast<size_t>(i)] * dim, dim, picked.data() + i * dim);
  }
  DETINFER_RETURN_IF_ERROR(RunHead(ctx, c, params_, &picked, logits));
  if (observer_ != nullptr) {
    std::vector<TapRow> picked_rows;
    for (int64_t r : rows) picked_rows.push_back(tap_rows[static_cast<size_t>(r)]);
    observer_->OnTap({c.n_layers, TapOp::kLogits, logits->data(), c.vocab_size, c.vocab_size, 0,
                      picked_rows});
  }
  return Status::Ok();
}

Status Transformer::ForwardNoCache(const KernelContext& ctx, std::span<const int32_t> tokens,
                                   std::vector<float>* logits, DType kv_dtype) const {
  DETINFER_ASSIGN_OR_RETURN(PagedKvCache cache,
                            NewCache(std::max<int64_t>(1, static_cast<int64_t>(tokens.size())),
                                     kv_dtype));
  DETINFER_RETURN_IF_ERROR(cache.AddSequence(0));
  const Segment seg{0, 0, tokens, false};
  return Forward(ctx, cache, std::span<const Segment>(&seg, 1), logits);
}

}  // namespace detinfer
