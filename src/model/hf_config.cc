// config.json parsing for hf_loader.h (kept apart from the tensor plumbing).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "core/json_depth.h"
#include "model/arch.h"
#include "model/hf_loader.h"
#include "model/rope_scaling.h"

namespace detinfer {

namespace {

using json = nlohmann::json;

// Config integers are bounded by INT32_MAX (as llama.cpp's are) so that products of two of
// them, e.g. n_heads * head_dim, cannot overflow int64 anywhere later.
Status GetInt(const json& cfg, const char* key, const std::string& src, bool required,
              int64_t* out) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) {
    if (required) return Status::InvalidArgument(src + ": missing field \"" + key + "\"");
    return Status::Ok();
  }
  if (!it->is_number_integer() ||
      (it->is_number_unsigned() && it->get<uint64_t>() > INT32_MAX) ||
      (!it->is_number_unsigned() && (it->get<int64_t>() > INT32_MAX ||
                                     it->get<int64_t>() < INT32_MIN))) {
    return Status::InvalidArgument(src + ": field \"" + key + "\" must be an integer in int32 "
                                   "range, got " + it->dump());
  }
  *out = it->get<int64_t>();
  return Status::Ok();
}

Status GetDouble(const json& cfg, const char* key, const std::string& src, double* out) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return Status::Ok();
  if (!it->is_number()) {
    return Status::InvalidArgument(src + ": field \"" + key + "\" must be a number, got " +
                                   it->dump());
  }
  *out = it->get<double>();
  return Status::Ok();
}

Status GetBool(const json& cfg, const char* key, const std::string& src, bool* out) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return Status::Ok();
  if (!it->is_boolean()) {
    return Status::InvalidArgument(src + ": field \"" + key + "\" must be true or false, got " +
                                   it->dump());
  }
  *out = it->get<bool>();
  return Status::Ok();
}

// The HF name the config declares ("architectures"[0], else "model_type").
Result<const HfArchName*> ParseArch(const json& cfg, const std::string& src) {
  auto arch = cfg.find("architectures");
  if (arch != cfg.end() && !arch->is_null()) {
    if (!arch->is_array() || arch->empty() || !(*arch)[0].is_string()) {
      return Status::InvalidArgument(src + ": field \"architectures\" must be a non-empty "
                                     "array of strings, got " + arch->dump());
    }
    const std::string name = (*arch)[0].get<std::string>();
    if (const HfArchName* n = FindHfArchitecture(name)) return n;
    return Status::Unsupported(src + ": architecture '" + name + "' is not supported (" +
                               HfArchitectureList() + ")");
  }
  auto type = cfg.find("model_type");
  if (type == cfg.end() || !type->is_string()) {
    return Status::InvalidArgument(src + ": missing field \"architectures\" (and no "
                                   "\"model_type\")");
  }
  const std::string name = type->get<std::string>();
  if (const HfArchName* n = FindHfModelType(name)) return n;
  return Status::Unsupported(src + ": model_type '" + name + "' is not supported");
}

