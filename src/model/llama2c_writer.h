// Writes a llama-architecture model as a llama2.c legacy (version 0) checkpoint: the third
// format `detinfer convert` can produce, so that one model can be compared across all three.
#ifndef DETINFER_MODEL_LLAMA2C_WRITER_H_
#define DETINFER_MODEL_LLAMA2C_WRITER_H_

#include <string>

#include "core/status.h"
#include "model/weights.h"

namespace detinfer {

// f32 throughout (bf16/f16 weights are widened exactly); q/k rows in llama2.c's interleaved
// RoPE convention. Only what the format can express: arch llama, no biases, no q/k norm,
// head_dim = dim / n_heads, theta 10000, eps 1e-5 (anything else is an error naming it).
Status WriteLlama2c(const ModelWeights& weights, const std::string& path);

}  // namespace detinfer

#endif  // DETINFER_MODEL_LLAMA2C_WRITER_H_
