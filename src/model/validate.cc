#include "model/validate.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/dtype.h"
#include "core/quant_blocks.h"
#include "core/storage_format.h"
#include "core/tensor.h"

namespace detinfer {

namespace {

Status ExpectShape(const ModelWeights& w, const TensorView& v, const std::string& name,
                   std::initializer_list<int64_t> shape, const char* meaning) {
  const std::string where = w.source + ": tensor " + name;
  TensorView want;
  want.rank = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) want.shape[i++] = s;
  bool same = v.rank == want.rank;
  for (int d = 0; same && d < want.rank; ++d) same = v.shape[d] == want.shape[d];
  if (!same) {
    want.dtype = v.dtype;
    return Status::InvalidArgument(where + " has shape " + v.ShapeString() + ", expected " +
                                   want.ShapeString() + " (" + meaning + ")");
  }
  if (static_cast<int>(v.dtype) >= kNumDTypes) {
    return Status::InvalidArgument(where + " has an unknown dtype");
  }
  const StorageFormat& format = FormatOf(v.dtype);
  if (format.quantised() && want.rank == 1) {
    return Status::InvalidArgument(where + " is " + std::string(format.ggml_name) +
                                   ", but only matrices may be quantised (norms and biases are "
                                   "f32, bf16 or f16)");
  }
  DETINFER_RETURN_IF_ERROR(CheckTensorAnyDType(v, where, want.rank));
  if (!v.is_contiguous()) return Status::InvalidArgument(where + " is not contiguous");
  if (format.quantised()) {
    // A NaN or Inf scale would turn a whole block into NaN: refused here, naming the block.
    // This reads every block's scales, i.e. the whole tensor, whose pages then leave memory:
    // the packer reads them again, and a load from a packed-weight cache file never does (kept,
    // the 110M q6_k file stayed resident beside the mapped cache file: 198 instead of 139 MB).
    const int64_t blocks = v.numel() / format.block_elems;
    const int64_t bad = FirstNonFiniteScale(v.dtype, static_cast<const uint8_t*>(v.data), blocks);
    w.ReleaseFilePages(v.data, StorageBytes(v.dtype, v.numel()));
    if (bad >= 0) {
      return Status::InvalidArgument(where + " (" + std::string(format.ggml_name) + ") block " +
                                     std::to_string(bad) + " (row " +
                                     std::to_string(bad * format.block_elems /
                                                    v.shape[v.rank - 1]) +
                                     ") has a NaN or Inf scale");
    }
  }
  return Status::Ok();
}

Status ExpectAbsent(const ModelWeights& w, const TensorView& v, const std::string& name,
                    const char* flag) {
  if (v.rank == 0 && v.data == nullptr) return Status::Ok();
  return Status::InvalidArgument(w.source + ": tensor " + name + " is present but the config "
                                 "has " + flag + " = false");
}

}  // namespace

// Only the norm weights are scanned: they are small (dim or head_dim elements per layer), so
// the scan costs nothing next to mapping the file, and a NaN or Inf there turns every
// activation after it into NaN. Scanning the matrices would read the whole file at load time.
Status CheckFiniteNorm(const TensorView& v, const std::string& source, const std::string& name) {
  const int64_t n = v.numel();
  constexpr int64_t kChunk = 1024;
  std::vector<float> buf(static_cast<size_t>(std::min(n, kChunk)));
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t len = std::min(kChunk, n - begin);
    const auto* src = static_cast<const uint8_t*>(v.data) +
                      static_cast<size_t>(begin) * DTypeSize(v.dtype);
    ConvertToF32(v.dtype, src, buf.data(), static_cast<size_t>(len));
    for (int64_t i = 0; i < len; ++i) {
      const float x = buf[static_cast<size_t>(i)];
      if (std::isfinite(x)) continue;
      const char* what = std::isnan(x) ? "nan" : x > 0 ? "inf" : "-inf";
      return Status::InvalidArgument(source + ": tensor " + name + " element " +
                                     std::to_string(begin + i) + " is " + what +
                                     " (norm weights must be finite)");
    }
  }
  return Status::Ok();
}