// The experts as MixtralConfig / Qwen3MoeConfig read them, with their defaults. What detinfer
// does not implement is refused by name: Qwen3-MoE layers with a dense MLP (decoder_sparse_step
// other than 1, mlp_only_layers) and shared experts (Qwen2-MoE's).
Status ParseMoe(const json& cfg, const std::string& src, ModelConfig* c) {
  const bool mixtral = c->arch == Arch::kMixtral;
  const char* count_key = mixtral ? "num_local_experts" : "num_experts";
  c->n_experts = mixtral ? 8 : 128;
  c->n_experts_used = mixtral ? 2 : 8;
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, count_key, src, false, &c->n_experts));
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "num_experts_per_tok", src, false, &c->n_experts_used));
  if (c->n_experts <= 0) {
    return Status::InvalidArgument(src + ": field \"" + count_key + "\" must be positive, got " +
                                   std::to_string(c->n_experts));
  }
  if (c->n_experts_used <= 0 || c->n_experts_used > c->n_experts) {
    return Status::InvalidArgument(src + ": field \"num_experts_per_tok\" " +
                                   std::to_string(c->n_experts_used) + " must be in [1, " +
                                   count_key + " = " + std::to_string(c->n_experts) + "]");
  }
  for (const char* key : {"shared_expert_intermediate_size", "num_shared_experts",
                          "n_shared_experts"}) {
    if (cfg.contains(key) && !cfg[key].is_null() && cfg[key] != 0) {
      return Status::Unsupported(src + ": field \"" + key + "\": shared experts (Qwen2-MoE's) "
                                 "are not supported");
    }
  }
  if (mixtral) {
    c->expert_ffn_dim = c->ffn_dim;  // MixtralConfig: intermediate_size is each expert's
    c->moe_renormalize = true;
    return Status::Ok();
  }
  c->expert_ffn_dim = 768;
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "moe_intermediate_size", src, false, &c->expert_ffn_dim));
  c->moe_renormalize = false;  // Qwen3MoeConfig's default
  DETINFER_RETURN_IF_ERROR(GetBool(cfg, "norm_topk_prob", src, &c->moe_renormalize));
  int64_t step = 1;
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "decoder_sparse_step", src, false, &step));
  if (step != 1) {
    return Status::Unsupported(src + ": field \"decoder_sparse_step\" " + std::to_string(step) +
                               " (dense MLP layers between the sparse ones) is not supported; "
                               "every layer must be sparse (1)");
  }
  if (auto it = cfg.find("mlp_only_layers"); it != cfg.end() && !it->is_null()) {
    if (!it->is_array() || !it->empty()) {
      return Status::Unsupported(src + ": field \"mlp_only_layers\" " + it->dump() +
                                 " (dense MLP layers) is not supported; it must be empty");
    }
  }
  return Status::Ok();
}

