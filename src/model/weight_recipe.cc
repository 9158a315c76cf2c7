#include "model/weight_recipe.h"

#include <algorithm>
#include <vector>

#include "core/buffer.h"
#include "core/storage_format.h"

namespace detinfer {

namespace {

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between.
bool MoreBits(int64_t layer, int64_t n_layers) {
  return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

DType Fallback(DType d) {
  switch (d) {
    case DType::kQ4_K: return DType::kQ5_0;
    case DType::kQ5_K: return DType::kQ5_1;
    case DType::kQ6_K: return DType::kQ8_0;
    default: return DType::kF16;
  }
}

}  // namespace

std::string WeightRecipe::name() const {
  return std::string(FormatOf(base).name) + (k_mix ? "_m" : "");
}

Result<WeightRecipe> ParseWeightRecipe(std::string_view name) {
  if (name == "q4_k_m" || name == "Q4_K_M") return WeightRecipe{DType::kQ4_K, true};
  if (name == "q5_k_m" || name == "Q5_K_M") return WeightRecipe{DType::kQ5_K, true};
  if (name == "q4_k_s" || name == "Q4_K_S") return WeightRecipe{DType::kQ4_K, false};
  if (name == "q5_k_s" || name == "Q5_K_S") return WeightRecipe{DType::kQ5_K, false};
  auto d = ParseDType(name);
  if (!d.ok()) {
    return Status::InvalidArgument(d.status().message() + ", or q4_k_m / q5_k_m");
  }
  return WeightRecipe{*d, false};
}

DType RecipeDType(const WeightRecipe& recipe, TensorRole role, int64_t layer, int64_t n_layers,
                  int64_t row_len) {
  if (IsVectorRole(role)) return DType::kF32;
  DType d = recipe.base;
  // llama.cpp's quantize keeps the MoE router (ffn_gate_inp) in f32: a coarser router would
  // change which experts tokens choose.
  if (role == TensorRole::kRouter && FormatOf(d).quantised()) return DType::kF32;
  if (recipe.k_mix && (role == TensorRole::kLmHead ||
                       ((role == TensorRole::kWv || role == TensorRole::kDown) &&
                        MoreBits(layer, n_layers)))) {
    d = DType::kQ6_K;
  }
  while (row_len % FormatOf(d).block_elems != 0) d = Fallback(d);
  return d;
}

Result<ModelWeights> ApplyRecipe(ModelWeights w, const WeightRecipe& recipe) {
  const ModelConfig& c = w.config;
  DETINFER_ASSIGN_OR_RETURN(const std::vector<TensorEntry> entries, ListTensors(w));
  std::vector<float> row;
  for (const TensorEntry& e : entries) {
    TensorView& v = *MutableViewOf(w, e.role, e.layer);
    const int64_t cols = v.shape[v.rank - 1];
    const int64_t rows = v.numel() / std::max<int64_t>(cols, 1);  // stacked experts: every row
    const DType target = RecipeDType(recipe, e.role, e.layer, c.n_layers, cols);
    if (target == v.dtype) continue;
    auto buf = AlignedBuffer::Allocate(StorageBytes(target, rows * cols));
    if (!buf.ok()) {
      return Status::ResourceExhausted(w.source + ": " + EntryName(e.role, e.layer) +
                                       ": cannot allocate its " + recipe.name() + " copy: " +
                                       buf.status().message());
    }
    auto* out = static_cast<uint8_t*>(buf->data());
    row.resize(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      // Stacked experts are whole contiguous tensors (loaders and init make them so): row r
      // starts r * cols elements in, in any storage format.
      const uint8_t* src = v.rank == 2   ? v.row_bytes(r)
                           : v.rank == 3 ? static_cast<const uint8_t*>(v.data) +
                                               StorageBytes(v.dtype, r * cols)
                                         : static_cast<const uint8_t*>(v.data);
      ConvertToF32(v.dtype, src, row.data(), static_cast<size_t>(cols));
      ConvertFromF32(row.data(), target, out + StorageBytes(target, r * cols),
                     static_cast<size_t>(cols));
    }
    v = v.rank == 3   ? TensorView::Contiguous(out, target, {v.shape[0], v.shape[1], cols})
        : v.rank == 2 ? TensorView::Contiguous(out, target, {rows, cols})
                      : TensorView::Contiguous(out, target, {cols});
    w.owned.push_back(std::move(buf).value());
  }
  if (c.tied_embeddings) w.lm_head = w.token_embedding;
  return w;
}

}  // namespace detinfer
