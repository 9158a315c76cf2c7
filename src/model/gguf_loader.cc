#include "model/gguf_loader.h"

#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "model/arch.h"
#include "model/rope_scaling.h"
#include "model/tensor_source.h"
#include "model/validate.h"

namespace detinfer {

namespace {

// Bounded like llama.cpp's int32 hparams, so later products of two cannot overflow int64.
constexpr int64_t kMaxParam = INT32_MAX;

class GgufLookup : public TensorLookup {
 public:
  explicit GgufLookup(const GgufFile& f) : f_(f) {}
  bool Has(const std::string& name) const override { return f_.tensors().count(name) != 0; }
  Result<TensorView> Get(const std::string& name) const override { return f_.View(name); }
  std::vector<std::string> Names() const override {
    std::vector<std::string> out;
    for (const auto& [name, info] : f_.tensors()) out.push_back(name);
    return out;
  }
  std::string Where() const override { return f_.path(); }

 private:
  const GgufFile& f_;
};

// An f32 [n] tensor of finite positive factors (RoPE frequency divisors).
Status ReadFactors(const GgufFile& g, const char* name, int64_t n, std::vector<float>* out) {
  const std::string& path = g.path();
  if (g.tensors().count(name) == 0) {
    return Status::NotFound(path + ": missing tensor '" + name + "'");
  }
  DETINFER_ASSIGN_OR_RETURN(TensorView f, g.View(name));
  if (f.dtype != DType::kF32 || f.rank != 1 || f.shape[0] != n) {
    return Status::InvalidArgument(path + ": " + name + " must be f32 [" + std::to_string(n) +
                                   "] (one divisor per RoPE frequency)");
  }
  const float* v = static_cast<const float*>(f.data);
  for (int64_t i = 0; i < n; ++i) {
    if (!(std::isfinite(v[i]) && v[i] > 0.0f)) {
      return Status::InvalidArgument(path + ": " + name + " frequency divisor " +
                                     std::to_string(i) + " is " + std::to_string(v[i]) +
                                     " (must be finite and > 0)");
    }
  }
  out->assign(v, v + n);
  return Status::Ok();
}

}  // namespace

Result<ModelConfig> GgufModelConfig(const GgufFile& g) {
  const std::string& path = g.path();
  DETINFER_ASSIGN_OR_RETURN(std::string_view arch_name, g.GetString("general.architecture"));
  ModelConfig c;
  // llama.cpp writes Mixtral as "llama" with experts.
  const bool has_experts = g.Find(std::string(arch_name) + ".expert_count") != nullptr;
  const ArchInfo* info = FindGgufArch(arch_name, has_experts);
  if (info == nullptr) {
    return Status::Unsupported(path + ": general.architecture '" + std::string(arch_name) +
                               "' is not supported (" + ArchNameList() + ")");
  }
  c.arch = info->arch;
  c.rope_style = info->gguf_rope_style;
  const std::string a(arch_name);
  auto get = [&](const char* suffix, int64_t* out) -> Status {
    DETINFER_ASSIGN_OR_RETURN(*out, g.GetInt(a + suffix, 1, kMaxParam));
    return Status::Ok();
  };
  auto has = [&](const char* suffix) { return g.Find(a + suffix) != nullptr; };
  DETINFER_RETURN_IF_ERROR(get(".embedding_length", &c.dim));
  DETINFER_RETURN_IF_ERROR(get(".block_count", &c.n_layers));
  DETINFER_RETURN_IF_ERROR(get(".attention.head_count", &c.n_heads));
  c.n_kv_heads = c.n_heads;
  if (has(".attention.head_count_kv")) {
    DETINFER_RETURN_IF_ERROR(get(".attention.head_count_kv", &c.n_kv_heads));
  }
  DETINFER_RETURN_IF_ERROR(get(".feed_forward_length", &c.ffn_dim));
  DETINFER_RETURN_IF_ERROR(get(".context_length", &c.max_seq_len));
  if (has(".attention.key_length")) {
    DETINFER_RETURN_IF_ERROR(get(".attention.key_length", &c.head_dim));
  } else {
    if (c.dim % c.n_heads != 0) {
      return Status::InvalidArgument(path + ": " + a + ".embedding_length " +
                                     std::to_string(c.dim) + " is not a multiple of " + a +
                                     ".attention.head_count " + std::to_string(c.n_heads));
    }
    c.head_dim = c.dim / c.n_heads;
  }
  if (has(".attention.value_length")) {
    int64_t v = 0;
    DETINFER_RETURN_IF_ERROR(get(".attention.value_length", &v));
    if (v != c.head_dim) {
      return Status::Unsupported(path + ": " + a + ".attention.value_length " +
                                 std::to_string(v) + " differs from the key length " +
                                 std::to_string(c.head_dim));
    }
  }
  if (has(".rope.dimension_count")) {
    int64_t rot = 0;
    DETINFER_RETURN_IF_ERROR(get(".rope.dimension_count", &rot));
    if (rot != c.head_dim && !(info->partial_rotary && rot < c.head_dim && rot % 2 == 0)) {
      return Status::Unsupported(path + ": " + a + ".rope.dimension_count " +
                                 std::to_string(rot) + " (partial rotary) differs from "
                                 "head_dim " + std::to_string(c.head_dim) + " (" + a +
                                 (info->partial_rotary ? " needs an even count below it)"
                                                       : " rotates all of it)"));
    }
    c.rotary_dim = rot == c.head_dim ? 0 : rot;
  }
  // Linear scaling as llama.cpp reads it: rope.scaling.type (absent means linear) and the
  // factor in rope.scaling.factor (or the older rope.scale_linear); no factor, or 0, is no
  // scaling, and type "none" switches a factor off. Every frequency is divided by the factor,
  // as transformers' "linear" (the same divisors as a config.json {"rope_type": "linear"}):
  // on Gemma 3 the global layers only, as llama.cpp's gemma3 (its sliding layers keep base
  // 10000 and scale 1) and transformers' rotary_emb_local.
  std::string scaling_type = "linear";
  if (has(".rope.scaling.type")) {
    DETINFER_ASSIGN_OR_RETURN(std::string_view s, g.GetString(a + ".rope.scaling.type"));
    scaling_type = std::string(s);
    if (s != "none" && s != "linear") {
      return Status::Unsupported(path + ": " + a + ".rope.scaling.type '" + std::string(s) +
                                 "' is not supported (none, linear)");
    }
  }
  std::string factor_key;
  for (const char* k : {".rope.scaling.factor", ".rope.scale_linear"}) {
    if (factor_key.empty() && has(k)) factor_key = a + k;
  }
  const int64_t half = c.RotaryDim() / 2;
  if (scaling_type == "linear" && !factor_key.empty()) {
    DETINFER_ASSIGN_OR_RETURN(const double factor, g.GetFloat(factor_key));
    if (!(factor >= 0) || !std::isfinite(factor)) {
      return Status::InvalidArgument(path + ": " + factor_key + " " + std::to_string(factor) +
                                     " must be finite and positive (0: no scaling)");
    }
    if (factor != 0) {
      for (const char* t : {kGgufRopeFreqsName, kGgufRopeFactorsLong, kGgufRopeFactorsShort}) {
        if (g.tensors().count(t) != 0) {
          return Status::InvalidArgument(path + ": both " + factor_key + " (linear RoPE "
                                         "scaling) and tensor '" + t + "'");
        }
      }
      c.rope_scaling.kind = RopeScaling::Kind::kLinear;
      c.rope_scaling.factor = factor;
      DETINFER_RETURN_IF_ERROR(ComputeRopeDivisors(c.RotaryDim(), c.rope_theta, &c.rope_scaling));
    }
  }
  if (g.tensors().count(kGgufRopeFreqsName) != 0) {
    std::vector<float> v;
    DETINFER_RETURN_IF_ERROR(ReadFactors(g, kGgufRopeFreqsName, half, &v));
    c.rope_scaling.kind = RopeScaling::Kind::kFreqFactors;
    c.rope_scaling.divisors = std::move(v);
  }
  // longrope as llama.cpp's converter writes Phi-3's: both factor lists as tensors, the
  // pre-training context and the attention factor as keys (rope_scaling.h).
  const bool has_long = g.tensors().count(kGgufRopeFactorsLong) != 0;
  if (has_long || g.tensors().count(kGgufRopeFactorsShort) != 0) {
    if (c.rope_scaling.kind != RopeScaling::Kind::kNone) {
      return Status::InvalidArgument(path + ": both " + kGgufRopeFreqsName + " and " +
                                     kGgufRopeFactorsLong + " / " + kGgufRopeFactorsShort);
    }
    RopeScaling& rs = c.rope_scaling;
    std::vector<float> long_f, short_f;
    DETINFER_RETURN_IF_ERROR(ReadFactors(g, kGgufRopeFactorsLong, half, &long_f));
    DETINFER_RETURN_IF_ERROR(ReadFactors(g, kGgufRopeFactorsShort, half, &short_f));
    rs.kind = RopeScaling::Kind::kLongRope;
    rs.long_factor.assign(long_f.begin(), long_f.end());
    rs.short_factor.assign(short_f.begin(), short_f.end());
    DETINFER_RETURN_IF_ERROR(get(".rope.scaling.original_context_length", &rs.original_max_positions));
    rs.factor = double(c.max_seq_len) / double(rs.original_max_positions);
    rs.attention_factor = 1.0;  // llama.cpp's default
    if (has(".rope.scaling.attn_factor")) {
      DETINFER_ASSIGN_OR_RETURN(rs.attention_factor, g.GetFloat(a + ".rope.scaling.attn_factor"));
      if (!(rs.attention_factor > 0) || !std::isfinite(rs.attention_factor)) {
        return Status::InvalidArgument(path + ": " + a + ".rope.scaling.attn_factor " +
                                       std::to_string(rs.attention_factor) + " out of range");
      }
    }
  }
  // The sliding window (llama.cpp's key), as for Hugging Face files (hf_config.cc).
  if (has(".attention.sliding_window")) {
    DETINFER_RETURN_IF_ERROR(get(".attention.sliding_window", &c.sliding_window));
  }
  if (c.rope_scaling.kind == RopeScaling::Kind::kLongRope) {
    DETINFER_RETURN_IF_ERROR(
        ComputeRopeDivisors(c.RotaryDim(), c.rope_theta, &c.rope_scaling, c.max_seq_len));
  }
  c.rope_theta = 10000.0;  // llama.cpp's default when the key is absent
  if (has(".rope.freq_base")) {
    DETINFER_ASSIGN_OR_RETURN(c.rope_theta, g.GetFloat(a + ".rope.freq_base"));
  }
  DETINFER_ASSIGN_OR_RETURN(double eps, g.GetFloat(a + ".attention.layer_norm_rms_epsilon"));
  if (!(eps > 0) || !std::isfinite(eps) || !std::isfinite(c.rope_theta)) {
    return Status::InvalidArgument(path + ": " + a + ".attention.layer_norm_rms_epsilon " +
                                   std::to_string(eps) + " / rope.freq_base " +
                                   std::to_string(c.rope_theta) + " out of range");
  }
  c.norm_eps = static_cast<float>(eps);

  auto embd = g.tensors().find("token_embd.weight");
  if (embd == g.tensors().end()) {
    return Status::NotFound(path + ": missing tensor 'token_embd.weight'");
  }
  if (embd->second.ne.size() != 2 || embd->second.ne[1] <= 0 ||
      embd->second.ne[1] > kMaxParam) {
    std::string dims;
    for (int64_t d : embd->second.ne) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    return Status::InvalidArgument(path + ": tensor 'token_embd.weight' has ne [" + dims +
                                   "], expected [embedding_length, vocab_size]");
  }
  c.vocab_size = embd->second.ne[1];
  if (const GgufValue* tokens = g.Find("tokenizer.ggml.tokens")) {
    if (tokens->type != GgufType::kArray || tokens->count != static_cast<uint64_t>(c.vocab_size)) {
      return Status::InvalidArgument(path + ": tokenizer.ggml.tokens has " +
                                     std::to_string(tokens->count) + " entries but "
                                     "token_embd.weight has " + std::to_string(c.vocab_size) +
                                     " rows");
    }
  }
  c.tied_embeddings = g.tensors().count("output.weight") == 0;
  c.qkv_bias = g.tensors().count(GgufTensorName(c.arch, TensorRole::kBq, 0)) != 0;
  if (g.tensors().count("blk.0.attn_output.bias") != 0) {
    return Status::Unsupported(path + ": tensor 'blk.0.attn_output.bias' (an output projection "
                               "bias) is not supported");
  }
  c.qk_norm = info->qk_norm;
  if (info->moe) {
    // llama.cpp's keys: expert_count, expert_used_count; Qwen3-MoE's expert FFN size in
    // expert_feed_forward_length (feed_forward_length is its dense size), Mixtral's in
    // feed_forward_length. llama.cpp always renormalises qwen3moe's top-k; a file written by
    // detinfer from a norm_topk_prob = false model says so in expert_weights_norm.
    DETINFER_RETURN_IF_ERROR(get(".expert_count", &c.n_experts));
    DETINFER_RETURN_IF_ERROR(get(".expert_used_count", &c.n_experts_used));
    if (c.n_experts_used > c.n_experts) {
      return Status::InvalidArgument(path + ": " + a + ".expert_used_count " +
                                     std::to_string(c.n_experts_used) + " exceeds " + a +
                                     ".expert_count " + std::to_string(c.n_experts));
    }
    if (c.arch == Arch::kQwen3Moe) {
      DETINFER_RETURN_IF_ERROR(get(".expert_feed_forward_length", &c.expert_ffn_dim));
    } else {
      c.expert_ffn_dim = c.ffn_dim;
    }
    c.moe_renormalize = true;
    if (!info->moe_always_renormalize && has(".expert_weights_norm")) {
      const GgufValue* norm = g.Find(a + ".expert_weights_norm");
      if (norm->type != GgufType::kBool) {
        return Status::InvalidArgument(path + ": metadata '" + a + ".expert_weights_norm' must "
                                       "be a bool");
      }
      c.moe_renormalize = norm->u != 0;
    }
    if (has(".expert_shared_count") || has(".expert_shared_feed_forward_length")) {
      return Status::Unsupported(path + ": shared experts (" + a + ".expert_shared_count) are "
                                 "not supported (Qwen2-MoE's; qwen3moe and mixtral have none)");
    }
  }
  if (info->post_norms) {
    // llama.cpp's gemma2 keys (absent: no cap). query_pre_attn_scalar: detinfer's own key when
    // present, else llama.cpp's rule (the 46-layer 27B model scales by dim / heads, the others
    // by head_dim).
    for (const auto& [key, out] : {std::pair{".attn_logit_softcapping", &c.attn_logit_softcap},
                                   std::pair{".final_logit_softcapping", &c.final_logit_softcap}}) {
      if (!has(key)) continue;
      DETINFER_ASSIGN_OR_RETURN(const double v, g.GetFloat(a + key));
      if (!(v > 0) || !std::isfinite(v)) {
        return Status::InvalidArgument(path + ": " + a + key + " must be positive, got " +
                                       std::to_string(v));
      }
      *out = static_cast<float>(v);
    }
    c.query_pre_attn_scalar =
        c.n_layers == 46 ? double(c.dim / c.n_heads) : double(c.head_dim);
    if (has(".attention.query_pre_attn_scalar")) {
      DETINFER_ASSIGN_OR_RETURN(c.query_pre_attn_scalar,
                                g.GetFloat(a + ".attention.query_pre_attn_scalar"));
      if (!(c.query_pre_attn_scalar > 0) || !std::isfinite(c.query_pre_attn_scalar)) {
        return Status::InvalidArgument(path + ": " + a + ".attention.query_pre_attn_scalar must "
                                       "be positive, got " +
                                       std::to_string(c.query_pre_attn_scalar));
      }
    }
    if (!c.tied_embeddings) {
      return Status::Unsupported(path + ": tensor 'output.weight': " + a + "'s output head is "
                                 "the token embedding");
    }
    if (c.arch == Arch::kGemma3) {
      // The local layers' RoPE base: llama.cpp's gemma3 uses 10000 (no key); detinfer's key
      // when present. The global layers' is rope.freq_base.
      c.rope_local_theta = 10000.0;
      if (has(".rope.local_freq_base")) {
        DETINFER_ASSIGN_OR_RETURN(c.rope_local_theta, g.GetFloat(a + ".rope.local_freq_base"));
        if (!(c.rope_local_theta > 0) || !std::isfinite(c.rope_local_theta)) {
          return Status::InvalidArgument(path + ": " + a + ".rope.local_freq_base must be "
                                         "positive, got " + std::to_string(c.rope_local_theta));
        }
      }
    }
  }
  DETINFER_RETURN_IF_ERROR(c.Validate(path));
  return c;
}

Result<ModelWeights> LoadGguf(const std::string& path) {
  DETINFER_ASSIGN_OR_RETURN(GgufFile g, GgufFile::Open(path));
  return LoadGguf(std::move(g));
}

Result<ModelWeights> LoadGguf(GgufFile g) {
  const std::string path = g.path();
  ModelWeights w;
  DETINFER_ASSIGN_OR_RETURN(w.config, GgufModelConfig(g));
  w.format = ModelFormat::kGguf;
  w.source = path;
  NameScheme names{&GgufTensorName};
  if (w.config.arch == Arch::kMixtral) {
    // Early Mixtral files hold one tensor per expert (blk.L.ffn_gate.E.weight), which
    // llama.cpp still reads by stacking them; so does this loader (a copy, as for Hugging Face).
    names.expert_name = &GgufExpertTensorName;
    names.stacked_or_per_expert = true;
  }
  if (w.config.rope_scaling.kind == RopeScaling::Kind::kFreqFactors) {
    names.read_with_config.push_back(kGgufRopeFreqsName);
  }
  if (w.config.rope_scaling.kind == RopeScaling::Kind::kLongRope) {
    names.read_with_config.push_back(kGgufRopeFactorsLong);
    names.read_with_config.push_back(kGgufRopeFactorsShort);
  }
  DETINFER_RETURN_IF_ERROR(AssembleWeights(GgufLookup(g), names, &w));
  if (GetArchInfo(w.config.arch).norm_plus_one) {
    // llama.cpp's gemma files hold each norm as 1 + w; ModelWeights holds w (model/arch.h), in
    // f32: stored - 1 is exact for stored >= 0.5 (and for any value a writer made from w).
    for (const auto& [role, layer] : ListRoles(w.config)) {
      if (!IsVectorRole(role)) continue;
      TensorView* v = MutableViewOf(w, role, layer);
      if (v->rank != 1) continue;  // ValidateWeights names it
      const int64_t n = v->shape[0];
      DETINFER_ASSIGN_OR_RETURN(AlignedBuffer buf,
                                AlignedBuffer::Allocate(static_cast<size_t>(n) * sizeof(float)));
      float* f = buf.as<float>();
      ConvertToF32(v->dtype, v->data, f, static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) f[i] = f[i] - 1.0f;
      *v = TensorView::Contiguous(f, DType::kF32, {n});
      w.owned.push_back(std::move(buf));
    }
  }
  w.files.push_back(g.TakeFile());
  DETINFER_RETURN_IF_ERROR(ValidateWeights(w));
  return w;
}

}  // namespace detinfer
