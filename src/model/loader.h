// LoadModel: opens a model in any supported format and checks it against its configuration.
//
//   a directory with config.json (or a path to that config.json / a .safetensors file in it)
//                                 -> Hugging Face (hf_loader.h)
//   a file starting with "GGUF"   -> GGUF (gguf_loader.h)
//   any other file                -> llama2.c legacy version 0 (llama2c_loader.h)
#ifndef DETINFER_MODEL_LOADER_H_
#define DETINFER_MODEL_LOADER_H_

#include <string>

#include "core/status.h"
#include "model/weights.h"

namespace detinfer {

Result<ModelWeights> LoadModel(const std::string& path);

// Checks the config (ModelConfig::Validate) and every tensor against it: rank, shape, a
// storage dtype, a non-null pointer aligned to its element size, contiguous rows; optional
// tensors (biases, q/k norms) present exactly when the config says so. Errors name the source,
// the tensor, the expected and the actual shape.
Status ValidateWeights(const ModelWeights& weights);

}  // namespace detinfer

#endif  // DETINFER_MODEL_LOADER_H_
