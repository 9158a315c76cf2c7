// ModelWeights: every tensor of a decoder-only Llama-family model, as views into the model
// file's memory map (used in place, in their stored dtype) or into buffers the loader owns
// (when a format needs a conversion, e.g. a transposition).
//
// Shapes follow the Hugging Face / GGUF convention for linear layers, W [out, in], so that
// y = x · W^T (kernels/matmul.h). 1-D norms are [dim] (or [head_dim] for q/k norm).
#ifndef DETINFER_MODEL_WEIGHTS_H_
#define DETINFER_MODEL_WEIGHTS_H_

#include <memory>
#include <string>
#include <vector>

#include "core/buffer.h"
#include "core/mapped_file.h"
#include "core/tensor.h"
#include "model/config.h"

namespace detinfer {

struct LayerWeights {
  TensorView attn_norm;        // [dim]
  TensorView wq, wk, wv, wo;   // [n_heads*head_dim, dim], [n_kv*head_dim, dim] x2, [dim, n_heads*head_dim]
  TensorView bq, bk, bv;       // Qwen2 biases (rank 0 / null when absent)
  TensorView q_norm, k_norm;   // Qwen3 [head_dim] (rank 0 / null when absent)
  TensorView ffn_norm;         // [dim]
  TensorView w_gate, w_up;     // [ffn_dim, dim]
  TensorView w_down;           // [dim, ffn_dim]
  // Gemma 2's norms of the attention and FFN outputs ([dim]; rank 0 / null for the others).
  TensorView post_attn_norm, post_ffn_norm;
  // Mixture of experts (config.n_experts > 0; the dense w_gate/w_up/w_down are then absent):
  // the router and every expert's matrices stacked along a leading expert axis, as GGUF stores
  // them (the Hugging Face loader stacks its per-expert tensors).
  TensorView router;           // [n_experts, dim]
  TensorView experts_gate;     // [n_experts, expert_ffn_dim, dim]
  TensorView experts_up;       // [n_experts, expert_ffn_dim, dim]
  TensorView experts_down;     // [n_experts, dim, expert_ffn_dim]
};

enum class ModelFormat { kLlama2c, kHuggingFace, kGguf };
std::string_view ModelFormatName(ModelFormat format);  // "llama2.c", "huggingface", "gguf"

struct ModelWeights {
  ModelConfig config;
  ModelFormat format = ModelFormat::kLlama2c;
  std::string source;          // the path the model was loaded from
  TensorView token_embedding;  // [vocab, dim]
  std::vector<LayerWeights> layers;
  TensorView final_norm;       // [dim]
  TensorView lm_head;          // [vocab, dim]; the token embedding when tied

  // What the views point into. Kept alive as long as the weights.
  std::vector<MappedFile> files;
  std::vector<AlignedBuffer> owned;

  // Drops the resident pages of [data, data + bytes) when a file map holds them
  // (MappedFile::ReleasePages): a later read faults them in again, unchanged, so no bit depends
  // on it; memory the weights own is never released. For what no later step reads in place
  // (a packed matrix's source, a block format's scales once checked).
  void ReleaseFilePages(const void* data, size_t bytes) const;
};

}  // namespace detinfer

#endif  // DETINFER_MODEL_WEIGHTS_H_
