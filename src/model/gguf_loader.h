// GGUF model files of architectures llama, qwen2 and qwen3 (F32 / F16 / BF16 tensors, used in
// place). llama.cpp's converter permutes Hugging Face q/k rows back to interleaved pairs for
// "llama", and leaves them in rotate-half order (ggml NEOX mode) for qwen2/qwen3; the config's
// rope_style says which.
#ifndef DETINFER_MODEL_GGUF_LOADER_H_
#define DETINFER_MODEL_GGUF_LOADER_H_

#include <string>

#include "core/status.h"
#include "model/gguf.h"
#include "model/weights.h"

namespace detinfer {

// The model configuration from the metadata (<arch>.embedding_length, ...). vocab_size comes
// from token_embd.weight's shape, cross-checked against tokenizer.ggml.tokens if present.
Result<ModelConfig> GgufModelConfig(const GgufFile& gguf);

// Loads and checks (ValidateWeights) the model; the second form takes a file already parsed,
// e.g. from bytes in memory (GgufFile::Parse), and keeps its mapping alive in the weights.
Result<ModelWeights> LoadGguf(const std::string& path);
Result<ModelWeights> LoadGguf(GgufFile gguf);

}  // namespace detinfer

#endif  // DETINFER_MODEL_GGUF_LOADER_H_
