// ModelConfig: the architecture hyper-parameters of a decoder-only Llama-family model, as read
// from the model file (llama2.c header, Hugging Face config.json or GGUF metadata).
#ifndef DETINFER_MODEL_CONFIG_H_
#define DETINFER_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "kernels/rope.h"

namespace detinfer {

// model/arch.h holds what each architecture is (names, features, tensor names).
enum class Arch { kLlama, kQwen2, kQwen3, kPhi3, kQwen3Moe, kMixtral, kGemma2, kGemma3 };
// "llama", "qwen2", "qwen3", "phi3", "qwen3_moe", "mixtral", "gemma2", "gemma3" (arch.cc)
std::string_view ArchName(Arch arch);

// RoPE frequency scaling. Every supported kind comes down to one divisor per frequency
// (inv_freq_i /= divisors[i], kernels/rope.h), held in fp32 — the form a GGUF file stores
// (rope_freqs.weight) — so one model read from config.json's rope_scaling and from a GGUF file
// computes the same table, bit for bit. model/rope_scaling.h computes them.
struct RopeScaling {
  enum class Kind { kNone, kLinear, kLlama3, kFreqFactors, kLongRope, kYarn };
  Kind kind = Kind::kNone;
  // Hugging Face's parameters (kLinear: factor; kLlama3: all four), kept to write them back.
  double factor = 1.0, low_freq_factor = 1.0, high_freq_factor = 4.0;
  int64_t original_max_positions = 0;
  // longrope (Phi-3): HF's two factor lists, kept to write them back; `divisors` holds the one
  // chosen by the fixed rule in rope_scaling.h.
  std::vector<double> short_factor, long_factor;
  // yarn: the ramp's rotation bounds and whether they are rounded outwards (HF's defaults
  // 32, 1, true), and whether config.json named original_max_position_embeddings (then factor
  // is the context ratio, as transformers recomputes it).
  double beta_fast = 32.0, beta_slow = 1.0;
  bool truncate = true, original_in_config = false;
  // Multiplies cos and sin (longrope, yarn; 1 otherwise): model/layer_spec.h applies it.
  double attention_factor = 1.0;
  std::vector<float> divisors;  // rotary_dim / 2 values; empty for kNone
};
// "none", "linear", "llama3", "rope_freqs", "longrope", "yarn" (defined in rope_scaling.cc)
std::string_view RopeScalingName(RopeScaling::Kind kind);

struct ModelConfig {
  Arch arch = Arch::kLlama;
  int64_t dim = 0;         // hidden size
  int64_t n_layers = 0;
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads (GQA when < n_heads)
  int64_t head_dim = 0;    // usually dim / n_heads (Qwen3 may differ)
  // The leading head_dim entries RoPE rotates (partial rotary: Phi-3's partial_rotary_factor,
  // GGUF rope.dimension_count); 0 means all of head_dim. RotaryDim() resolves it.
  int64_t rotary_dim = 0;
  int64_t ffn_dim = 0;     // SwiGLU hidden size
  int64_t vocab_size = 0;
  int64_t max_seq_len = 0;   // context length the file declares
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  RopeStyle rope_style = RopeStyle::kRotateHalf;  // which pairs the file's q/k rows rotate
  float norm_eps = 1e-5f;
  bool tied_embeddings = false;  // lm_head is the token embedding
  bool qkv_bias = false;         // Qwen2
  bool qk_norm = false;          // Qwen3 per-head RMSNorm of q and k
  // Mixture of experts (Qwen3-MoE, Mixtral: model/arch.h `moe`): every layer's FFN is
  // n_experts SwiGLU experts of expert_ffn_dim, of which a router picks n_experts_used per
  // token (docs/formats.md "Mixture of experts"). 0 experts: a dense FFN of ffn_dim. For
  // Qwen3-MoE ffn_dim is the config's (dense) intermediate_size, kept only to write it back.
  int64_t n_experts = 0, n_experts_used = 0, expert_ffn_dim = 0;
  // The chosen experts' probabilities are divided by their sum (Mixtral always; Qwen3-MoE's
  // norm_topk_prob).
  bool moe_renormalize = false;
  // Sliding-window attention (Mistral, Phi-3, Mixtral): a query at position p sees only the
  // keys at (p - sliding_window, p] (kernels/attention.h's window), in prefill, chunked
  // prefill, decode and re-scoring alike. 0 = none: every earlier key.
  int64_t sliding_window = 0;
  // Gemma 2 (ArchInfo::sliding_pattern: only its even layers slide). Soft caps c > 0 turn
  // attention scores / final logits x into c * tanh(x / c) (0 = none); attention scale is
  // query_pre_attn_scalar^-0.5 (0 = head_dim's, the default 1/sqrt(head_dim)).
  float attn_logit_softcap = 0.0f, final_logit_softcap = 0.0f;
  double query_pre_attn_scalar = 0.0;
  // Gemma 3: the RoPE base of the sliding (local) layers, which also take no rope_scaling;
  // 0 = every layer uses rope_theta and the scaling.
  double rope_local_theta = 0.0;

  bool IsMoe() const { return n_experts > 0; }

  int64_t RotaryDim() const { return rotary_dim > 0 ? rotary_dim : head_dim; }

  // Checks the numbers against each other (positive sizes, n_heads % n_kv_heads == 0, even
  // head_dim, ...). `source` names the file in messages.
  Status Validate(const std::string& source) const;
};

}  // namespace detinfer

#endif  // DETINFER_MODEL_CONFIG_H_
