// ParamLayout: every trainable tensor of a Llama-style model as one slice of a flat f32 vector.
//
// Parameters, gradients and the optimiser's moments are all flat vectors with this layout, so
// summing per-sequence gradients, clipping and AdamW are plain loops over one index range whose
// order is the index order, and nothing depends on how tensors are grouped. Slices follow
// model/tensor_roles.h's ListRoles order (embedding; per layer attn_norm, wq, wk, wv, [bq, bk,
// bv], [q_norm, k_norm], wo, ..., ffn_norm, gate, up, down, ...; final norm; lm_head), so
// wq|wk|wv, bq|bk|bv and gate|up are adjacent and can be used as the fused
// [(Hq + 2 Hkv) hd, dim], [(Hq + 2 Hkv) hd] and [2 ffn, dim] tensors the forward reads.
#ifndef DETINFER_TRAIN_PARAM_LAYOUT_H_
#define DETINFER_TRAIN_PARAM_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "model/config.h"
#include "model/tensor_roles.h"
#include "model/weight_update.h"
#include "model/weights.h"

namespace detinfer {

struct ParamSlice {
  TensorRole role;
  int64_t layer;  // -1 for global tensors
  int64_t offset;
  int64_t rows, cols;  // rank-1 tensors have rows = 1; rank 3: rows = experts * rows of one
  int rank;
  int64_t experts = 1;  // rank 3 (stacked experts [experts, rows / experts, cols])
};

class ParamLayout {
 public:
  // The config must validate and use rotate-half RoPE (what the trainer supports; errors say
  // which field is unsupported). Every architecture the inference layer runs trains
  // (model/decoder_layer.h): biases, q/k norms, Gemma's norms, GeGLU and soft caps, mixtures
  // of experts (stacked expert slices, rank 3), tied embeddings (no kLmHead slice then).
  static Result<ParamLayout> Create(const ModelConfig& config);

  const ModelConfig& config() const { return config_; }
  int64_t size() const { return size_; }
  const std::vector<ParamSlice>& slices() const { return slices_; }
  const ParamSlice& Slice(TensorRole role, int64_t layer) const;

  // A view of the tensor (role, layer) inside `buf` (a flat vector of size()).
  TensorView View(const float* buf, TensorRole role, int64_t layer) const;
  // Expert e's [rows, cols] matrix of a stacked expert tensor (role, layer) inside `buf`.
  TensorView Expert(const float* buf, TensorRole role, int64_t layer, int64_t e) const;
  // The fused q|k|v and gate|up matrices of a layer inside `buf`.
  TensorView Qkv(const float* buf, int64_t layer) const;
  TensorView GateUp(const float* buf, int64_t layer) const;

 private:
  ModelConfig config_;
  std::vector<ParamSlice> slices_;
  int64_t size_ = 0;
};

// Deterministic initial values from `seed`: matrices, biases and the embedding as
// model/random_init.h draws them (RandomInitValue, the same on any machine), every norm gain
// exactly 1 (Gemma's (1 + w) norms: w = 0).
std::vector<float> InitParams(const ParamLayout& layout, uint64_t seed);

// ModelWeights viewing `params` (no copy; params must outlive it): every slice in its role's
// slot, a tied head viewing the embedding.
ModelWeights ParamViews(const ParamLayout& layout, const float* params);
// ModelWeights (f32, owning a copy of `params`) for Transformer::Create and the HF writer.
Result<ModelWeights> ParamsToWeights(const ParamLayout& layout, const std::vector<float>& params);

// The inverse: `w`'s tensors copied into a flat vector of layout (layout.config() must be the
// shape of w.config). Every tensor must be stored in f32 (what `detinfer train` and `detinfer
// init --dtype f32` write); an error names the first that is not. Rows are read in w's order,
// which for rotate-half RoPE (all ParamLayout accepts) is Hugging Face's q/k row order.
Result<std::vector<float>> WeightsToParams(const ParamLayout& layout, const ModelWeights& w);

// Every tensor of `params` as an f32 NamedTensor with its Hugging Face name and shape, viewing
// params' memory (which must outlive the list), in ListRoles order: what
// Engine::UpdateWeightsFromTensors takes to serve these parameters. Fused-tensor archs (Phi-3)
// are refused: their files' qkv_proj / gate_up_proj would need the slices joined.
Result<std::vector<NamedTensor>> ParamsToNamedTensors(const ParamLayout& layout,
                                                      const std::vector<float>& params);

}  // namespace detinfer

#endif  // DETINFER_TRAIN_PARAM_LAYOUT_H_
