#include "model/hf_writer.h"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "core/storage_format.h"
#include "model/arch.h"
#include "model/file_sink.h"
#include "model/file_tensors.h"
#include "model/rope_scaling.h"
#include "model/safetensors_writer.h"
#include "model/tensor_roles.h"

namespace detinfer {

namespace {

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
  const ArchInfo& arch = GetArchInfo(c.arch);
  // A windowed llama is a MistralForCausalLM (LlamaForCausalLM ignores sliding_window).
  const HfArchName* name = HfNameToWrite(c.arch, c.sliding_window > 0);
  if (name == nullptr) {
    return Status::Unsupported("Hugging Face writer: sliding_window " +
                               std::to_string(c.sliding_window) + " has no Hugging Face class "
                               "for " + std::string(arch.name));
  }
  nlohmann::json j = {
      {"architectures", {name->architecture}},
      {"model_type", name->model_type},
      {"hidden_act", arch.gelu_tanh ? "gelu_pytorch_tanh" : "silu"},
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
  if (c.sliding_window > 0) j["sliding_window"] = c.sliding_window;
  if (arch.post_norms) {  // Gemma2Config (null = none for the caps and the window)
    j["hidden_activation"] = "gelu_pytorch_tanh";
    const auto cap = [](float v) { return v > 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
    j["attn_logit_softcapping"] = cap(c.attn_logit_softcap);
    j["final_logit_softcapping"] = cap(c.final_logit_softcap);
    j["query_pre_attn_scalar"] =
        c.query_pre_attn_scalar > 0 ? c.query_pre_attn_scalar : double(c.head_dim);
    if (c.sliding_window == 0) j["sliding_window"] = nullptr;
    if (c.arch == Arch::kGemma3) {
      j["rope_local_base_freq"] = c.rope_local_theta > 0 ? c.rope_local_theta : c.rope_theta;
      j["sliding_window_pattern"] = arch.sliding_pattern;
    }
  }
  DETINFER_ASSIGN_OR_RETURN(nlohmann::json scaling, HfRopeScalingJson(c.rope_scaling));
  if (!scaling.is_null()) j["rope_scaling"] = scaling;
  if (c.rope_scaling.kind == RopeScaling::Kind::kLongRope) {
    // Phi-3 keeps it at the top level, where longrope reads it (rope_scaling.h).
    j["original_max_position_embeddings"] = c.rope_scaling.original_max_positions;
  }
  if (c.IsMoe()) {
    if (c.arch == Arch::kMixtral) {
      // MixtralConfig: intermediate_size is each expert's; the top-k always renormalised.
      if (c.expert_ffn_dim != c.ffn_dim) {
        return Status::Unsupported("Hugging Face writer: mixtral's expert FFN size is its "
                                   "intermediate_size; expert_ffn_dim " +
                                   std::to_string(c.expert_ffn_dim) + " != ffn_dim " +
                                   std::to_string(c.ffn_dim));
      }
      j["num_local_experts"] = c.n_experts;
      j["num_experts_per_tok"] = c.n_experts_used;
    } else {
      // Qwen3MoeConfig: every layer sparse (decoder_sparse_step 1, no mlp_only_layers).
      j["num_experts"] = c.n_experts;
      j["num_experts_per_tok"] = c.n_experts_used;
      j["moe_intermediate_size"] = c.expert_ffn_dim;
      j["norm_topk_prob"] = c.moe_renormalize;
      j["decoder_sparse_step"] = 1;
      j["mlp_only_layers"] = nlohmann::json::array();
    }
  }
  if (c.RotaryDim() != c.head_dim) {
    // Phi3Config rotates int(head_dim * partial_rotary_factor) entries: the ratio must give
    // rotary_dim back exactly.
    const double factor = double(c.RotaryDim()) / double(c.head_dim);
    if (static_cast<int64_t>(double(c.head_dim) * factor) != c.RotaryDim() ||
        !arch.partial_rotary) {
      return Status::Unsupported("Hugging Face writer: rotary_dim " +
                                 std::to_string(c.RotaryDim()) + " of head_dim " +
                                 std::to_string(c.head_dim) + " has no partial_rotary_factor "
                                 "form for " + std::string(arch.name));
    }
    j["partial_rotary_factor"] = factor;
  }
  return j.dump(2) + "\n";
}

Status WriteHuggingFace(const ModelWeights& w, const std::string& dir) {
  DETINFER_ASSIGN_OR_RETURN(const std::string config_text, HuggingFaceConfigJson(w));
  std::vector<AlignedBuffer> joined;  // fused tensors (file_tensors.h)
  DETINFER_ASSIGN_OR_RETURN(const std::vector<FileTensor> entries,
                            ListFileTensors(w, RopeStyle::kRotateHalf, &joined));

  std::vector<SafetensorsEntry> tensors;
  // Stacked experts are written one tensor per expert (HfExpertTensorName): views of their
  // slices, kept here (with their names) while the entries point at them.
  std::vector<std::pair<FileTensor, std::string>> expanded;
  for (const FileTensor& e : entries) {
    if (e.view.rank != 3) {
      expanded.emplace_back(e, HfTensorName(w.config.arch, e.role, e.layer));
      continue;
    }
    for (int64_t x = 0; x < e.view.shape[0]; ++x) {
      FileTensor part = e;
      part.view = TensorView::Contiguous(e.view.row_bytes(x), e.view.dtype,
                                         {e.view.shape[1], e.view.shape[2]});
      expanded.emplace_back(part, HfExpertTensorName(w.config.arch, e.role, e.layer, x));
    }
  }
  for (const auto& [e, name] : expanded) {
    if (IsQuantised(e.view.dtype)) {
      return Status::Unsupported(
          "Hugging Face writer: tensor " + name + " is " +
          std::string(FormatOf(e.view.dtype).ggml_name) +
          ", a GGUF block format safetensors cannot hold; write a .gguf, or widen it with "
          "--dtype f32, bf16 or f16");
    }
    SafetensorsEntry s;
    s.name = name;
    s.view = &e.view;
    if (e.rope_ordered) {
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
