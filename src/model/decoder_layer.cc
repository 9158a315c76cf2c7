#include "model/decoder_layer.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/storage_format.h"
#include "kernels/activation.h"
#include "kernels/elementwise.h"
#include "kernels/rms_norm.h"
#include "model/arch.h"
#include "model/layer_spec.h"
#include "model/moe_ffn.h"

namespace detinfer {

namespace {

bool LayerTensorPresent(const TensorView& v) { return v.rank > 0 && v.data != nullptr; }

std::vector<float> LayerToF32(const TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.numel()));
  ConvertToF32(v.dtype, v.data, out.data(), out.size());
  return out;
}

TensorView Rows(float* buf, int64_t rows, int64_t cols) {
  return TensorView::Contiguous(buf, DType::kF32, {rows, cols});
}
TensorView RowsOf(std::vector<float>& buf, int64_t rows, int64_t cols) {
  return Rows(buf.data(), rows, cols);
}

// A [rows, cols] view of columns [col0, col0 + cols) of a row-major buffer of width `width`.
TensorView Columns(float* buf, int64_t rows, int64_t width, int64_t col0, int64_t cols) {
  TensorView v = TensorView::Contiguous(buf + col0, DType::kF32, {rows, cols});
  v.stride[0] = width;
  return v;
}

// The same columns seen as [rows, heads, head_dim].
TensorView Heads(float* buf, int64_t rows, int64_t width, int64_t col0, int64_t heads,
                 int64_t head_dim) {
  TensorView v = TensorView::Contiguous(buf + col0, DType::kF32, {rows, heads, head_dim});
  v.stride[0] = width;
  return v;
}

// Columns [col0, col0 + cols) of a [rows, width] buffer copied out contiguously.
void CopyColumns(const float* src, int64_t rows, int64_t width, int64_t col0, int64_t cols,
                 std::vector<float>* dst) {
  dst->resize(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(src + r * width + col0, cols, dst->data() + r * cols);
  }
}

// Rows per block of the dense FFN over t rows: as many as the room [q | k | v] (qkv_row_width
// floats a row) leaves in scratch g, so that [gate | up] needs none of its own (the 110M shape
// at 512 rows: 256 rows, 4.5 instead of 8 MiB). At least 64 rows: each block streams the FFN
// weights once, as each 64-row task of the matmuls does anyway (kernels/qmatmul.cc; 96 rows in
// kernels/matmul.cc), so blocks of a few hundred rows add no weight traffic. Observed runs
// (verification taps, training records) take all rows in one block, so observers see a whole
// [t, ffn] activation. Rows never mix (SPEC §A1), so no bit depends on the blocks.
int64_t FfnBlockRows(int64_t t, int64_t qkv_row_width, int64_t ffn, bool observed) {
  if (observed || ffn == 0) return t;
  constexpr int64_t kMinRows = 64;
  const int64_t rows = std::max(kMinRows, t * qkv_row_width / (2 * ffn) / kMinRows * kMinRows);
  return std::min(rows, t);
}

// Rows of a q or k projection (or bias, or norm) reordered from the interleaved RoPE
// convention to rotate-half: rotate-half row h*hd + i (i < hd/2) is interleaved row h*hd + 2i,
// and row h*hd + hd/2 + i is interleaved row h*hd + 2i + 1.
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

