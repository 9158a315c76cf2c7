#include "model/llama2c_writer.h"

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/rope.h"
#include "model/file_sink.h"

namespace detinfer {

namespace {

// A view of `t` in f32: `t` itself, or an exact widening into `keep`.
TensorView AsF32(const TensorView& t, std::vector<float>* keep) {
  if (t.dtype == DType::kF32) return t;
  keep->resize(static_cast<size_t>(t.numel()));
  const int64_t cols = t.rank == 2 ? t.shape[1] : t.shape[0];
  const int64_t rows = t.rank == 2 ? t.shape[0] : 1;
  for (int64_t r = 0; r < rows; ++r) {
    ConvertToF32(t.dtype, t.rank == 2 ? t.row_bytes(r) : static_cast<const uint8_t*>(t.data),
                 keep->data() + r * cols, static_cast<size_t>(cols));
  }
  TensorView v = t;
  v.data = keep->data();
  v.dtype = DType::kF32;
  if (v.rank == 2) v.stride[0] = cols;
  return v;
}

}  // namespace

Status WriteLlama2c(const ModelWeights& w, const std::string& path) {
  const ModelConfig& c = w.config;
  const std::string what = "llama2.c writer: " + w.source;
  if (c.arch != Arch::kLlama || c.qkv_bias || c.qk_norm) {
    return Status::Unsupported(what + ": the llama2.c format holds only plain llama models");
  }
  if (c.head_dim * c.n_heads != c.dim) {
    return Status::Unsupported(what + ": head_dim " + std::to_string(c.head_dim) +
                               " is not dim / n_heads as llama2.c requires");
  }
  if (c.rope_theta != 10000.0 || c.norm_eps != 1e-5f) {
    return Status::Unsupported(what + ": llama2.c fixes rope theta 10000 and eps 1e-5");
  }
  if (c.rope_scaling.kind != RopeScaling::Kind::kNone) {
    return Status::Unsupported(what + ": llama2.c has no RoPE scaling (the model has " +
                               std::string(RopeScalingName(c.rope_scaling.kind)) + ")");
  }
  const int64_t header[7] = {c.dim, c.ffn_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                             c.tied_embeddings ? c.vocab_size : -c.vocab_size, c.max_seq_len};
  int32_t h32[7];
  for (int i = 0; i < 7; ++i) {
    if (header[i] > std::numeric_limits<int32_t>::max() ||
        header[i] < -std::numeric_limits<int32_t>::max()) {
      return Status::Unsupported(what + ": a size does not fit the int32 header");
    }
    h32[i] = static_cast<int32_t>(header[i]);
  }
  FileSink sink;
  DETINFER_RETURN_IF_ERROR(sink.Open(path));
  DETINFER_RETURN_IF_ERROR(sink.Write(h32, sizeof h32));
  std::vector<float> keep;
  auto put = [&](const TensorView& t, bool rope_rows) {
    return WriteTensorRows(sink, AsF32(t, &keep), c.head_dim, c.rope_style,
                           rope_rows ? RopeStyle::kInterleaved : c.rope_style);
  };
  DETINFER_RETURN_IF_ERROR(put(w.token_embedding, false));
  // run.c's order: each kind of tensor for all layers, then the next kind.
  using Field = TensorView LayerWeights::*;
  const std::pair<Field, bool> order[] = {
      {&LayerWeights::attn_norm, false}, {&LayerWeights::wq, true},  {&LayerWeights::wk, true},
      {&LayerWeights::wv, false},        {&LayerWeights::wo, false}, {&LayerWeights::ffn_norm, false},
      {&LayerWeights::w_gate, false},    {&LayerWeights::w_down, false}, {&LayerWeights::w_up, false}};
  for (const auto& [field, rope] : order) {
    for (const LayerWeights& l : w.layers) DETINFER_RETURN_IF_ERROR(put(l.*field, rope));
  }
  DETINFER_RETURN_IF_ERROR(put(w.final_norm, false));
  // freq_cis_real / freq_cis_imag [seq_len, head_dim / 2]: unused by readers (RoPE is computed),
  // written as run.c's exporter did so other tools find the layout they expect.
  // They are the engine's own RoPE table (theta 10000 as run.c's exporter used), so the file's
  // bytes are the same on every host (core/portable_math.h) and the formula lives in one place.
  DETINFER_ASSIGN_OR_RETURN(
      RopeTable freq, RopeTable::Create(static_cast<int>(c.head_dim), static_cast<int>(c.head_dim),
                                        10000.0, static_cast<int>(c.max_seq_len)));
  const size_t entries = static_cast<size_t>(c.max_seq_len * (c.head_dim / 2));
  DETINFER_RETURN_IF_ERROR(sink.Write(freq.cos_row(0), entries * sizeof(float)));
  DETINFER_RETURN_IF_ERROR(sink.Write(freq.sin_row(0), entries * sizeof(float)));
  if (!c.tied_embeddings) DETINFER_RETURN_IF_ERROR(put(w.lm_head, false));
  return sink.Commit();
}

}  // namespace detinfer
