#include "model/transformer_faults.h"

#include <algorithm>
#include <cstring>

namespace detinfer {

std::vector<TapRow> TapRowsOf(std::span<const Segment> segs) {
  std::vector<TapRow> rows;
  for (const Segment& s : segs) {
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      rows.push_back({s.seq, s.pos + static_cast<int64_t>(i), s.tokens[i]});
    }
  }
  return rows;
}

std::vector<int32_t> OffByOnePositions(std::span<const Segment> segs, int64_t max_seq_len) {
  std::vector<int32_t> out;
  for (const Segment& s : segs) {
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      int64_t p = s.pos + static_cast<int64_t>(i);
      if (s.pos > 0) p = p + 1 < max_seq_len ? p + 1 : p - 1;
      out.push_back(static_cast<int32_t>(p));
    }
  }
  return out;
}

int64_t StaleKvLayer(std::span<const Segment> segs, int64_t layer, int64_t n_layers) {
  if (layer != n_layers - 1 || layer == 0) return layer;
  for (const Segment& s : segs) {
    if (s.tokens.size() != 1 || s.pos == 0) return layer;
  }
  return layer - 1;
}

Status AttendUnrounded(const KernelContext& ctx, const PagedKvCache& cache, int64_t layer,
                       std::span<const Segment> segs, const TensorView& q,
                       const TensorView& step_k, const TensorView& step_v,
                       std::span<const AttentionSeq> aseqs, const AttentionOptions& opts,
                       const TensorView& out, const TensorView& lse) {
  const KvCacheConfig& c = cache.config();
  const int64_t width = c.n_kv_heads * c.head_dim;
  int64_t total = 0;
  for (const AttentionSeq& a : aseqs) total += a.kv_len;
  std::vector<float> k(static_cast<size_t>(total * width)), v(k.size());
  std::vector<AttentionSeq> seqs(aseqs.begin(), aseqs.end());
  int64_t at = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    AttentionSeq& a = seqs[i];
    a.kv_begin = at;
    a.blocks = {};
    for (int64_t p = 0; p < a.kv_len; ++p) {
      float* kr = k.data() + (at + p) * width;
      float* vr = v.data() + (at + p) * width;
      if (p < a.q_pos) {  // earlier steps: the cache's rounded rows
        DETINFER_RETURN_IF_ERROR(cache.ReadRow(layer, segs[i].seq, p, kr, vr));
      } else {  // this step: the unrounded rows (the fault)
        const int64_t r = a.q_begin + p - a.q_pos;
        std::memcpy(kr, step_k.row_bytes(r), static_cast<size_t>(width) * sizeof(float));
        std::memcpy(vr, step_v.row_bytes(r), static_cast<size_t>(width) * sizeof(float));
      }
    }
    at += a.kv_len;
  }
  KvView kv;
  kv.k = TensorView::Contiguous(k.data(), DType::kF32, {total, c.n_kv_heads, c.head_dim});
  kv.v = TensorView::Contiguous(v.data(), DType::kF32, {total, c.n_kv_heads, c.head_dim});
  kv.layout = KvLayout::kContiguous;
  return Attention(ctx, q, kv, seqs, opts, out, lse);
}

}  // namespace detinfer
