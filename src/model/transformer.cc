#include "model/transformer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/storage_format.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/matmul_pack.h"
#include "kernels/rms_norm.h"
#include "kernels/softmax.h"
#include "model/arch.h"
#include "model/layer_spec.h"
#include "model/model_bundle.h"
#include "model/transformer_faults.h"

namespace detinfer {

namespace {

bool Present(const TensorView& v) { return v.rank > 0 && v.data != nullptr; }

std::vector<float> ToF32(const TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.numel()));
  ConvertToF32(v.dtype, v.data, out.data(), out.size());
  return out;
}

TensorView Rows(std::vector<float>& buf, int64_t rows, int64_t cols) {
  return TensorView::Contiguous(buf.data(), DType::kF32, {rows, cols});
}

// A [rows, cols] view of columns [col0, col0 + cols) of a row-major buffer of width `width`.
TensorView Columns(std::vector<float>& buf, int64_t rows, int64_t width, int64_t col0,
                   int64_t cols) {
  TensorView v = TensorView::Contiguous(buf.data() + col0, DType::kF32, {rows, cols});
  v.stride[0] = width;
  return v;
}

// The same columns seen as [rows, heads, head_dim].
TensorView Heads(std::vector<float>& buf, int64_t rows, int64_t width, int64_t col0,
                 int64_t heads, int64_t head_dim) {
  TensorView v = TensorView::Contiguous(buf.data() + col0, DType::kF32, {rows, heads, head_dim});
  v.stride[0] = width;
  return v;
}

// Rows of a q or k projection (or bias) reordered from the interleaved RoPE convention to
// rotate-half: rotate-half row h*hd + i (i < hd/2) is interleaved row h*hd + 2i, and row
// h*hd + hd/2 + i is interleaved row h*hd + 2i + 1. See Transformer::Create for why.
Result<TensorView> ToRotateHalf(const TensorView& w, int64_t heads, int64_t hd,
                                std::vector<AlignedBuffer>* keep) {
  const size_t row_bytes = StorageBytes(w.dtype, w.rank == 2 ? w.shape[1] : 1);
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf,
                            AlignedBuffer::Allocate(static_cast<size_t>(heads * hd) * row_bytes));
  const auto* src = static_cast<const uint8_t*>(w.data);
  auto* dst = buf.as<uint8_t>();
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      std::memcpy(dst + static_cast<size_t>(h * hd + i) * row_bytes,
                  src + static_cast<size_t>(h * hd + 2 * i) * row_bytes, row_bytes);
      std::memcpy(dst + static_cast<size_t>(h * hd + hd / 2 + i) * row_bytes,
                  src + static_cast<size_t>(h * hd + 2 * i + 1) * row_bytes, row_bytes);
    }
  }
  TensorView v = w;
  v.data = buf.data();
  if (v.rank == 2) v.stride[0] = v.shape[1];
  keep->push_back(std::move(buf));
  return v;
}

// The same reordering of a projection [heads * hd, K] without a copy, as the packer's parts:
// for each head, its even rows then its odd rows, each a view with twice the row stride.
// (The packer copies every row once anyway; it may as well take them in this order.)
Status AppendRotateHalfParts(const TensorView& w, const std::string& name, int64_t heads,
                             int64_t hd, std::vector<TensorView>* parts) {
  if (w.rank != 2 || w.shape[0] != heads * hd || w.data == nullptr) {
    return Status::InvalidArgument(name + " is " + w.ShapeString() + " but must have " +
                                   std::to_string(heads * hd) + " rows");
  }
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t parity = 0; parity < 2; ++parity) {
      TensorView v = w;
      v.data = w.row_bytes(h * hd + parity);  // a whole row, in any storage format
      v.shape[0] = hd / 2;
      v.stride[0] = 2 * w.stride[0];
      parts->push_back(v);
    }
  }
  return Status::Ok();
}

// Expert e's [rows, cols] matrix of a stacked [n_experts, rows, cols] tensor (contiguous), in
// any storage format.
TensorView ExpertSlice(const TensorView& stacked, int64_t e) {
  TensorView v;
  v.data = stacked.row_bytes(e);
  v.dtype = stacked.dtype;
  v.rank = 2;
  v.shape[0] = stacked.shape[1];
  v.shape[1] = stacked.shape[2];
  v.stride[0] = stacked.stride[1];
  v.stride[1] = 1;
  return v;
}

