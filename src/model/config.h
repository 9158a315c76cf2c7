// ModelConfig: the architecture hyper-parameters of a decoder-only Llama-family model, as read
// from the model file (llama2.c header, Hugging Face config.json or GGUF metadata).
#ifndef DETINFER_MODEL_CONFIG_H_
#define DETINFER_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include "core/status.h"
#include "kernels/rope.h"

namespace detinfer {

enum class Arch { kLlama, kQwen2, kQwen3 };
std::string_view ArchName(Arch arch);  // "llama", "qwen2", "qwen3"

struct ModelConfig {
  Arch arch = Arch::kLlama;
  int64_t dim = 0;         // hidden size
  int64_t n_layers = 0;
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads (GQA when < n_heads)
  int64_t head_dim = 0;    // usually dim / n_heads (Qwen3 may differ)
  int64_t ffn_dim = 0;     // SwiGLU hidden size
  int64_t vocab_size = 0;
  int64_t max_seq_len = 0;   // context length the file declares
  double rope_theta = 10000.0;
  RopeStyle rope_style = RopeStyle::kRotateHalf;  // which pairs the file's q/k rows rotate
  float norm_eps = 1e-5f;
  bool tied_embeddings = false;  // lm_head is the token embedding
  bool qkv_bias = false;         // Qwen2
  bool qk_norm = false;          // Qwen3 per-head RMSNorm of q and k

  // Checks the numbers against each other (positive sizes, n_heads % n_kv_heads == 0, even
  // head_dim, ...). `source` names the file in messages.
  Status Validate(const std::string& source) const;
};

}  // namespace detinfer

#endif  // DETINFER_MODEL_CONFIG_H_
