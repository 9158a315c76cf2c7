// LoadModel: opens a model in any supported format and checks it against its configuration.
//
//   a directory with config.json (or a path to that config.json / a .safetensors file in it)
//                                 -> Hugging Face (hf_loader.h)
//   a file starting with "GGUF"   -> GGUF (gguf_loader.h)
//   text, JSON, zip, pickle, empty -> an error saying what the file is (model/file_kind.h)
//   any other binary file         -> llama2.c legacy version 0 (llama2c_loader.h), whose
//                                    errors say it was the last format tried
#ifndef DETINFER_MODEL_LOADER_H_
#define DETINFER_MODEL_LOADER_H_

#include <string>

#include "core/status.h"
#include "model/validate.h"  // ValidateWeights, which every loader ends with
#include "model/weights.h"

namespace detinfer {

// Every path through here ends with ValidateWeights (model/validate.h).
Result<ModelWeights> LoadModel(const std::string& path);

}  // namespace detinfer

#endif  // DETINFER_MODEL_LOADER_H_
