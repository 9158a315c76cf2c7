// WriteHuggingFace: a model as a Hugging Face checkpoint directory, config.json plus one
// model.safetensors, loadable by transformers' LlamaForCausalLM / Qwen2ForCausalLM /
// Qwen3ForCausalLM.
//
// RoPE: transformers always rotates the pairs (i, i + head_dim/2) ("rotate_half"). Weights in
// the interleaved convention (llama2.c, GGUF llama) have their q_proj/k_proj rows, q/k biases
// and q/k norms reordered on the way out (model/tensor_roles.h, RopeSourceRow), so that the
// written checkpoint computes the same function.
//
// Matrices keep their stored dtype; config.json's torch_dtype is the embedding's dtype.
// Deterministic: the same weights give the same bytes (sorted keys, no timestamps).
#ifndef DETINFER_MODEL_HF_WRITER_H_
#define DETINFER_MODEL_HF_WRITER_H_

#include <string>

#include "core/status.h"
#include "model/weights.h"

namespace detinfer {

// `dir` is created if missing (with parents); existing config.json / model.safetensors in it
// are replaced. Errors name the tensor or path at fault; unsupported combinations (e.g. llama
// with q/k/v bias, which transformers would pair with an o_proj bias) are refused before any
// file is written.
Status WriteHuggingFace(const ModelWeights& w, const std::string& dir);

// The config.json text WriteHuggingFace writes (exposed for tests).
Result<std::string> HuggingFaceConfigJson(const ModelWeights& w);

}  // namespace detinfer

#endif  // DETINFER_MODEL_HF_WRITER_H_
