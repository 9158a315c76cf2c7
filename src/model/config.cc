#include "model/config.h"

#include <cmath>
#include <utility>

namespace detinfer {

Status ModelConfig::Validate(const std::string& source) const {
  auto bad = [&](const std::string& what) {
    return Status::InvalidArgument(source + ": " + what);
  };
  auto positive = [&](const char* name, int64_t v) -> Status {
    if (v <= 0) return bad(std::string(name) + " must be positive, got " + std::to_string(v));
    return Status::Ok();
  };
  DETINFER_RETURN_IF_ERROR(positive("dim", dim));
  DETINFER_RETURN_IF_ERROR(positive("n_layers", n_layers));
  DETINFER_RETURN_IF_ERROR(positive("n_heads", n_heads));
  DETINFER_RETURN_IF_ERROR(positive("n_kv_heads", n_kv_heads));
  DETINFER_RETURN_IF_ERROR(positive("head_dim", head_dim));
  DETINFER_RETURN_IF_ERROR(positive("ffn_dim", ffn_dim));
  DETINFER_RETURN_IF_ERROR(positive("vocab_size", vocab_size));
  DETINFER_RETURN_IF_ERROR(positive("max_seq_len", max_seq_len));
  if (n_heads % n_kv_heads != 0) {
    return bad("n_heads (" + std::to_string(n_heads) + ") is not a multiple of n_kv_heads (" +
               std::to_string(n_kv_heads) + ")");
  }
  if (head_dim % 2 != 0) return bad("head_dim must be even for RoPE, got " + std::to_string(head_dim));
  if (rotary_dim < 0 || rotary_dim > head_dim || rotary_dim % 2 != 0) {
    return bad("rotary_dim must be even and in [0, head_dim = " + std::to_string(head_dim) +
               "], got " + std::to_string(rotary_dim));
  }
  // Partial rotary is defined for rotate-half pairs only (Phi-3); the interleaved files that
  // carry it would need their own row order.
  if (RotaryDim() != head_dim && rope_style != RopeStyle::kRotateHalf) {
    return bad("partial rotary (rotary_dim " + std::to_string(rotary_dim) +
               " < head_dim) needs rotate-half RoPE pairs");
  }
  // longrope's attention factor multiplies cos and sin, i.e. only the rotated part of q and k;
  // detinfer applies it as factor^2 on the attention scale (model/layer_spec.h), which is that
  // only when every entry is rotated.
  if (rope_scaling.attention_factor != 1.0 && RotaryDim() != head_dim) {
    return bad("rope scaling attention_factor " + std::to_string(rope_scaling.attention_factor) +
               " with partial rotary (rotary_dim " + std::to_string(RotaryDim()) + " < head_dim " +
               std::to_string(head_dim) + ") is not supported (it would scale only the rotated "
               "part of q and k)");
  }
  if (n_experts < 0 || n_experts_used < 0 || expert_ffn_dim < 0) {
    return bad("negative expert counts or sizes");
  }
  if (n_experts > 0) {
    if (n_experts_used < 1 || n_experts_used > n_experts) {
      return bad("experts used per token (top-k) must be in [1, n_experts = " +
                 std::to_string(n_experts) + "], got " + std::to_string(n_experts_used));
    }
    DETINFER_RETURN_IF_ERROR(positive("expert_ffn_dim", expert_ffn_dim));
  } else if (n_experts_used != 0 || expert_ffn_dim != 0) {
    return bad("experts used per token / expert_ffn_dim without experts");
  }
  if (sliding_window < 0) {
    return bad("sliding_window must be positive (or 0 for none), got " +
               std::to_string(sliding_window));
  }
  for (const auto& [name, cap] : {std::pair{"attn_logit_softcapping", attn_logit_softcap},
                                  std::pair{"final_logit_softcapping", final_logit_softcap}}) {
    if (!(cap >= 0.0f) || !std::isfinite(cap)) {
      return bad(std::string(name) + " must be finite and >= 0 (0 = none), got " +
                 std::to_string(cap));
    }
  }
  if (!(query_pre_attn_scalar >= 0.0) || !std::isfinite(query_pre_attn_scalar)) {
    return bad("query_pre_attn_scalar must be finite and > 0, got " +
               std::to_string(query_pre_attn_scalar));
  }
  if (!(rope_local_theta >= 0.0) || !std::isfinite(rope_local_theta)) {
    return bad("rope_local_base_freq must be finite and > 0, got " +
               std::to_string(rope_local_theta));
  }
  if (!(rope_theta > 0)) return bad("rope_theta must be positive, got " + std::to_string(rope_theta));
  if (!(norm_eps >= 0)) return bad("norm_eps must be >= 0, got " + std::to_string(norm_eps));
  return Status::Ok();
}

}  // namespace detinfer