// Gemma2Config / Gemma3TextConfig: soft caps (null = none), query_pre_attn_scalar, the sliding
// window of the local layers (Gemma 2: the even ones; Gemma 3: all but every sixth; a
// layer_types list must say the same), Gemma 3's local RoPE base.
Status ParseGemma(const json& cfg, const std::string& src, ModelConfig* c) {
  const bool gemma3 = c->arch == Arch::kGemma3;
  // Gemma 3's caps default to none.
  double attn_cap = gemma3 ? 0.0 : 50.0, final_cap = gemma3 ? 0.0 : 30.0, qpas = 256.0;
  const auto cap = [&](const char* key, double* v) -> Status {
    if (auto it = cfg.find(key); it != cfg.end() && it->is_null()) {
      *v = 0.0;  // explicitly none
      return Status::Ok();
    }
    if (!cfg.contains(key)) return Status::Ok();  // the class's default
    DETINFER_RETURN_IF_ERROR(GetDouble(cfg, key, src, v));
    if (!(*v > 0.0) || !std::isfinite(*v)) {
      return Status::InvalidArgument(src + ": " + key + " must be positive (or null for none), "
                                     "got " + std::to_string(*v));
    }
    return Status::Ok();
  };
  DETINFER_RETURN_IF_ERROR(cap("attn_logit_softcapping", &attn_cap));
  DETINFER_RETURN_IF_ERROR(cap("final_logit_softcapping", &final_cap));
  DETINFER_RETURN_IF_ERROR(GetDouble(cfg, "query_pre_attn_scalar", src, &qpas));
  if (!(qpas > 0.0) || !std::isfinite(qpas)) {
    return Status::InvalidArgument(src + ": query_pre_attn_scalar must be positive, got " +
                                   std::to_string(qpas));
  }
  c->attn_logit_softcap = static_cast<float>(attn_cap);
  c->final_logit_softcap = static_cast<float>(final_cap);
  c->query_pre_attn_scalar = qpas;
  if (!cfg.contains("sliding_window")) c->sliding_window = 4096;  // both classes' default
  const int64_t pattern = GetArchInfo(c->arch).sliding_pattern;
  if (gemma3) {
    c->rope_local_theta = 10000.0;  // Gemma3TextConfig's rope_local_base_freq
    DETINFER_RETURN_IF_ERROR(GetDouble(cfg, "rope_local_base_freq", src, &c->rope_local_theta));
    if (!(c->rope_local_theta > 0.0) || !std::isfinite(c->rope_local_theta)) {
      return Status::InvalidArgument(src + ": rope_local_base_freq must be positive, got " +
                                     std::to_string(c->rope_local_theta));
    }
    int64_t declared = pattern;
    DETINFER_RETURN_IF_ERROR(GetInt(cfg, "sliding_window_pattern", src, false, &declared));
    if (declared != pattern) {
      return Status::Unsupported(src + ": sliding_window_pattern " + std::to_string(declared) +
                                 " is not supported (gemma3: " + std::to_string(pattern) + ")");
    }
  }
  if (auto lt = cfg.find("layer_types"); lt != cfg.end() && !lt->is_null()) {
    if (!lt->is_array() || static_cast<int64_t>(lt->size()) != c->n_layers) {
      return Status::InvalidArgument(src + ": layer_types must list num_hidden_layers (" +
                                     std::to_string(c->n_layers) + ") entries, got " + lt->dump());
    }
    for (int64_t l = 0; l < c->n_layers; ++l) {
      const bool slides = (l + 1) % pattern != 0;
      const std::string want = slides ? "sliding_attention" : "full_attention";
      if ((*lt)[static_cast<size_t>(l)] != want) {
        return Status::Unsupported(src + ": layer_types[" + std::to_string(l) + "] is " +
                                   (*lt)[static_cast<size_t>(l)].dump() + "; detinfer's " +
                                   std::string(ArchName(c->arch)) + " has full attention on "
                                   "every " + std::to_string(pattern) + "th layer only");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<ModelConfig> ParseHfConfig(std::string_view json_text, const std::string& src) {
  DETINFER_RETURN_IF_ERROR(CheckJsonDepth(json_text, kMaxJsonDepth, src));
  const json cfg = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (cfg.is_discarded() || !cfg.is_object()) {
    return Status::InvalidArgument(src + ": not a JSON object (malformed config.json)");
  }
  ModelConfig c;
  DETINFER_ASSIGN_OR_RETURN(const HfArchName* hf_name, ParseArch(cfg, src));
  c.arch = hf_name->arch;
  const ArchInfo& info = GetArchInfo(c.arch);
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "hidden_size", src, true, &c.dim));
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "num_hidden_layers", src, true, &c.n_layers));
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "num_attention_heads", src, true, &c.n_heads));
  c.n_kv_heads = c.n_heads;  // HF's default: no GQA
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "num_key_value_heads", src, false, &c.n_kv_heads));
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "intermediate_size", src, true, &c.ffn_dim));
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "vocab_size", src, true, &c.vocab_size));
  DETINFER_RETURN_IF_ERROR(GetInt(cfg, "max_position_embeddings", src, true, &c.max_seq_len));
  if (c.n_heads <= 0) {
    return Status::InvalidArgument(src + ": num_attention_heads must be positive, got " +
                                   std::to_string(c.n_heads));
  }
  if (auto hd = cfg.find("head_dim"); hd != cfg.end() && !hd->is_null()) {
    DETINFER_RETURN_IF_ERROR(GetInt(cfg, "head_dim", src, true, &c.head_dim));
  } else if (info.hf_default_head_dim > 0) {
    c.head_dim = info.hf_default_head_dim;  // Qwen3Config's 128, not hidden_size / heads
  } else {
    if (c.dim % c.n_heads != 0) {
      return Status::InvalidArgument(src + ": hidden_size " + std::to_string(c.dim) +
                                     " is not a multiple of num_attention_heads " +
                                     std::to_string(c.n_heads) + " (and no head_dim)");
    }
    c.head_dim = c.dim / c.n_heads;
  }
  // Partial rotary: Phi3Config's partial_rotary_factor (Phi-4-mini: 0.75) rotates the first
  // int(head_dim * factor) entries of each head. The other architectures' attention rotates
  // all of head_dim whatever the config says, so there it must be absent or 1.
  if (auto pr = cfg.find("partial_rotary_factor"); pr != cfg.end() && !pr->is_null()) {
    double factor = 1.0;
    DETINFER_RETURN_IF_ERROR(GetDouble(cfg, "partial_rotary_factor", src, &factor));
    if (!(factor > 0.0 && factor <= 1.0)) {
      return Status::InvalidArgument(src + ": partial_rotary_factor must be in (0, 1], got " +
                                     pr->dump());
    }
    if (factor != 1.0 && !info.partial_rotary) {
      return Status::Unsupported(src + ": partial_rotary_factor " + pr->dump() +
                                 " is not supported for " + std::string(info.name));
    }
    c.rotary_dim = static_cast<int64_t>(double(c.head_dim) * factor);  // int() as Phi3Config
    if (c.rotary_dim <= 0 || c.rotary_dim % 2 != 0) {
      return Status::InvalidArgument(src + ": partial_rotary_factor " + pr->dump() +
                                     " gives rotary dim " + std::to_string(c.rotary_dim) +
                                     " of head_dim " + std::to_string(c.head_dim) +
                                     " (must be even and positive)");
    }
    if (c.rotary_dim == c.head_dim) c.rotary_dim = 0;
  }
  // Phi-3's longrope reads the pre-training context from the top level.
  int64_t original_max = 0;
  DETINFER_RETURN_IF_ERROR(
      GetInt(cfg, "original_max_position_embeddings", src, false, &original_max));
  if (cfg.contains("original_max_position_embeddings") && original_max <= 0) {
    return Status::InvalidArgument(src + ": original_max_position_embeddings must be positive, "
                                   "got " + std::to_string(original_max));
  }
  // RoPE: a top-level rope_theta / rope_scaling, or (newer transformers) one "rope_parameters"
  // object holding rope_theta and rope_type. Both layouts are read, a scaling in either the same
  // way (rope_scaling.h: supported kinds, others refused by name), and two thetas that disagree
  // are an error.
  // MixtralConfig's and Gemma3TextConfig's default is 1e6.
  c.rope_theta = c.arch == Arch::kMixtral || c.arch == Arch::kGemma3 ? 1e6 : 10000.0;
  DETINFER_RETURN_IF_ERROR(GetDouble(cfg, "rope_theta", src, &c.rope_theta));
  if (auto rp = cfg.find("rope_parameters"); rp != cfg.end() && !rp->is_null()) {
    if (!rp->is_object()) {
      return Status::InvalidArgument(src + ": rope_parameters must be an object, got " + rp->dump());
    }
    double theta = c.rope_theta;
    DETINFER_RETURN_IF_ERROR(GetDouble(*rp, "rope_theta", src + " rope_parameters", &theta));
    if (cfg.contains("rope_theta") && theta != c.rope_theta) {
      return Status::InvalidArgument(src + ": rope_theta " + cfg["rope_theta"].dump() +
                                     " and rope_parameters.rope_theta " + (*rp)["rope_theta"].dump() +
                                     " disagree");
    }
    c.rope_theta = theta;
    nlohmann::json scaling = *rp;
    scaling.erase("rope_theta");
    if (!scaling.empty()) {
      DETINFER_ASSIGN_OR_RETURN(c.rope_scaling,
                                ParseHfRopeScaling(scaling, c.RotaryDim(), c.rope_theta,
                                                   src + " rope_parameters", c.max_seq_len,
                                                   original_max));
    }
  }
  if (auto scaling = cfg.find("rope_scaling"); scaling != cfg.end() && !scaling->is_null()) {
    if (c.rope_scaling.kind != RopeScaling::Kind::kNone) {
      return Status::InvalidArgument(src + ": both rope_scaling and rope_parameters declare a "
                                     "RoPE scaling");
    }
    DETINFER_ASSIGN_OR_RETURN(c.rope_scaling,
                              ParseHfRopeScaling(*scaling, c.RotaryDim(), c.rope_theta,
                                                 src + " rope_scaling", c.max_seq_len,
                                                 original_max));
  }
  double eps = info.hf_default_norm_eps;  // the transformers config class's default
  DETINFER_RETURN_IF_ERROR(GetDouble(cfg, "rms_norm_eps", src, &eps));
  c.norm_eps = static_cast<float>(eps);
  c.tied_embeddings = info.always_tied;  // PretrainedConfig's default is true; Gemma2's too
  DETINFER_RETURN_IF_ERROR(GetBool(cfg, "tie_word_embeddings", src, &c.tied_embeddings));
  if (info.always_tied && !c.tied_embeddings) {
    return Status::Unsupported(src + ": tie_word_embeddings = false is not supported for " +
                               std::string(info.name) + " (its head is the embedding)");
  }
  c.rope_style = RopeStyle::kRotateHalf;
  c.qk_norm = info.qk_norm;

  // Qwen2's q/k/v projections always carry a bias in transformers, whatever attention_bias says
  // (Qwen2Attention hard-codes bias=True); Llama and Qwen3 put one on all four projections when
  // attention_bias is set, and o_proj biases are not implemented.
  bool attention_bias = false;
  DETINFER_RETURN_IF_ERROR(GetBool(cfg, "attention_bias", src, &attention_bias));
  if (attention_bias && !info.qkv_bias) {
    return Status::Unsupported(src + ": attention_bias = true (an o_proj bias) is not supported "
                               "for " + std::string(ArchName(c.arch)));
  }
  c.qkv_bias = info.qkv_bias;
  bool flag = false;
  DETINFER_RETURN_IF_ERROR(GetBool(cfg, "mlp_bias", src, &flag));
  if (flag) return Status::Unsupported(src + ": mlp_bias = true is not supported");
  flag = false;
  DETINFER_RETURN_IF_ERROR(GetBool(cfg, "use_sliding_window", src, &flag));
  if (flag) return Status::Unsupported(src + ": use_sliding_window = true is not supported");
  // Mistral's, Phi-3's and Mixtral's sliding window: a key is seen only by the next
  // `sliding_window` queries (Mistral-7B-v0.1: 4096; v0.2+ and Nemo declare none;
  // Phi-3-mini-4k: 2047), as transformers' sliding-window causal mask (kv > q - window). Qwen
  // configs carry a sliding_window that use_sliding_window (false above) switches off; Llama's
  // class ignores the key.
  if (hf_name->sliding_window) {
    int64_t window = 0;
    DETINFER_RETURN_IF_ERROR(GetInt(cfg, "sliding_window", src, false, &window));
    if (cfg.contains("sliding_window") && !cfg["sliding_window"].is_null()) {
      if (window <= 0) {
        return Status::InvalidArgument(src + ": sliding_window must be positive, got " +
                                       std::to_string(window));
      }
      c.sliding_window = window;
    }
  }
  // longrope's factors are chosen by the context detinfer runs.
  if (c.rope_scaling.kind == RopeScaling::Kind::kLongRope) {
    DETINFER_RETURN_IF_ERROR(
        ComputeRopeDivisors(c.RotaryDim(), c.rope_theta, &c.rope_scaling, c.max_seq_len));
  }
  // The MLP activation: SiLU (SwiGLU), or for Gemma 2 the tanh GELU (GeGLU); Gemma2Config
  // reads hidden_activation, older files say hidden_act, both are checked.
  const std::string want_act = info.gelu_tanh ? "gelu_pytorch_tanh" : "silu";
  for (const char* key : {"hidden_act", "hidden_activation"}) {
    auto act = cfg.find(key);
    if (act == cfg.end() || act->is_null()) continue;
    if (std::string(key) == "hidden_activation" && !info.gelu_tanh) continue;  // not read
    if (!(act->is_string() && act->get<std::string>() == want_act)) {
      return Status::Unsupported(src + ": " + key + " " + act->dump() + " is not supported for " +
                                 std::string(info.name) + " (only \"" + want_act + "\")");
    }
  }
  if (info.post_norms) DETINFER_RETURN_IF_ERROR(ParseGemma(cfg, src, &c));
  if (info.moe) DETINFER_RETURN_IF_ERROR(ParseMoe(cfg, src, &c));
  DETINFER_RETURN_IF_ERROR(c.Validate(src));
  if (!(c.norm_eps > 0) || !std::isfinite(c.rope_theta)) {
    return Status::InvalidArgument(src + ": rms_norm_eps " + std::to_string(eps) +
                                   " / rope_theta " + std::to_string(c.rope_theta) +
                                   " out of range");
  }
  return c;
}

}  // namespace detinfer
