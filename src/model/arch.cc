#include "model/arch.h"

namespace detinfer {

namespace {

// In Arch order (GetArchInfo indexes it).
constexpr ArchInfo kArchs[] = {
    {Arch::kLlama, "llama", "llama", "LlamaForCausalLM", "llama", RopeStyle::kInterleaved,
     /*qkv_bias=*/false, /*qk_norm=*/false, /*fused_qkv=*/false, /*fused_gate_up=*/false,
     /*partial_rotary=*/false, /*hf_default_head_dim=*/0, /*hf_default_norm_eps=*/1e-6, /*init_theta=*/10000.0,
     /*init_norm_eps=*/1e-5f, "llama", /*moe=*/false, /*moe_always_renormalize=*/false,
     /*norm_plus_one=*/false, /*post_norms=*/false, /*gelu_tanh=*/false,
     /*scale_embedding=*/false, /*always_tied=*/false, /*sliding_pattern=*/1},
    {Arch::kQwen2, "qwen2", "qwen2", "Qwen2ForCausalLM", "qwen2", RopeStyle::kRotateHalf, true,
     false, false, false, false, 0, 1e-6, 1000000.0, 1e-6f, "qwen2 (q/k/v bias)", false, false,
     false, false, false, false, false, 1},
    {Arch::kQwen3, "qwen3", "qwen3", "Qwen3ForCausalLM", "qwen3", RopeStyle::kRotateHalf, false,
     true, false, false, false, 128, 1e-6, 1000000.0, 1e-6f, "qwen3 (q/k norm)", false, false,
     false, false, false, false, false, 1},
    {Arch::kPhi3, "phi3", "phi3", "Phi3ForCausalLM", "phi3", RopeStyle::kRotateHalf, false, false,
     true, true, true, 0, 1e-5, 10000.0, 1e-5f, "phi3 (fused qkv and gate_up)", false, false,
     false, false, false, false, false, 1},
    {Arch::kQwen3Moe, "qwen3_moe", "qwen3moe", "Qwen3MoeForCausalLM", "qwen3_moe",
     RopeStyle::kRotateHalf, false, true, false, false, false, 0, 1e-6, 1000000.0, 1e-6f,
     "qwen3_moe (q/k norm, routed experts)", true, false, false, false, false, false, false, 1},
    {Arch::kMixtral, "mixtral", "llama", "MixtralForCausalLM", "mixtral",
     RopeStyle::kInterleaved, false, false, false, false, false, 0, 1e-5, 1000000.0, 1e-5f,
     "mixtral (routed experts, top-k renormalised)", true, true, false, false, false, false,
     false, 1},
    {Arch::kGemma2, "gemma2", "gemma2", "Gemma2ForCausalLM", "gemma2", RopeStyle::kRotateHalf,
     false, false, false, false, false, /*hf_default_head_dim=*/256, 1e-6, 10000.0, 1e-6f,
     "gemma2 (GeGLU, (1 + w) and post norms, soft caps, local/global layers)", false, false,
     /*norm_plus_one=*/true, /*post_norms=*/true, /*gelu_tanh=*/true, /*scale_embedding=*/true,
     /*always_tied=*/true, /*sliding_pattern=*/2},
    // Gemma 3 (text): Gemma 2's layer plus (1 + w) q/k norms, five local layers to one global,
    // the local ones with their own RoPE base (ModelConfig::rope_local_theta).
    {Arch::kGemma3, "gemma3", "gemma3", "Gemma3ForCausalLM", "gemma3_text",
     RopeStyle::kRotateHalf, false, /*qk_norm=*/true, false, false, false,
     /*hf_default_head_dim=*/256, 1e-6, 1000000.0, 1e-6f,
     "gemma3 (gemma2's layer, q/k norms, 5 local : 1 global, local RoPE base)", false, false,
     true, true, true, true, true, /*sliding_pattern=*/6},
};

constexpr HfArchName kHfNames[] = {
    {"LlamaForCausalLM", "llama", Arch::kLlama, false},
    {"MistralForCausalLM", "mistral", Arch::kLlama, true},
    {"Qwen2ForCausalLM", "qwen2", Arch::kQwen2, false},
    {"Qwen3ForCausalLM", "qwen3", Arch::kQwen3, false},
    {"Phi3ForCausalLM", "phi3", Arch::kPhi3, true},
    {"Qwen3MoeForCausalLM", "qwen3_moe", Arch::kQwen3Moe, false},
    {"MixtralForCausalLM", "mixtral", Arch::kMixtral, true},
    {"Gemma2ForCausalLM", "gemma2", Arch::kGemma2, true},
    {"Gemma3ForCausalLM", "gemma3_text", Arch::kGemma3, true},
};

}  // namespace

std::span<const ArchInfo> AllArchs() { return kArchs; }

const ArchInfo& GetArchInfo(Arch arch) { return kArchs[static_cast<size_t>(arch)]; }

std::string_view ArchName(Arch arch) { return GetArchInfo(arch).name; }

const ArchInfo* FindArch(std::string_view name) {
  for (const ArchInfo& a : kArchs) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

const ArchInfo* FindGgufArch(std::string_view gguf_name, bool has_experts) {
  for (const ArchInfo& a : kArchs) {
    if (a.gguf_name != gguf_name) continue;
    // Two archs share "llama": the experts decide.
    if (gguf_name == "llama" && a.moe != has_experts) continue;
    return &a;
  }
  return nullptr;
}

std::string ArchNameList() {
  std::string s;
  for (const ArchInfo& a : kArchs) {
    if (!s.empty()) s += ", ";
    s += a.name;
  }
  return s;
}

void ApplyArchFeatures(const ArchInfo& arch, ModelConfig* c) {
  c->arch = arch.arch;
  c->tied_embeddings = c->tied_embeddings || arch.always_tied;
  c->qkv_bias = arch.qkv_bias;
  c->qk_norm = arch.qk_norm;
  if (arch.post_norms) {
    c->attn_logit_softcap = 50.0f;
    c->final_logit_softcap = 30.0f;
    c->query_pre_attn_scalar = static_cast<double>(c->head_dim);
    c->sliding_window = 4096;
    if (c->arch == Arch::kGemma3) {
      c->attn_logit_softcap = 0.0f;
      c->final_logit_softcap = 0.0f;
      c->rope_local_theta = 10000.0;
    }
  }
}

const HfArchName* FindHfArchitecture(std::string_view architecture) {
  for (const HfArchName& n : kHfNames) {
    if (n.architecture == architecture) return &n;
  }
  return nullptr;
}

const HfArchName* FindHfModelType(std::string_view model_type) {
  for (const HfArchName& n : kHfNames) {
    if (n.model_type == model_type) return &n;
  }
  return nullptr;
}

const HfArchName* HfNameToWrite(Arch arch, bool sliding_window) {
  for (const HfArchName& n : kHfNames) {
    if (n.arch != arch) continue;
    if (!sliding_window && n.architecture == GetArchInfo(arch).hf_architecture) return &n;
    if (sliding_window && n.sliding_window) return &n;
  }
  return nullptr;
}

std::string HfArchitectureList() {
  std::string s;
  for (const HfArchName& n : kHfNames) {
    if (!s.empty()) s += ", ";
    s += n.architecture;
  }
  return s;
}

std::string HfExpertTensorName(Arch arch, TensorRole role, int64_t layer, int64_t expert) {
  const bool mixtral = arch == Arch::kMixtral;
  std::string p = "model.layers.";
  p += std::to_string(layer);
  p += mixtral ? ".block_sparse_moe.experts." : ".mlp.experts.";
  p += std::to_string(expert);
  p += ".";
  switch (role) {
    case TensorRole::kExpertsGate: return p + (mixtral ? "w1.weight" : "gate_proj.weight");
    case TensorRole::kExpertsUp: return p + (mixtral ? "w3.weight" : "up_proj.weight");
    case TensorRole::kExpertsDown: return p + (mixtral ? "w2.weight" : "down_proj.weight");
    default: break;
  }
  return p + "?";
}

std::string HfTensorName(Arch arch, TensorRole role, int64_t layer) {
  std::string p = "model.layers.";
  p += std::to_string(layer);
  p += ".";
  const char* leaf = "?";
  switch (role) {
    case TensorRole::kTokenEmbedding: return "model.embed_tokens.weight";
    case TensorRole::kFinalNorm: return "model.norm.weight";
    case TensorRole::kLmHead: return "lm_head.weight";
    case TensorRole::kAttnNorm: leaf = "input_layernorm.weight"; break;
    case TensorRole::kWq: leaf = "self_attn.q_proj.weight"; break;
    case TensorRole::kWk: leaf = "self_attn.k_proj.weight"; break;
    case TensorRole::kWv: leaf = "self_attn.v_proj.weight"; break;
    case TensorRole::kWo: leaf = "self_attn.o_proj.weight"; break;
    case TensorRole::kBq: leaf = "self_attn.q_proj.bias"; break;
    case TensorRole::kBk: leaf = "self_attn.k_proj.bias"; break;
    case TensorRole::kBv: leaf = "self_attn.v_proj.bias"; break;
    case TensorRole::kQNorm: leaf = "self_attn.q_norm.weight"; break;
    case TensorRole::kKNorm: leaf = "self_attn.k_norm.weight"; break;
    // Gemma 2's post_attention_layernorm is the attention output's norm; its FFN input norm is
    // pre_feedforward_layernorm.
    case TensorRole::kFfnNorm:
      leaf = GetArchInfo(arch).post_norms ? "pre_feedforward_layernorm.weight"
                                          : "post_attention_layernorm.weight";
      break;
    case TensorRole::kPostAttnNorm: leaf = "post_attention_layernorm.weight"; break;
    case TensorRole::kPostFfnNorm: leaf = "post_feedforward_layernorm.weight"; break;
    case TensorRole::kGate: leaf = "mlp.gate_proj.weight"; break;
    case TensorRole::kUp: leaf = "mlp.up_proj.weight"; break;
    case TensorRole::kDown: leaf = "mlp.down_proj.weight"; break;
    case TensorRole::kQkv: leaf = "self_attn.qkv_proj.weight"; break;  // Phi-3
    case TensorRole::kGateUp: leaf = "mlp.gate_up_proj.weight"; break;  // Phi-3
    case TensorRole::kRouter:
      leaf = arch == Arch::kMixtral ? "block_sparse_moe.gate.weight" : "mlp.gate.weight";
      break;
    // Stacked: one tensor per expert (HfExpertTensorName); this names the set in messages.
    case TensorRole::kExpertsGate:
    case TensorRole::kExpertsUp:
    case TensorRole::kExpertsDown: return HfExpertTensorName(arch, role, layer, 0) + " ...";
  }
  return p + leaf;
}

std::string GgufTensorName(Arch /*arch*/, TensorRole role, int64_t layer) {
  std::string p = "blk.";
  p += std::to_string(layer);
  p += ".";
  const char* leaf = "?";
  switch (role) {
    case TensorRole::kTokenEmbedding: return "token_embd.weight";
    case TensorRole::kFinalNorm: return "output_norm.weight";
    case TensorRole::kLmHead: return "output.weight";
    case TensorRole::kAttnNorm: leaf = "attn_norm.weight"; break;
    case TensorRole::kWq: leaf = "attn_q.weight"; break;
    case TensorRole::kWk: leaf = "attn_k.weight"; break;
    case TensorRole::kWv: leaf = "attn_v.weight"; break;
    case TensorRole::kWo: leaf = "attn_output.weight"; break;
    case TensorRole::kBq: leaf = "attn_q.bias"; break;
    case TensorRole::kBk: leaf = "attn_k.bias"; break;
    case TensorRole::kBv: leaf = "attn_v.bias"; break;
    case TensorRole::kQNorm: leaf = "attn_q_norm.weight"; break;
    case TensorRole::kKNorm: leaf = "attn_k_norm.weight"; break;
    case TensorRole::kFfnNorm: leaf = "ffn_norm.weight"; break;
    case TensorRole::kPostAttnNorm: leaf = "post_attention_norm.weight"; break;  // llama.cpp's
    case TensorRole::kPostFfnNorm: leaf = "post_ffw_norm.weight"; break;
    case TensorRole::kGate: leaf = "ffn_gate.weight"; break;
    case TensorRole::kUp: leaf = "ffn_up.weight"; break;
    case TensorRole::kDown: leaf = "ffn_down.weight"; break;
    case TensorRole::kQkv: leaf = "attn_qkv.weight"; break;
    // llama.cpp's phi3 keeps [gate | up] in ffn_up (2 * n_ff rows) and has no ffn_gate.
    case TensorRole::kGateUp: leaf = "ffn_up.weight"; break;
    // llama.cpp's expert tensors: the router, and each matrix of every expert stacked into one
    // [n_experts, rows, cols] tensor (GGUF dims [cols, rows, n_experts]).
    case TensorRole::kRouter: leaf = "ffn_gate_inp.weight"; break;
    case TensorRole::kExpertsGate: leaf = "ffn_gate_exps.weight"; break;
    case TensorRole::kExpertsUp: leaf = "ffn_up_exps.weight"; break;
    case TensorRole::kExpertsDown: leaf = "ffn_down_exps.weight"; break;
  }
  return p + leaf;
}

std::string GgufExpertTensorName(Arch /*arch*/, TensorRole role, int64_t layer, int64_t expert) {
  std::string p = "blk.";
  p += std::to_string(layer);
  switch (role) {
    case TensorRole::kExpertsGate: p += ".ffn_gate."; break;
    case TensorRole::kExpertsUp: p += ".ffn_up."; break;
    case TensorRole::kExpertsDown: p += ".ffn_down."; break;
    default: p += ".?."; break;
  }
  p += std::to_string(expert);
  return p + ".weight";
}

}  // namespace detinfer