// The norm `w` as the pass multiplies by it, kept in `owned`: a copy of its bytes, or for a
// norm_plus_one arch (Gemma) an f32 copy holding 1 + w (rounded once). A copy, not a view into
// the model file, because every forward reads the norms: a read of a few bytes of a mapped file
// maps the whole page-cache folio around them (up to 2 MiB on recent kernels), so views kept
// the neighbouring matrices' file pages resident beside their packed copies (a q4_0 110M model
// held 20 MB of them).
Result<TensorView> PassNorm(const ModelConfig& c, const TensorView& w,
                            std::vector<AlignedBuffer>* owned) {
  const bool plus_one = GetArchInfo(c.arch).norm_plus_one;
  if (w.data == nullptr && !plus_one) return w;  // absent: the loader checked it may be
  if (w.data == nullptr || w.rank != 1 || !w.is_contiguous()) {
    return Status::InvalidArgument("norm " + w.ShapeString() + " is missing or not 1-D");
  }
  const int64_t n = w.shape[0];
  if (!plus_one) {
    const size_t bytes = StorageBytes(w.dtype, n);
    DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf, AlignedBuffer::Allocate(bytes));
    std::memcpy(buf.data(), w.data, bytes);
    TensorView v = TensorView::Contiguous(buf.data(), w.dtype, {n});
    owned->push_back(std::move(buf));
    return v;
  }
  DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf,
                            AlignedBuffer::Allocate(static_cast<size_t>(n) * sizeof(float)));
  float* f = buf.as<float>();
  const std::vector<float> src = LayerToF32(w);
  for (int64_t i = 0; i < n; ++i) f[i] = 1.0f + src[static_cast<size_t>(i)];
  owned->push_back(std::move(buf));
  return TensorView::Contiguous(f, DType::kF32, {n});
}

}  // namespace

const RopeTable& DecoderParams::LayerRope(const ModelConfig& c, int64_t layer) const {
  return has_local_rope && LayerSlides(c, layer) ? rope_local : rope;
}

Status QueueDecoderParams(const ModelWeights& weights, MatrixPacker* packer, DecoderParams* out) {
  const ModelConfig& c = weights.config;
  DecoderParams& t = *out;
  t.layers.resize(static_cast<size_t>(c.n_layers));
  const bool reorder = c.rope_style == RopeStyle::kInterleaved;
  std::vector<AlignedBuffer> reordered;  // reordered biases, until converted to f32
  std::vector<TensorView> qkv;
  for (int64_t l = 0; l < c.n_layers; ++l) {
    LayerWeights w = weights.layers[static_cast<size_t>(l)];  // views; reordered ones replaced
    const std::string layer = weights.source + ": layer " + std::to_string(l);
    qkv.clear();
    if (reorder) {
      if (c.qk_norm) {  // they scale q/k element-wise before RoPE: they move with the rows
        DETINFER_ASSIGN_OR_RETURN(w.q_norm, ToRotateHalf(w.q_norm, 1, c.head_dim, &t.owned));
        DETINFER_ASSIGN_OR_RETURN(w.k_norm, ToRotateHalf(w.k_norm, 1, c.head_dim, &t.owned));
      }
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
    LayerParams& p = t.layers[static_cast<size_t>(l)];
    if (c.qk_norm) {  // Gemma 3's are (1 + w) norms too
      DETINFER_ASSIGN_OR_RETURN(p.q_norm, PassNorm(c, w.q_norm, &t.owned));
      DETINFER_ASSIGN_OR_RETURN(p.k_norm, PassNorm(c, w.k_norm, &t.owned));
    }
    DETINFER_ASSIGN_OR_RETURN(p.attn_norm, PassNorm(c, w.attn_norm, &t.owned));
    DETINFER_ASSIGN_OR_RETURN(p.ffn_norm, PassNorm(c, w.ffn_norm, &t.owned));
    if (GetArchInfo(c.arch).post_norms) {
      DETINFER_ASSIGN_OR_RETURN(p.post_attn_norm, PassNorm(c, w.post_attn_norm, &t.owned));
      DETINFER_ASSIGN_OR_RETURN(p.post_ffn_norm, PassNorm(c, w.post_ffn_norm, &t.owned));
    }
    DETINFER_RETURN_IF_ERROR(packer->Add(qkv, &p.qkv));
    DETINFER_RETURN_IF_ERROR(packer->Add(w.wo, &p.wo));
    if (c.IsMoe()) {
      // Sized first: the packer keeps pointers to the slots until Run.
      p.expert_gate_up.resize(static_cast<size_t>(c.n_experts));
      p.expert_down.resize(static_cast<size_t>(c.n_experts));
      for (const TensorView* v : {&w.router, &w.experts_gate, &w.experts_up, &w.experts_down}) {
        if (!LayerTensorPresent(*v) || (v->rank == 3 && !v->is_contiguous())) {
          return Status::InvalidArgument(layer + " is missing its router or a contiguous "
                                         "stacked expert tensor");
        }
      }
      DETINFER_RETURN_IF_ERROR(packer->Add(w.router, &p.router));
      for (int64_t e = 0; e < c.n_experts; ++e) {
        const TensorView gate_up[2] = {ExpertSlice(w.experts_gate, e),
                                       ExpertSlice(w.experts_up, e)};
        DETINFER_RETURN_IF_ERROR(packer->Add(gate_up, &p.expert_gate_up[static_cast<size_t>(e)]));
        DETINFER_RETURN_IF_ERROR(packer->Add(ExpertSlice(w.experts_down, e),
                                             &p.expert_down[static_cast<size_t>(e)]));
      }
    } else {
      const TensorView gate_up[2] = {w.w_gate, w.w_up};
      DETINFER_RETURN_IF_ERROR(packer->Add(gate_up, &p.gate_up));
      DETINFER_RETURN_IF_ERROR(packer->Add(w.w_down, &p.down));
    }
    if (c.qkv_bias) {
      for (const TensorView* b : {&w.bq, &w.bk, &w.bv}) {
        if (!LayerTensorPresent(*b)) {
          return Status::InvalidArgument(layer + " is missing a q/k/v bias");
        }
        const auto f = LayerToF32(*b);
        p.qkv_bias.insert(p.qkv_bias.end(), f.begin(), f.end());
      }
    }
  }
  DETINFER_RETURN_IF_ERROR(packer->Add(weights.lm_head, &t.lm_head));
  DETINFER_ASSIGN_OR_RETURN(t.final_norm, PassNorm(c, weights.final_norm, &t.owned));
  t.embed_scale = 1.0f;
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
    t.embed_scale = s;
  }
  t.rope_style = reorder ? RopeStyle::kRotateHalf : c.rope_style;
  DETINFER_ASSIGN_OR_RETURN(t.rope, LayerRopeTable(c));
  t.has_local_rope = c.rope_local_theta > 0;
  if (t.has_local_rope) {
    DETINFER_ASSIGN_OR_RETURN(t.rope_local, LocalRopeTable(c));
  }
  return Status::Ok();
}

