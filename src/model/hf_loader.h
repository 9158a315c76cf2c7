// Hugging Face model directories: config.json plus model.safetensors, or shards
// model-0000x-of-0000y.safetensors listed by model.safetensors.index.json ("weight_map").
// Architectures LlamaForCausalLM, Qwen2ForCausalLM and Qwen3ForCausalLM; tensors F32, BF16 or
// F16, used in place. HF checkpoints store q/k rows for rotate-half RoPE.
#ifndef DETINFER_MODEL_HF_LOADER_H_
#define DETINFER_MODEL_HF_LOADER_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "model/config.h"
#include "model/weights.h"

namespace detinfer {

// Parses config.json text. `source` names the file in messages. Features detinfer does not
// implement (other rope_scaling kinds, Qwen's use_sliding_window, o_proj/MLP biases, an
// activation other than SiLU, or Gemma 2's gelu_pytorch_tanh) are Unsupported rather than silently ignored: ignoring them would
// give wrong outputs.
Result<ModelConfig> ParseHfConfig(std::string_view json_text, const std::string& source);

// Parses model.safetensors.index.json text: the (tensor name, shard file name) pairs of its
// "weight_map", in the file's order. Shard names come from untrusted input, so only plain file
// names are accepted (no path separators, no "..", no NUL). `source` names the file.
Result<std::vector<std::pair<std::string, std::string>>> ParseSafetensorsIndex(
    std::string_view json_text, const std::string& source);

// Loads and checks (ValidateWeights) a Hugging Face directory.
Result<ModelWeights> LoadHfDirectory(const std::string& dir);

}  // namespace detinfer

#endif  // DETINFER_MODEL_HF_LOADER_H_
