// Shared plumbing for the loaders of formats that name their tensors (Hugging Face, GGUF): a
// name -> tensor lookup, the per-format naming scheme, and one routine that fills ModelWeights
// from them, so both formats find the same slots by the same rules.
#ifndef DETINFER_MODEL_TENSOR_SOURCE_H_
#define DETINFER_MODEL_TENSOR_SOURCE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "model/tensor_roles.h"
#include "model/weights.h"

namespace detinfer {

// A contiguous row-major view with dimensions given outermost-first (rank <= kMaxTensorRank).
TensorView MakeView(const void* data, DType dtype, const int64_t* dims, int rank);

// A format's tensor names (model/arch.h: HfTensorName, GgufTensorName).
struct NameScheme {
  std::string (*name)(Arch arch, TensorRole role, int64_t layer);
  // Tensors the config reader consumed (GGUF's RoPE frequency divisors), or none.
  std::vector<std::string> read_with_config = {};
  // Hugging Face: one tensor per expert (HfExpertTensorName), stacked by AssembleWeights into
  // the [n_experts, rows, cols] views ModelWeights holds. Null (GGUF): `name` gives the
  // stacked tensor itself.
  std::string (*expert_name)(Arch arch, TensorRole role, int64_t layer, int64_t expert) = nullptr;
  // GGUF Mixtral: a layer's expert role is the stacked tensor (`name`) when the file has it,
  // else its per-expert tensors (`expert_name`, early files), stacked like Hugging Face's; a
  // layer holding both forms is an error naming both.
  bool stacked_or_per_expert = false;
};

class TensorLookup {
 public:
  virtual ~TensorLookup() = default;
  virtual bool Has(const std::string& name) const = 0;
  // NotFound naming the file and the tensor when absent; Unsupported for a dtype detinfer
  // cannot use (naming the tensor and the dtype).
  virtual Result<TensorView> Get(const std::string& name) const = 0;
  // Every tensor the file holds, and where it is (for errors).
  virtual std::vector<std::string> Names() const = 0;
  virtual std::string Where() const = 0;
};

// Fills token_embedding, layers, final_norm and lm_head from `lookup`, following w->config
// (n_layers, qkv_bias, qk_norm, tied_embeddings). The fused tensors of a fused_qkv /
// fused_gate_up arch (model/arch.h) are split here into row views: [q | k | v] rows and
// [gate | up] rows, no copy. Shapes are checked later (ValidateWeights).
// A tensor the file holds but the configured model does not use is an error naming it (a bias
// the config switched off, a RoPE frequency table, a layer beyond n_layers): running without it
// would compute a different model than the file's, silently. Only what Hugging Face itself
// discards is exempt: rotary_emb.inv_freq buffers (recomputed) and lm_head with tied embeddings.
Status AssembleWeights(const TensorLookup& lookup, const NameScheme& names, ModelWeights* w);

}  // namespace detinfer

#endif  // DETINFER_MODEL_TENSOR_SOURCE_H_
