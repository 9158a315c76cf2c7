// InitRandomModel: a model with every tensor drawn deterministically from a seed, for tests,
// benchmarks and `detinfer init`, with no file to download.
//
// Same (config, seed, dtype) -> the same bits on any machine, compiler or standard library:
// values come from a counter-based generator written here (SplitMix64's finaliser keyed by
// seed, tensor and element index) and an explicit integer -> float mapping using only exact or
// correctly rounded IEEE operations. std::*_distribution is not used because its output is
// implementation-defined. Being counter-based, each tensor's values do not depend on which
// other tensors exist (a tied and an untied model share their embedding, llama and qwen2 their
// matrices) and tensors could be filled in any order.
//
// Scales follow common initialisations so that activations stay in a realistic range:
//   linear weights and q/k/v biases  uniform in +-1/sqrt(fan_in)   (PyTorch nn.Linear)
//   token embedding                  approx. N(0, 1) (Irwin-Hall sum of 4 uniforms)
//   norm gains                       1 + uniform in +-1/8 (near 1, but not all equal, so that
//                                    a reader that swaps two norms is caught)
// Matrices are stored in `dtype` (drawn in f32, rounded once with F32ToBF16/F32ToF16); norms
// and biases stay f32, as Hugging Face and GGUF exports keep them.
#ifndef DETINFER_MODEL_RANDOM_INIT_H_
#define DETINFER_MODEL_RANDOM_INIT_H_

#include <cstdint>

#include "core/dtype.h"
#include "core/status.h"
#include "model/config.h"
#include "model/tensor_roles.h"
#include "model/weight_recipe.h"
#include "model/weights.h"

namespace detinfer {

// `config` must validate and match its arch's features (CheckArchFeatures); rope_style is kept
// as given (it only says how the rows are to be read). The result owns its buffers, has
// format kHuggingFace and source "random:seed=<seed>".
Result<ModelWeights> InitRandomModel(const ModelConfig& config, uint64_t seed, DType dtype);
// The same draws stored as `recipe` says (block formats quantised row by row).
Result<ModelWeights> InitRandomModel(const ModelConfig& config, uint64_t seed,
                                     const WeightRecipe& recipe);

// The f32 value InitRandomModel draws for element `index` of tensor (role, layer) before any
// rounding to `dtype`: exposed so that tests can check the rounding against it.
float RandomInitValue(const ModelConfig& config, uint64_t seed, TensorRole role, int64_t layer,
                      int64_t index);

}  // namespace detinfer

#endif  // DETINFER_MODEL_RANDOM_INIT_H_
