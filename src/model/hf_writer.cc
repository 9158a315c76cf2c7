#include "model/hf_writer.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/storage_format.h"
#include "model/file_sink.h"
#include "model/rope_scaling.h"
#include "model/safetensors_writer.h"
#include "model/tensor_roles.h"

namespace detinfer {

namespace {

std::string HfName(TensorRole role, int64_t layer) {
  const std::string p = "model.layers." + std::to_string(layer) + ".";
  switch (role) {
    case TensorRole::kTokenEmbedding: return "model.embed_tokens.weight";
    case TensorRole::kFinalNorm: return "model.norm.weight";
    case TensorRole::kLmHead: return "lm_head.weight";
    case TensorRole::kAttnNorm: return p + "input_layernorm.weight";
    case TensorRole::kWq: return p + "self_attn.q_proj.weight";
    case TensorRole::kWk: return p + "self_attn.k_proj.weight";
    case TensorRole::kWv: return p + "self_attn.v_proj.weight";
    case TensorRole::kWo: return p + "self_attn.o_proj.weight";
    case TensorRole::kBq: return p + "self_attn.q_proj.bias";
    case TensorRole::kBk: return p + "self_attn.k_proj.bias";
    case TensorRole::kBv: return p + "self_attn.v_proj.bias";
    case TensorRole::kQNorm: return p + "self_attn.q_norm.weight";
    case TensorRole::kKNorm: return p + "self_attn.k_norm.weight";
    case TensorRole::kFfnNorm: return p + "post_attention_layernorm.weight";
    case TensorRole::kGate: return p + "mlp.gate_proj.weight";
    case TensorRole::kUp: return p + "mlp.up_proj.weight";
    case TensorRole::kDown: return p + "mlp.down_proj.weight";
  }
  return "?";
}

std::string_view TorchDType(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "float32";
    case DType::kBF16: return "bfloat16";
    case DType::kF16: return "float16";
    default: break;
  }
  return "?";
}

// The float's shortest round-trip decimal, as a double: 1e-5f is written "1e-05" rather than the
// float's exact binary value widened (9.999999747378752e-06), which Python would read back as a
// different eps.
double ShortestDecimal(float f) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf - 1, f);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

Status CheckWeights(const ModelWeights& w, const char* who) {
  DETINFER_RETURN_IF_ERROR(w.config.Validate(who));
  return CheckArchFeatures(w.config, who);
}

}  // namespace

Result<std::string> HuggingFaceConfigJson(const ModelWeights& w) {
  DETINFER_RETURN_IF_ERROR(CheckWeights(w, "Hugging Face writer"));
  const ModelConfig& c = w.config;
  std::string architecture, model_type(ArchName(c.arch));
  switch (c.arch) {
    case Arch::kLlama: architecture = "LlamaForCausalLM"; break;
    case Arch::kQwen2: architecture = "Qwen2ForCausalLM"; break;
    case Arch::kQwen3: architecture = "Qwen3ForCausalLM"; break;
  }
  nlohmann::json j = {
      {"architectures", {architecture}},
      {"model_type", model_type},
      {"hidden_act", "silu"},
      {"hidden_size", c.dim},
      {"intermediate_size", c.ffn_dim},
      {"num_hidden_layers", c.n_layers},
      {"num_attention_heads", c.n_heads},
      {"num_key_value_heads", c.n_kv_heads},
      {"head_dim", c.head_dim},
      {"vocab_size", c.vocab_size},
      {"max_position_embeddings", c.max_seq_len},
      {"rope_theta", c.rope_theta},
      {"rms_norm_eps", ShortestDecimal(c.norm_eps)},
      {"tie_word_embeddings", c.tied_embeddings},
      // Qwen2's modeling code always has q/k/v bias; the key says so for readers that look.
      {"attention_bias", c.qkv_bias},
      {"torch_dtype", TorchDType(w.token_embedding.dtype)},
  };
  DETINFER_ASSIGN_OR_RETURN(nlohmann::json scaling, HfRopeScalingJson(c.rope_scaling));
  if (!scaling.is_null()) j["rope_scaling"] = scaling;
  return j.dump(2) + "\n";
}

Status WriteHuggingFace(const ModelWeights& w, const std::string& dir) {
  DETINFER_ASSIGN_OR_RETURN(const std::string config_text, HuggingFaceConfigJson(w));
  DETINFER_ASSIGN_OR_RETURN(const std::vector<TensorEntry> entries, ListTensors(w));

  std::vector<SafetensorsEntry> tensors;
  for (const TensorEntry& e : entries) {
    if (IsQuantised(e.view->dtype)) {
      return Status::Unsupported(
          "Hugging Face writer: tensor " + HfName(e.role, e.layer) + " is " +
          std::string(FormatOf(e.view->dtype).ggml_name) +
          ", a GGUF block format safetensors cannot hold; write a .gguf, or widen it with "
          "--dtype f32, bf16 or f16");
    }
    SafetensorsEntry s;
    s.name = HfName(e.role, e.layer);
    s.view = e.view;
    if (IsRopeOrdered(e.role)) {
      s.head_dim = w.config.head_dim;
      s.from = w.config.rope_style;
      s.to = RopeStyle::kRotateHalf;
    }
    tensors.push_back(std::move(s));
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create directory '" + dir + "': " + ec.message());
  if (!std::filesystem::is_directory(dir, ec)) {
    return Status::IoError("'" + dir + "' exists and is not a directory");
  }
  const std::filesystem::path base(dir);
  // Tensors first: config.json is what marks the directory as a checkpoint, so it appears last.
  DETINFER_RETURN_IF_ERROR(WriteSafetensors((base / "model.safetensors").string(), tensors));
  FileSink sink;
  DETINFER_RETURN_IF_ERROR(sink.Open((base / "config.json").string()));
  DETINFER_RETURN_IF_ERROR(sink.Write(config_text.data(), config_text.size()));
  return sink.Commit();
}

}  // namespace detinfer
