// WeightRecipe: which storage format each tensor of a model gets when detinfer writes one
// (`convert --dtype`, `init --dtype`): one format for every matrix, or a K-quant mix as
// llama.cpp's Q4_K_M / Q5_K_M files have it. Norms and biases always stay f32.
#ifndef DETINFER_MODEL_WEIGHT_RECIPE_H_
#define DETINFER_MODEL_WEIGHT_RECIPE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"
#include "model/tensor_roles.h"
#include "model/weights.h"

namespace detinfer {

struct WeightRecipe {
  DType base = DType::kF32;
  // Q4_K_M / Q5_K_M: the output head, and wv and w_down in the layers llama.cpp gives more
  // bits (the first and last eighth, and every third one between), are Q6_K.
  bool k_mix = false;
  std::string name() const;  // "q4_k_m", "bf16", ...
};

// "f32", "bf16", "f16", any block format's name ("q8_0", "q4_k", ...), "q4_k_m", "q5_k_m";
// "q4_k_s" / "q5_k_s" are accepted for q4_k / q5_k. Errors list what is accepted.
Result<WeightRecipe> ParseWeightRecipe(std::string_view name);

// The format of tensor (role, layer) of a model with n_layers layers whose rows hold row_len
// elements. A block format whose block does not divide row_len falls back as llama.cpp's
// quantiser does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0; a 32-element format to f16).
DType RecipeDType(const WeightRecipe& recipe, TensorRole role, int64_t layer, int64_t n_layers,
                  int64_t row_len);

// `w` with every tensor stored as `recipe` says: a tensor already in its target format is kept
// as it is (its bytes untouched), any other is widened to f32 row by row and narrowed by the
// target format's rule (ConvertFromF32: row-local, so the bytes do not depend on threads).
// A tied lm_head stays tied. Errors name the tensor.
Result<ModelWeights> ApplyRecipe(ModelWeights w, const WeightRecipe& recipe);

}  // namespace detinfer

#endif  // DETINFER_MODEL_WEIGHT_RECIPE_H_