// The experts a token's router probabilities `p` [n] choose: the k largest, the lowest expert
// id first among equal ones (a strict > scan from id 0), returned in ascending expert id.
void ChooseExperts(const float* p, int64_t n, int64_t k, int32_t* chosen) {
  for (int64_t j = 0; j < k; ++j) {
    int64_t best = -1;
    for (int64_t e = 0; e < n; ++e) {
      bool taken = false;
      for (int64_t i = 0; i < j; ++i) taken = taken || chosen[i] == e;
      if (!taken && (best < 0 || p[e] > p[best])) best = e;
    }
    chosen[j] = static_cast<int32_t>(best);
  }
  std::sort(chosen, chosen + k);
}

}  // namespace

// Once packed, a matrix's file pages are not read again (the forward pass reads the packed
// copy), so they leave this process's memory instead of staying resident beside it: a 110M bf16
// model peaked at 528 MB with them, 315 MB without (512-token prompt, KV included). A tied
// head's source is the embedding: released too, since the gather reads only the rows of the
// tokens seen (a 1B tied bf16 model peaked 525 MB higher while its embedding stayed). Reading a
// released page again just faults it back in from the file, so no bit depends on this. Memory
// the weights own (no file behind it) is never released.
void ReleaseFilePages(const ModelWeights& w, const void* data, size_t bytes) {
  for (const MappedFile& f : w.files) {
    if (f.Contains(data, bytes)) f.ReleasePages(data, bytes);
  }
}

Result<TensorView> Transformer::PassNorm(const ModelConfig& c, const TensorView& w) {
  if (!GetArchInfo(c.arch).norm_plus_one) return w;
  if (w.data == nullptr || w.rank != 1) {
    return Status::InvalidArgument("gemma norm " + w.ShapeString() + " is missing or not 1-D");
  }
  const int64_t n = w.shape[0];
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf,
                            AlignedBuffer::Allocate(static_cast<size_t>(n) * sizeof(float)));
  float* f = buf.as<float>();
  const std::vector<float> src = ToF32(w);
  for (int64_t i = 0; i < n; ++i) f[i] = 1.0f + src[static_cast<size_t>(i)];
  owned_.push_back(std::move(buf));
  return TensorView::Contiguous(f, DType::kF32, {n});
}