Status ValidateWeights(const ModelWeights& w) {
  const ModelConfig& c = w.config;
  DETINFER_RETURN_IF_ERROR(c.Validate(w.source));
  const int64_t dim = c.dim, hd = c.head_dim, q_dim = c.n_heads * hd, kv_dim = c.n_kv_heads * hd;
  DETINFER_RETURN_IF_ERROR(ExpectShape(w, w.token_embedding, "token_embedding",
                                       {c.vocab_size, dim}, "vocab_size x dim"));
  DETINFER_RETURN_IF_ERROR(ExpectShape(w, w.final_norm, "final_norm", {dim}, "dim"));
  DETINFER_RETURN_IF_ERROR(CheckFiniteNorm(w.final_norm, w.source, "final_norm"));
  DETINFER_RETURN_IF_ERROR(ExpectShape(w, w.lm_head, "lm_head", {c.vocab_size, dim},
                                       "vocab_size x dim"));
  if (w.layers.size() != static_cast<size_t>(c.n_layers)) {
    return Status::InvalidArgument(w.source + ": " + std::to_string(w.layers.size()) +
                                   " layers of weights but the config says n_layers = " +
                                   std::to_string(c.n_layers));
  }
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "layers." + std::to_string(i) + ".";
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.attn_norm, p + "attn_norm", {dim}, "dim"));
    DETINFER_RETURN_IF_ERROR(CheckFiniteNorm(l.attn_norm, w.source, p + "attn_norm"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.wq, p + "wq", {q_dim, dim},
                                         "n_heads*head_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.wk, p + "wk", {kv_dim, dim},
                                         "n_kv_heads*head_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.wv, p + "wv", {kv_dim, dim},
                                         "n_kv_heads*head_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.wo, p + "wo", {dim, q_dim},
                                         "dim x n_heads*head_dim"));
    if (c.qkv_bias) {
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.bq, p + "bq", {q_dim}, "n_heads*head_dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.bk, p + "bk", {kv_dim}, "n_kv_heads*head_dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.bv, p + "bv", {kv_dim}, "n_kv_heads*head_dim"));
    } else {
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.bq, p + "bq", "qkv_bias"));
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.bk, p + "bk", "qkv_bias"));
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.bv, p + "bv", "qkv_bias"));
    }
    if (c.qk_norm) {
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.q_norm, p + "q_norm", {hd}, "head_dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.k_norm, p + "k_norm", {hd}, "head_dim"));
      DETINFER_RETURN_IF_ERROR(CheckFiniteNorm(l.q_norm, w.source, p + "q_norm"));
      DETINFER_RETURN_IF_ERROR(CheckFiniteNorm(l.k_norm, w.source, p + "k_norm"));
    } else {
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.q_norm, p + "q_norm", "qk_norm"));
      DETINFER_RETURN_IF_ERROR(ExpectAbsent(w, l.k_norm, p + "k_norm", "qk_norm"));
    }
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.ffn_norm, p + "ffn_norm", {dim}, "dim"));
    DETINFER_RETURN_IF_ERROR(CheckFiniteNorm(l.ffn_norm, w.source, p + "ffn_norm"));
    if (c.IsMoe()) {
      const int64_t e = c.n_experts, f = c.expert_ffn_dim;
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.router, p + "router", {e, dim},
                                           "n_experts x dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.experts_gate, p + "experts_gate", {e, f, dim},
                                           "n_experts x expert_ffn_dim x dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.experts_up, p + "experts_up", {e, f, dim},
                                           "n_experts x expert_ffn_dim x dim"));
      DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.experts_down, p + "experts_down", {e, dim, f},
                                           "n_experts x dim x expert_ffn_dim"));
      continue;
    }
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.w_gate, p + "w_gate", {c.ffn_dim, dim},
                                         "ffn_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.w_up, p + "w_up", {c.ffn_dim, dim},
                                         "ffn_dim x dim"));
    DETINFER_RETURN_IF_ERROR(ExpectShape(w, l.w_down, p + "w_down", {dim, c.ffn_dim},
                                         "dim x ffn_dim"));
  }
  return Status::Ok();
}

}  // namespace detinfer
