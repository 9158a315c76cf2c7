// ValidateWeights: the last step of every format loader (LoadGguf, LoadHfDirectory,
// LoadLlama2c), so that no ModelWeights reaches the transformer unchecked.
//
// The byte-level checks (sizes, offsets, dtypes, overlap, alignment) happen earlier, in each
// format's parser (gguf.h, safetensors.h, llama2c_loader.h), before any tensor is touched;
// this layer checks what the bytes mean: the config, every tensor's shape against it, and the
// values of the norm weights.
#ifndef DETINFER_MODEL_VALIDATE_H_
#define DETINFER_MODEL_VALIDATE_H_

#include "core/status.h"
#include "model/weights.h"

namespace detinfer {

// Checks the config (ModelConfig::Validate) and every tensor against it: rank, shape, a
// storage dtype, a non-null pointer aligned to its element size, contiguous rows; optional
// tensors (biases, q/k norms) present exactly when the config says so; every element of every
// norm weight finite. Errors name the source, the tensor, the expected and the actual shape
// (or the index and value of a non-finite element).
Status ValidateWeights(const ModelWeights& weights);

// InvalidArgument "<source>: tensor <name> element <i> is <nan|inf|-inf> (norm weights must be
// finite)" for the first non-finite element of a 1-D norm weight.
Status CheckFiniteNorm(const TensorView& v, const std::string& source, const std::string& name);

}  // namespace detinfer

#endif  // DETINFER_MODEL_VALIDATE_H_