Result<Transformer> Transformer::Create(ModelWeights weights, const KernelContext& ctx,
                                        const PackedCacheOptions* cache) {
  const ModelConfig& c = weights.config;
  DETINFER_RETURN_IF_ERROR(c.Validate(weights.source));
  Transformer t;
  t.layers_.resize(static_cast<size_t>(c.n_layers));
  // One internal RoPE layout. A file in the interleaved convention (llama2.c, GGUF llama) has
  // its q/k rows reordered to rotate-half here, once: RoPE rotates the same pairs with the same
  // table entries either way, but the q.k dot product sums over head_dim in storage order, so
  // only one layout makes the same weights give the same bits whatever file they came from.
  // The q/k projections are reordered by the packer itself (AppendRotateHalfParts: views, no
  // copy); the small biases and norms are copied.
  const bool reorder = c.rope_style == RopeStyle::kInterleaved;
  std::vector<AlignedBuffer> reordered;  // lives until the biases are converted
  // Every matrix is queued, then packed in one pass on ctx's threads (kernels/matmul_pack.h).
  MatrixPacker packer;
  std::vector<TensorView> qkv;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights w = weights.layers[static_cast<size_t>(l)];  // views; reordered ones replaced
    qkv.clear();
    if (reorder) {
      if (c.qk_norm) {  // they scale q/k element-wise before RoPE: they move with the rows
        DETINFER_ASSIGN_OR_RETURN(w.q_norm, ToRotateHalf(w.q_norm, 1, c.head_dim, &t.owned_));
        DETINFER_ASSIGN_OR_RETURN(w.k_norm, ToRotateHalf(w.k_norm, 1, c.head_dim, &t.owned_));
      }
      const std::string layer = weights.source + ": layer " + std::to_string(l);
      DETINFER_RETURN_IF_ERROR(
          AppendRotateHalfParts(w.wq, layer + " wq", c.n_heads, c.head_dim, &qkv));
      DETINFER_RETURN_IF_ERROR(
          AppendRotateHalfParts(w.wk, layer + " wk", c.n_kv_heads, c.head_dim, &qkv));
      if (c.qkv_bias) {
        DETINFER_ASSIGN_OR_RETURN(w.bq, ToRotateHalf(w.bq, c.n_heads, c.head_dim, &reordered));
        DETINFER_ASSIGN_OR_RETURN(w.bk, ToRotateHalf(w.bk, c.n_kv_heads, c.head_dim, &reordered));
      }
    } else {
      qkv = {w.wq, w.wk};
    }
    qkv.push_back(w.wv);
    LayerPacked& p = t.layers_[static_cast<size_t>(l)];
    if (c.qk_norm) {  // Gemma 3's are (1 + w) norms too
      DETINFER_ASSIGN_OR_RETURN(p.q_norm, t.PassNorm(c, w.q_norm));
      DETINFER_ASSIGN_OR_RETURN(p.k_norm, t.PassNorm(c, w.k_norm));
    }
    DETINFER_ASSIGN_OR_RETURN(p.attn_norm, t.PassNorm(c, w.attn_norm));
    DETINFER_ASSIGN_OR_RETURN(p.ffn_norm, t.PassNorm(c, w.ffn_norm));
    if (GetArchInfo(c.arch).post_norms) {
      DETINFER_ASSIGN_OR_RETURN(p.post_attn_norm, t.PassNorm(c, w.post_attn_norm));
      DETINFER_ASSIGN_OR_RETURN(p.post_ffn_norm, t.PassNorm(c, w.post_ffn_norm));
    }
    DETINFER_RETURN_IF_ERROR(packer.Add(qkv, &p.qkv));
    DETINFER_RETURN_IF_ERROR(packer.Add(w.wo, &p.wo));
    if (c.IsMoe()) {
      // Sized first: the packer keeps pointers to the slots until Run.
      p.expert_gate_up.resize(static_cast<size_t>(c.n_experts));
      p.expert_down.resize(static_cast<size_t>(c.n_experts));
      const std::string layer = weights.source + ": layer " + std::to_string(l);
      for (const TensorView* v : {&w.router, &w.experts_gate, &w.experts_up, &w.experts_down}) {
        if (!Present(*v) || (v->rank == 3 && !v->is_contiguous())) {
          return Status::InvalidArgument(layer + " is missing its router or a contiguous "
                                         "stacked expert tensor");
        }
      }
      DETINFER_RETURN_IF_ERROR(packer.Add(w.router, &p.router));
      for (int64_t e = 0; e < c.n_experts; ++e) {
        const TensorView gate_up[2] = {ExpertSlice(w.experts_gate, e),
                                       ExpertSlice(w.experts_up, e)};
        DETINFER_RETURN_IF_ERROR(packer.Add(gate_up, &p.expert_gate_up[static_cast<size_t>(e)]));
        DETINFER_RETURN_IF_ERROR(packer.Add(ExpertSlice(w.experts_down, e),
                                            &p.expert_down[static_cast<size_t>(e)]));
      }
    } else {
      const TensorView gate_up[2] = {w.w_gate, w.w_up};
      DETINFER_RETURN_IF_ERROR(packer.Add(gate_up, &p.gate_up));
      DETINFER_RETURN_IF_ERROR(packer.Add(w.w_down, &p.down));
    }
    if (c.qkv_bias) {
      for (const TensorView* b : {&w.bq, &w.bk, &w.bv}) {
        if (!Present(*b)) {
          return Status::InvalidArgument(weights.source + ": layer " + std::to_string(l) +
                                         " is missing a q/k/v bias");
        }
        const auto f = ToF32(*b);
        p.qkv_bias.insert(p.qkv_bias.end(), f.begin(), f.end());
      }
    }
  }
  DETINFER_RETURN_IF_ERROR(packer.Add(weights.lm_head, &t.lm_head_));
  DETINFER_ASSIGN_OR_RETURN(t.final_norm_, t.PassNorm(c, weights.final_norm));
  if (GetArchInfo(c.arch).scale_embedding) {
    // Gemma: transformers' normalizer = tensor(hidden_size ** 0.5, dtype=embedding dtype): the
    // double root rounded to fp32, then to the embedding's dtype when that is bf16 / f16 (a
    // block-format embedding keeps the fp32 value).
    float s = static_cast<float>(std::sqrt(static_cast<double>(c.dim)));
    const DType ed = weights.token_embedding.dtype;
    if (ed == DType::kBF16 || ed == DType::kF16) {
      uint16_t half = 0;
      ConvertFromF32(&s, ed, &half, 1);
      ConvertToF32(ed, &half, &s, 1);
    }
    t.embed_scale_ = s;
  }
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
      auto entry = OpenPackedCache(cache->dir, key, ctx);
      if (entry.ok()) {
        DETINFER_RETURN_IF_ERROR(packer.Adopt(entry->owner, entry->block));
        cached_hash = entry->weight_hash;
        hit = true;
        t.cache_report_.outcome = Outcome::kHit;
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
    // Each stretch of a contiguous source leaves memory as soon as the packer has read it, so
    // the load never holds a whole file and its packed copy at once. q/k reordered to
    // rotate-half are packed from strided views, which the packer does not report: released
    // once all is packed.
    DETINFER_RETURN_IF_ERROR(packer.Run(
        ctx, [&weights](const void* data, size_t bytes) { ReleaseFilePages(weights, data, bytes); },
        &block));
    if (reorder) {
      for (const LayerWeights& l : weights.layers) {
        for (const TensorView* m : {&l.wq, &l.wk}) {
          if (m->data != nullptr && m->is_contiguous()) {
            ReleaseFilePages(weights, m->data, StorageBytes(m->dtype, m->numel()));
          }
        }
      }
    }
  }
  t.rope_style_ = reorder ? RopeStyle::kRotateHalf : c.rope_style;
  DETINFER_ASSIGN_OR_RETURN(t.rope_, LayerRopeTable(c));
  if (c.rope_local_theta > 0) {
    DETINFER_ASSIGN_OR_RETURN(t.rope_local_, LocalRopeTable(c));
    t.has_local_rope_ = true;
  }
  t.weights_ = std::move(weights);
  // A hit's file was written for these weights (the key) with these packed bytes (its
  // checksum, verified as read): its recorded hash is theirs, and hashing them again would be
  // a quarter of the warm load.
  t.weight_hash_ = hit ? cached_hash : t.HashWeights(ctx);
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
  const auto tap = [&](int64_t layer, TapOp op, const float* data, int64_t stride, int64_t width,
                       int64_t head_dim) {
    if (observer_ != nullptr) observer_->OnTap({layer, op, data, stride, width, head_dim, tap_rows});
  };
  if constexpr (F == Fault::kRopeOffByOne) positions = OffByOnePositions(segs, c.max_seq_len);

  const int64_t dim = c.dim, hd = c.head_dim, hq = c.n_heads, hkv = c.n_kv_heads;
  const int64_t qkv_w = (hq + 2 * hkv) * hd, ffn = c.ffn_dim;
  std::vector<float> x(static_cast<size_t>(t_total * dim)), h(x.size());
  std::vector<float> qkv(static_cast<size_t>(t_total * qkv_w));
  std::vector<float> attn(static_cast<size_t>(t_total * hq * hd));
  std::vector<float> lse(static_cast<size_t>(t_total * hq));
  std::vector<float> proj(x.size());
  const int64_t dense_ffn = c.IsMoe() ? 0 : ffn;  // a MoE model's ffn_dim is not run
  std::vector<float> gate_up(static_cast<size_t>(t_total * 2 * dense_ffn));
  std::vector<float> act(static_cast<size_t>(t_total * dense_ffn));

  // Mixture of experts, per layer (SPEC §A1: a token's bits never depend on which or how many
  // other tokens chose the same experts):
  //   r = h · Wrouter^T                  [T, n_experts] fp32, the K1 matmul
  //   p = Softmax(r)                     per row, kernels/softmax.h (§K2)
  //   chosen = the k largest p, ties to the lowest expert id, listed in ascending id
  //   w_j = p[chosen_j], or with renormalisation p[chosen_j] / s where
  //         s = ((0 + p[c_0]) + p[c_1]) + ...  in ascending expert id (fp32)
  //   for each expert e = 0, 1, ... in ascending id: the rows that chose it, gathered in token
  //     order into one contiguous [n_e, dim] block, through [g | u] = rows · [Wgate_e | Wup_e]^T,
  //     SwiGlu, · Wdown_e^T — the same M-invariant matmul as every other weight, so a row's
  //     result does not depend on n_e or on the other rows in the block
  //   y = ((0 + w_0 * o_0) + w_1 * o_1) + ...   per token over its k experts in ascending
  //     expert id, each product and sum rounded to fp32 (no FMA: -ffp-contract=off)
  const int64_t n_exp = c.n_experts, top_k = c.n_experts_used, e_ffn = c.expert_ffn_dim;
  std::vector<float> moe_logits, moe_probs, moe_slots;
  std::vector<int32_t> moe_chosen;
  std::vector<float> moe_weights;
  const auto moe_ffn = [&](const LayerPacked& p) -> Status {
    moe_logits.assign(static_cast<size_t>(t_total * n_exp), 0.0f);
    moe_probs.assign(moe_logits.size(), 0.0f);
    DETINFER_RETURN_IF_ERROR(
        Matmul(ctx, Rows(h, t_total, dim), p.router, nullptr, Rows(moe_logits, t_total, n_exp)));
    DETINFER_RETURN_IF_ERROR(
        Softmax(ctx, Rows(moe_logits, t_total, n_exp), Rows(moe_probs, t_total, n_exp)));
    moe_chosen.assign(static_cast<size_t>(t_total * top_k), 0);
    moe_weights.assign(moe_chosen.size(), 0.0f);
    for (int64_t t = 0; t < t_total; ++t) {
      const float* pr = moe_probs.data() + t * n_exp;
      int32_t* ch = moe_chosen.data() + t * top_k;
      float* wt = moe_weights.data() + t * top_k;
      ChooseExperts(pr, n_exp, top_k, ch);
      float sum = 0.0f;
      for (int64_t j = 0; j < top_k; ++j) sum = sum + pr[ch[j]];
      for (int64_t j = 0; j < top_k; ++j) wt[j] = c.moe_renormalize ? pr[ch[j]] / sum : pr[ch[j]];
    }
    // Each (token, slot)'s expert output, then the combine. Which thread computes an expert's
    // rows never changes them (SPEC §A6), so the schedule is chosen for speed only: experts
    // with many rows (prefill) run one after another, each matmul across the pool; when every
    // expert has few rows (decode: one each) the experts run side by side, one per thread,
    // which saves a pool round trip per matmul.
    moe_slots.assign(static_cast<size_t>(t_total * top_k * dim), 0.0f);
    std::vector<std::vector<int64_t>> slot_of(static_cast<size_t>(n_exp));  // flat t * top_k + j
    std::vector<int64_t> active;
    int64_t most_rows = 0;
    for (int64_t t = 0; t < t_total; ++t) {
      for (int64_t j = 0; j < top_k; ++j) {
        const int64_t e = moe_chosen[static_cast<size_t>(t * top_k + j)];
        slot_of[static_cast<size_t>(e)].push_back(t * top_k + j);
      }
    }
    for (int64_t e = 0; e < n_exp; ++e) {
      const int64_t n_e = static_cast<int64_t>(slot_of[static_cast<size_t>(e)].size());
      if (n_e > 0) active.push_back(e);
      most_rows = std::max(most_rows, n_e);
    }
    constexpr int64_t kSideBySideRows = 4;
    const bool side_by_side = ctx.num_threads() > 1 && most_rows <= kSideBySideRows;
    const KernelContext serial{ctx.isa, nullptr};
    const KernelContext& expert_ctx = side_by_side ? serial : ctx;
    std::vector<Status> expert_status(active.size());
    const auto run_expert = [&](int64_t i) {
      const int64_t e = active[static_cast<size_t>(i)];
      const std::vector<int64_t>& slots = slot_of[static_cast<size_t>(e)];
      const int64_t n_e = static_cast<int64_t>(slots.size());
      std::vector<float> rows(static_cast<size_t>(n_e * dim)), gu(static_cast<size_t>(n_e * 2 * e_ffn)),
          a(static_cast<size_t>(n_e * e_ffn)), out(static_cast<size_t>(n_e * dim));
      for (int64_t r = 0; r < n_e; ++r) {
        std::copy_n(h.data() + slots[static_cast<size_t>(r)] / top_k * dim, dim, rows.data() + r * dim);
      }
      Status st = Matmul(expert_ctx, Rows(rows, n_e, dim), p.expert_gate_up[static_cast<size_t>(e)],
                         nullptr, Rows(gu, n_e, 2 * e_ffn));
      if (st.ok()) {
        st = SwiGlu(expert_ctx, Columns(gu, n_e, 2 * e_ffn, 0, e_ffn),
                    Columns(gu, n_e, 2 * e_ffn, e_ffn, e_ffn), Rows(a, n_e, e_ffn));
      }
      if (st.ok()) {
        st = Matmul(expert_ctx, Rows(a, n_e, e_ffn), p.expert_down[static_cast<size_t>(e)], nullptr,
                    Rows(out, n_e, dim));
      }
      for (int64_t r = 0; st.ok() && r < n_e; ++r) {
        std::copy_n(out.data() + r * dim, dim, moe_slots.data() + slots[static_cast<size_t>(r)] * dim);
      }
      expert_status[static_cast<size_t>(i)] = st;
    };
    if (side_by_side) {
      ctx.ParallelFor(static_cast<int64_t>(active.size()), run_expert);
    } else {
      for (int64_t i = 0; i < static_cast<int64_t>(active.size()); ++i) run_expert(i);
    }
    for (const Status& st : expert_status) DETINFER_RETURN_IF_ERROR(st);
    for (int64_t t = 0; t < t_total; ++t) {
      float* y = proj.data() + t * dim;
      std::fill_n(y, dim, 0.0f);
      for (int64_t j = 0; j < top_k; ++j) {
        const float wj = moe_weights[static_cast<size_t>(t * top_k + j)];
        const float* o = moe_slots.data() + (t * top_k + j) * dim;
        for (int64_t d = 0; d < dim; ++d) {
          const float prod = wj * o[d];
          y[d] = y[d] + prod;
        }
      }
    }
    return Status::Ok();
  };

  const TensorView xv = Rows(x, t_total, dim), hv = Rows(h, t_total, dim);
  DETINFER_RETURN_IF_ERROR(
      EmbeddingGather(ctx, weights_.token_embedding, ids.data(), t_total, xv));
  const ArchInfo& arch = GetArchInfo(c.arch);
  if (arch.scale_embedding) {
    for (float& v : x) v = v * embed_scale_;  // one fp32 multiply per element
  }
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerPacked& p = layers_[static_cast<size_t>(l)];
    const AttentionOptions aopts = LayerAttentionOptions(c, l);  // its window, if any
    DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, xv, p.attn_norm, c.norm_eps, hv));
    tap(l, TapOp::kAttnNorm, h.data(), dim, dim, 0);
    const TensorView bias = TensorView::Contiguous(p.qkv_bias.data(), DType::kF32, {qkv_w});
    DETINFER_RETURN_IF_ERROR(Matmul(ctx, hv, p.qkv, p.qkv_bias.empty() ? nullptr : &bias,
                                    Rows(qkv, t_total, qkv_w)));
    const TensorView q = Heads(qkv, t_total, qkv_w, 0, hq, hd);
    const TensorView k = Heads(qkv, t_total, qkv_w, hq * hd, hkv, hd);
    if (c.qk_norm) {
      DETINFER_RETURN_IF_ERROR(RmsNormHeads(ctx, q, p.q_norm, c.norm_eps, q));
      DETINFER_RETURN_IF_ERROR(RmsNormHeads(ctx, k, p.k_norm, c.norm_eps, k));
    }
    const RopeTable& rope = has_local_rope_ && LayerSlides(c, l) ? rope_local_ : rope_;
    DETINFER_RETURN_IF_ERROR(ApplyRope(ctx, rope, rope_style_, q, positions.data()));
    DETINFER_RETURN_IF_ERROR(ApplyRope(ctx, rope, rope_style_, k, positions.data()));
    tap(l, TapOp::kQ, qkv.data(), qkv_w, hq * hd, hd);
    tap(l, TapOp::kK, qkv.data() + hq * hd, qkv_w, hkv * hd, hd);
    tap(l, TapOp::kV, qkv.data() + (hq + hkv) * hd, qkv_w, hkv * hd, hd);
    const auto write_kv = [&]() -> Status {
      for (size_t i = 0; i < segs.size(); ++i) {
        const float* row = qkv.data() + aseqs[i].q_begin * qkv_w;
        DETINFER_RETURN_IF_ERROR(cache.Write(l, segs[i].seq, segs[i].pos, aseqs[i].q_len,
                                             row + hq * hd, row + (hq + hkv) * hd, qkv_w));
      }
      if (observer_ != nullptr) TapStoredKv(*observer_, cache, l, tap_rows);
      return Status::Ok();
    };
    if constexpr (F != Fault::kKvWriteBeforeAttend) DETINFER_RETURN_IF_ERROR(write_kv());
    int64_t kv_layer = l;
    if constexpr (F == Fault::kStaleLayerCache) kv_layer = StaleKvLayer(segs, l, c.n_layers);
    const KvView kv = cache.View(kv_layer);
    const TensorView av = TensorView::Contiguous(attn.data(), DType::kF32, {t_total, hq, hd});
    const TensorView lsev = TensorView::Contiguous(lse.data(), DType::kF32, {t_total, hq});
    if constexpr (F == Fault::kKvDtypeSkipRounding) {
      DETINFER_RETURN_IF_ERROR(AttendUnrounded(ctx, cache, l, segs, q, qkv, qkv_w, aseqs, aopts,
                                               av, lsev));
    } else {
      DETINFER_RETURN_IF_ERROR(Attention(ctx, q, kv, aseqs, aopts, av, lsev));
    }
    if constexpr (F == Fault::kKvWriteBeforeAttend) DETINFER_RETURN_IF_ERROR(write_kv());
    tap(l, TapOp::kAttention, attn.data(), hq * hd, hq * hd, hd);
    DETINFER_RETURN_IF_ERROR(
        Matmul(ctx, Rows(attn, t_total, hq * hd), p.wo, nullptr, Rows(proj, t_total, dim)));
    if (arch.post_norms) {
      DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, Rows(proj, t_total, dim), p.post_attn_norm,
                                       c.norm_eps, Rows(proj, t_total, dim)));
    }
    DETINFER_RETURN_IF_ERROR(Add(ctx, xv, Rows(proj, t_total, dim), xv));
    tap(l, TapOp::kAttnResidual, x.data(), dim, dim, 0);
    DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, xv, p.ffn_norm, c.norm_eps, hv));
    tap(l, TapOp::kFfnNorm, h.data(), dim, dim, 0);
    if (c.IsMoe()) {
      // No kFfnAct tap: each expert's activations cover only its own rows.
      DETINFER_RETURN_IF_ERROR(moe_ffn(p));
    } else {
      DETINFER_RETURN_IF_ERROR(
          Matmul(ctx, hv, p.gate_up, nullptr, Rows(gate_up, t_total, 2 * ffn)));
      const auto glu = arch.gelu_tanh ? &GeGluTanh : &SwiGlu;
      DETINFER_RETURN_IF_ERROR(glu(ctx, Columns(gate_up, t_total, 2 * ffn, 0, ffn),
                                   Columns(gate_up, t_total, 2 * ffn, ffn, ffn),
                                   Rows(act, t_total, ffn)));
      tap(l, TapOp::kFfnAct, act.data(), ffn, ffn, 0);
      DETINFER_RETURN_IF_ERROR(
          Matmul(ctx, Rows(act, t_total, ffn), p.down, nullptr, Rows(proj, t_total, dim)));
    }
    if (arch.post_norms) {
      DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, Rows(proj, t_total, dim), p.post_ffn_norm,
                                       c.norm_eps, Rows(proj, t_total, dim)));
    }
    DETINFER_RETURN_IF_ERROR(Add(ctx, xv, Rows(proj, t_total, dim), xv));
    tap(l, TapOp::kLayerOut, x.data(), dim, dim, 0);
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
  const int64_t nr = static_cast<int64_t>(rows.size());
  std::vector<float> picked(static_cast<size_t>(nr * dim));
  for (int64_t i = 0; i < nr; ++i) {
    std::copy_n(x.data() + rows[static_cast<size_t>(i)] * dim, dim, picked.data() + i * dim);
  }
  DETINFER_RETURN_IF_ERROR(
      RmsNorm(ctx, Rows(picked, nr, dim), final_norm_, c.norm_eps, Rows(picked, nr, dim)));
  logits->assign(static_cast<size_t>(nr * c.vocab_size), 0.0f);
  DETINFER_RETURN_IF_ERROR(
      Matmul(ctx, Rows(picked, nr, dim), lm_head_, nullptr, Rows(*logits, nr, c.vocab_size)));
  if (c.final_logit_softcap > 0 && nr > 0) {
    DETINFER_RETURN_IF_ERROR(SoftCap(ctx, Rows(*logits, nr, c.vocab_size), c.final_logit_softcap,
                                     Rows(*logits, nr, c.vocab_size)));
  }
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
