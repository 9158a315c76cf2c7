// One place for what distinguishes the supported architectures: their names in each file format,
// the features each always has, the defaults a file may leave out, and the names of their
// tensors in Hugging Face and GGUF files. The config readers (hf_config.cc, gguf_loader.cc), the
// writers (hf_writer.cc, gguf_writer.cc), the tensor list (tensor_roles.cc), the loaders'
// assembly (tensor_source.cc) and `detinfer init` / `info` read this table; adding an
// architecture starts with one row here.
#ifndef DETINFER_MODEL_ARCH_H_
#define DETINFER_MODEL_ARCH_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kernels/rope.h"
#include "model/config.h"
#include "model/tensor_roles.h"

namespace detinfer {

struct ArchInfo {
  Arch arch;
  // detinfer's name: `init --arch`, `info`.
  std::string_view name;
  // GGUF's general.architecture (llama.cpp's: Mixtral files are "llama" with expert tensors,
  // Qwen3-MoE's "qwen3moe").
  std::string_view gguf_name;
  // What the Hugging Face writer puts in config.json ("architectures"[0], "model_type").
  std::string_view hf_architecture, hf_model_type;
  // The RoPE pair convention of q/k rows in this architecture's GGUF files (llama.cpp's
  // LLAMA_ROPE_TYPE_NORM is interleaved, NEOX is rotate-half); Hugging Face is always rotate-half.
  RopeStyle gguf_rope_style;
  // Features the architecture always has (transformers hard-codes them: Qwen2's q/k/v bias,
  // Qwen3's per-head q/k RMSNorm); a model of the arch without them (or with them where the arch
  // has none) is not representable in its files.
  bool qkv_bias, qk_norm;
  // The files store q/k/v as one [q | k | v] tensor and gate/up as one [gate | up] tensor
  // (Phi-3); the loaders split them into the separate views ModelWeights holds.
  bool fused_qkv, fused_gate_up;
  // RoPE may rotate only the leading rotary_dim entries of a head (Phi-3's
  // partial_rotary_factor, GGUF rope.dimension_count); other archs' attention rotates them all.
  bool partial_rotary;
  // config.json's head_dim when absent: 0 means hidden_size / num_attention_heads (Qwen3Config
  // defaults to 128 instead).
  int64_t hf_default_head_dim;
  // transformers' rms_norm_eps default for the architecture's config class.
  double hf_default_norm_eps;
  // `detinfer init` defaults (the family's released models).
  double init_theta;
  float init_norm_eps;
  std::string_view init_help;  // one phrase for --arch's help
  // Mixture of experts: every layer's FFN is routed experts (ModelConfig::n_experts > 0 always,
  // dense never). `moe_always_renormalize`: the chosen probabilities are always divided by
  // their sum (Mixtral); otherwise the config says (Qwen3-MoE's norm_topk_prob).
  bool moe, moe_always_renormalize;
  // Gemma 2: RMSNorm multiplies by (1 + w) (the files hold w; llama.cpp's GGUF holds 1 + w),
  // each layer also normalises its attention and FFN outputs (post norms) before the residual
  // adds, the MLP is GeGLU with the tanh GELU, the embedding is scaled by sqrt(dim) rounded to
  // its dtype, and the output head is always the token embedding.
  bool norm_plus_one, post_norms, gelu_tanh, scale_embedding, always_tied;
  // Layer l uses the sliding window iff sliding_pattern <= 1 or (l + 1) % sliding_pattern != 0
  // (Gemma 2: 2, local layers first; every layer of the others).
  int64_t sliding_pattern;
};

// Every supported architecture, in Arch order.
std::span<const ArchInfo> AllArchs();
const ArchInfo& GetArchInfo(Arch arch);
// By detinfer name; null when none has it.
const ArchInfo* FindArch(std::string_view name);
// By GGUF general.architecture: "llama" is Mixtral when the file declares experts
// (llama.expert_count > 0). Null when none has it.
const ArchInfo* FindGgufArch(std::string_view gguf_name, bool has_experts);
// "llama, qwen2, qwen3, phi3" for messages.
std::string ArchNameList();

// Sets the structural fields a new model of `arch` gets by default (`detinfer init` and
// `detinfer train`; c->head_dim must be set): arch, q/k/v biases, q/k norms, a tied head where
// the family always ties, and Gemma's released defaults (score and logit soft caps 50 / 30 and
// scale 1/sqrt(head_dim) for Gemma 2, a local window of 4096; Gemma 3: no caps, local RoPE base
// 10000). RoPE theta, eps and the expert fields are left to the caller.
void ApplyArchFeatures(const ArchInfo& arch, ModelConfig* c);

// A config.json "architectures" / "model_type" value that loads as one of the architectures.
// Mistral is the Llama architecture plus a sliding window; Phi-3, Mixtral and Gemma 2 (its
// local layers) declare one too.
struct HfArchName {
  std::string_view architecture, model_type;
  Arch arch;
  // transformers applies the config's sliding_window (ModelConfig::sliding_window); the other
  // classes ignore the key (Llama) or switch it off (Qwen2/3's use_sliding_window, refused when
  // true).
  bool sliding_window;
};
const HfArchName* FindHfArchitecture(std::string_view architecture);
const HfArchName* FindHfModelType(std::string_view model_type);
// The name the Hugging Face writer gives a model of `arch`: the arch's own, or with a sliding
// window the first class of that arch that applies one (a windowed llama is written as
// MistralForCausalLM); null when no class of the arch has a window.
const HfArchName* HfNameToWrite(Arch arch, bool sliding_window);
// "LlamaForCausalLM, MistralForCausalLM, ..." for messages.
std::string HfArchitectureList();

// The name of (role, layer) in this architecture's Hugging Face / GGUF files (layer -1 for the
// global tensors). kQkv / kGateUp name the fused tensors of fused_qkv / fused_gate_up archs.
std::string HfTensorName(Arch arch, TensorRole role, int64_t layer);
std::string GgufTensorName(Arch arch, TensorRole role, int64_t layer);
// The Hugging Face name of one expert's matrix of a stacked expert role (kExpertsGate / Up /
// Down): Qwen3-MoE "model.layers.L.mlp.experts.E.gate_proj.weight", Mixtral
// "model.layers.L.block_sparse_moe.experts.E.w1.weight" (w1 gate, w3 up, w2 down). GGUF holds
// each role as one stacked tensor (GgufTensorName: blk.L.ffn_gate_exps.weight, ...).
std::string HfExpertTensorName(Arch arch, TensorRole role, int64_t layer, int64_t expert);
// The per-expert GGUF name of early Mixtral files (llama.cpp's LLM_TENSOR_FFN_*_EXP, before
// the stacked ffn_*_exps): "blk.L.ffn_gate.E.weight", "blk.L.ffn_up.E.weight",
// "blk.L.ffn_down.E.weight", each one expert's [rows, cols] matrix. The GGUF loader stacks them
// (model/tensor_source.h); detinfer's writer writes them only when asked (GgufWriteOptions).
std::string GgufExpertTensorName(Arch arch, TensorRole role, int64_t layer, int64_t expert);

}  // namespace detinfer

#endif  // DETINFER_MODEL_ARCH_H_