Status EmbedTokens(const KernelContext& ctx, const ModelConfig& c, const TensorView& embedding,
                   const DecoderParams& p, std::span<const int32_t> ids, std::vector<float>* x) {
  const int64_t t = static_cast<int64_t>(ids.size());
  x->assign(static_cast<size_t>(t * c.dim), 0.0f);
  DETINFER_RETURN_IF_ERROR(EmbeddingGather(ctx, embedding, ids.data(), t, RowsOf(*x, t, c.dim)));
  if (GetArchInfo(c.arch).scale_embedding) {
    for (float& v : *x) v = v * p.embed_scale;  // one fp32 multiply per element
  }
  return Status::Ok();
}

Status RunDecoderLayer(const KernelContext& ctx, const ModelConfig& c, const DecoderParams& params,
                       int64_t l, std::span<const int32_t> positions, std::vector<float>* x_buf,
                       LayerScratch* s, const LayerHooks& hooks) {
  const LayerParams& p = params.layers[static_cast<size_t>(l)];
  const ArchInfo& arch = GetArchInfo(c.arch);
  const int64_t t = static_cast<int64_t>(positions.size());
  const int64_t dim = c.dim, hd = c.head_dim, hq = c.n_heads, hkv = c.n_kv_heads;
  const int64_t qkv_w = (hq + 2 * hkv) * hd;
  const int64_t ffn = c.IsMoe() ? 0 : c.ffn_dim;  // a MoE model's ffn_dim is not run
  std::vector<float>& x = *x_buf;
  // model/decoder_layer.h (LayerScratch): what each of the two buffers holds, in turn.
  s->a.resize(static_cast<size_t>(t * std::max(dim, hq * hd)));
  const int64_t ffn_rows = FfnBlockRows(t, std::max(qkv_w, dim), ffn,
                                        hooks.record != nullptr || hooks.tap != nullptr);
  s->g.resize(static_cast<size_t>(std::max(t * std::max(qkv_w, dim), ffn_rows * 2 * ffn)));
  s->lse.resize(static_cast<size_t>(t * hq));
  float* const a = s->a.data();
  float* const g = s->g.data();
  LayerRecord* rec = hooks.record;
  const auto tap = [&](TapOp op, const float* data, int64_t stride, int64_t width,
                       int64_t head_dim) {
    if (hooks.tap) hooks.tap(l, op, data, stride, width, head_dim);
  };
  const TensorView xv = RowsOf(x, t, dim), hv = Rows(a, t, dim);
  if (rec != nullptr) rec->x_in = x;

  // Attention.
  DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, xv, p.attn_norm, c.norm_eps, hv));
  tap(TapOp::kAttnNorm, a, dim, dim, 0);
  if (rec != nullptr) CopyColumns(a, t, dim, 0, dim, &rec->h1);
  const TensorView bias = TensorView::Contiguous(p.qkv_bias.data(), DType::kF32, {qkv_w});
  DETINFER_RETURN_IF_ERROR(
      Matmul(ctx, hv, p.qkv, p.qkv_bias.empty() ? nullptr : &bias, Rows(g, t, qkv_w)));
  const TensorView q = Heads(g, t, qkv_w, 0, hq, hd);
  const TensorView k = Heads(g, t, qkv_w, hq * hd, hkv, hd);
  const TensorView v = Heads(g, t, qkv_w, (hq + hkv) * hd, hkv, hd);
  if (c.qk_norm) {
    if (rec != nullptr) {
      CopyColumns(g, t, qkv_w, 0, hq * hd, &rec->q_pre);
      CopyColumns(g, t, qkv_w, hq * hd, hkv * hd, &rec->k_pre);
    }
    DETINFER_RETURN_IF_ERROR(RmsNormHeads(ctx, q, p.q_norm, c.norm_eps, q));
    DETINFER_RETURN_IF_ERROR(RmsNormHeads(ctx, k, p.k_norm, c.norm_eps, k));
  }
  const RopeTable& rope = params.LayerRope(c, l);
  DETINFER_RETURN_IF_ERROR(ApplyRope(ctx, rope, params.rope_style, q, positions.data()));
  DETINFER_RETURN_IF_ERROR(ApplyRope(ctx, rope, params.rope_style, k, positions.data()));
  tap(TapOp::kQ, g, qkv_w, hq * hd, hd);
  tap(TapOp::kK, g + hq * hd, qkv_w, hkv * hd, hd);
  tap(TapOp::kV, g + (hq + hkv) * hd, qkv_w, hkv * hd, hd);
  if (rec != nullptr) {
    CopyColumns(g, t, qkv_w, 0, hq * hd, &rec->q);
    CopyColumns(g, t, qkv_w, hq * hd, hkv * hd, &rec->k);
    CopyColumns(g, t, qkv_w, (hq + hkv) * hd, hkv * hd, &rec->v);
  }
  // h was last read by the qkv matmul: the attention output takes its place.
  const TensorView av = TensorView::Contiguous(a, DType::kF32, {t, hq, hd});
  const TensorView lsev = TensorView::Contiguous(s->lse.data(), DType::kF32, {t, hq});
  DETINFER_RETURN_IF_ERROR(hooks.attend(l, q, k, v, LayerAttentionOptions(c, l), av, lsev));
  tap(TapOp::kAttention, a, hq * hd, hq * hd, hd);
  if (rec != nullptr) {
    CopyColumns(a, t, hq * hd, 0, hq * hd, &rec->attn);
    rec->lse = s->lse;
  }
  // q, k, v were last read by attention: the projection takes their place.
  const TensorView proj = Rows(g, t, dim);
  DETINFER_RETURN_IF_ERROR(Matmul(ctx, Rows(a, t, hq * hd), p.wo, nullptr, proj));
  if (arch.post_norms) {
    if (rec != nullptr) CopyColumns(g, t, dim, 0, dim, &rec->attn_out);
    DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, proj, p.post_attn_norm, c.norm_eps, proj));
  }
  DETINFER_RETURN_IF_ERROR(Add(ctx, xv, proj, xv));
  tap(TapOp::kAttnResidual, x.data(), dim, dim, 0);
  if (rec != nullptr) rec->x_mid = x;

  // Feed-forward: h in a again (the attention output was last read by Wo), its result in g (the
  // projection was last read by the residual add), the down projection in a (h was last read
  // by the gate/up matmul).
  DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, xv, p.ffn_norm, c.norm_eps, hv));
  tap(TapOp::kFfnNorm, a, dim, dim, 0);
  if (rec != nullptr) CopyColumns(a, t, dim, 0, dim, &rec->h2);
  float* ffn_out = a;
  if (c.IsMoe()) {
    // No kFfnAct tap: each expert's activations cover only its own rows.
    DETINFER_RETURN_IF_ERROR(MoeFfn(ctx, c, p, a, t, g, rec));
    ffn_out = g;
  } else {
    // In blocks of ffn_rows rows: the down projection's rows replace the block's h rows, which
    // the block's gate/up matmul was the last to read.
    for (int64_t r0 = 0; r0 < t; r0 += ffn_rows) {
      const int64_t n = std::min(ffn_rows, t - r0);
      float* const h_rows = a + r0 * dim;
      DETINFER_RETURN_IF_ERROR(
          Matmul(ctx, Rows(h_rows, n, dim), p.gate_up, nullptr, Rows(g, n, 2 * ffn)));
      if (rec != nullptr) {  // observed: one block of all t rows (FfnBlockRows)
        CopyColumns(g, n, 2 * ffn, 0, ffn, &rec->gate);
        CopyColumns(g, n, 2 * ffn, ffn, ffn, &rec->up);
      }
      // The activation overwrites the gate it is made from (each element is read before it
      // is written): no [n, ffn] buffer of its own. The down projection reads those columns in
      // place (row stride 2 * ffn).
      const TensorView act = Columns(g, n, 2 * ffn, 0, ffn);
      const auto glu = arch.gelu_tanh ? &GeGluTanh : &SwiGlu;
      DETINFER_RETURN_IF_ERROR(glu(ctx, act, Columns(g, n, 2 * ffn, ffn, ffn), act));
      tap(TapOp::kFfnAct, g, 2 * ffn, ffn, 0);
      if (rec != nullptr) CopyColumns(g, n, 2 * ffn, 0, ffn, &rec->act);
      DETINFER_RETURN_IF_ERROR(Matmul(ctx, act, p.down, nullptr, Rows(h_rows, n, dim)));
    }
  }
  const TensorView out = Rows(ffn_out, t, dim);
  if (arch.post_norms) {
    if (rec != nullptr) CopyColumns(ffn_out, t, dim, 0, dim, &rec->ffn_out);
    DETINFER_RETURN_IF_ERROR(RmsNorm(ctx, out, p.post_ffn_norm, c.norm_eps, out));
  }
  DETINFER_RETURN_IF_ERROR(Add(ctx, xv, out, xv));
  tap(TapOp::kLayerOut, x.data(), dim, dim, 0);
  return Status::Ok();
}

Status RunHead(const KernelContext& ctx, const ModelConfig& c, const DecoderParams& p,
               std::vector<float>* rows, std::vector<float>* logits,
               std::vector<float>* uncapped) {
  const int64_t n = static_cast<int64_t>(rows->size()) / c.dim;
  DETINFER_RETURN_IF_ERROR(
      RmsNorm(ctx, RowsOf(*rows, n, c.dim), p.final_norm, c.norm_eps, RowsOf(*rows, n, c.dim)));
  logits->assign(static_cast<size_t>(n * c.vocab_size), 0.0f);
  const TensorView lv = RowsOf(*logits, n, c.vocab_size);
  DETINFER_RETURN_IF_ERROR(Matmul(ctx, RowsOf(*rows, n, c.dim), p.lm_head, nullptr, lv));
  if (c.final_logit_softcap > 0 && n > 0) {
    if (uncapped != nullptr) *uncapped = *logits;
    DETINFER_RETURN_IF_ERROR(SoftCap(ctx, lv, c.final_logit_softcap, lv));
  }
  return Status::Ok();
}

}  // namespace detinfer
