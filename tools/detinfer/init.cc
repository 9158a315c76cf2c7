#include "init.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "model/arch.h"
#include "model/gguf_writer.h"
#include "model/hf_writer.h"
#include "model/random_init.h"

namespace detinfer::cli {

namespace {

// Generous for any real model, small enough that products of two sizes cannot overflow int64.
constexpr int64_t kMaxSize = int64_t{1} << 24;

struct InitOptions {
  std::string arch, dtype, format, out;
  int64_t dim = 0, layers = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0;
  int64_t head_dim = 0;
  int64_t context = 2048;
  double theta = 0;
  // Whether --head-dim / --theta were given (their absence picks a default, so a value of 0
  // must still be checked rather than read as "absent").
  const CLI::Option* head_dim_opt = nullptr;
  const CLI::Option* theta_opt = nullptr;
  bool tied = false;
  uint64_t seed = 0;
  // Mixture of experts (qwen3_moe, mixtral): experts per layer, experts per token, each
  // expert's FFN size (default --ffn), and whether the chosen probabilities are renormalised.
  int64_t experts = 8, experts_used = 2, expert_ffn = 0;
  bool no_renormalize = false;
  // Sliding-window attention (llama -> written as Mistral, phi3, mixtral); 0 = none.
  int64_t sliding_window = 0;
  const CLI::Option* sliding_window_opt = nullptr;
  const CLI::Option* experts_opt = nullptr;
  const CLI::Option* experts_used_opt = nullptr;
  const CLI::Option* expert_ffn_opt = nullptr;
};

Status Bad(const std::string& flag, const std::string& what) {
  return Status::InvalidArgument(flag + ": " + what);
}

Status CheckSize(const char* flag, int64_t v) {
  if (v <= 0) return Bad(flag, "must be positive, got " + std::to_string(v));
  if (v > kMaxSize) {
    return Bad(flag, std::to_string(v) + " is larger than the limit " + std::to_string(kMaxSize));
  }
  return Status::Ok();
}

// Turns the flags into a config; every error names the flag at fault.
Result<ModelConfig> BuildConfig(const InitOptions& o) {
  ModelConfig c;
  const ArchInfo* arch = FindArch(o.arch);
  if (arch == nullptr) {
    return Bad("--arch", "unknown architecture '" + o.arch + "' (expected one of " +
                             ArchNameList() + ")");
  }
  c.arch = arch->arch;
  DETINFER_RETURN_IF_ERROR(CheckSize("--dim", o.dim));
  DETINFER_RETURN_IF_ERROR(CheckSize("--layers", o.layers));
  DETINFER_RETURN_IF_ERROR(CheckSize("--heads", o.heads));
  DETINFER_RETURN_IF_ERROR(CheckSize("--kv-heads", o.kv_heads));
  DETINFER_RETURN_IF_ERROR(CheckSize("--ffn", o.ffn));
  DETINFER_RETURN_IF_ERROR(CheckSize("--vocab", o.vocab));
  DETINFER_RETURN_IF_ERROR(CheckSize("--context", o.context));
  if (o.heads % o.kv_heads != 0) {
    return Bad("--kv-heads", std::to_string(o.kv_heads) + " does not divide --heads (" +
                                 std::to_string(o.heads) + ")");
  }
  const bool has_theta = o.theta_opt != nullptr && o.theta_opt->count() > 0;
  if (o.head_dim_opt != nullptr && o.head_dim_opt->count() > 0) {
    DETINFER_RETURN_IF_ERROR(CheckSize("--head-dim", o.head_dim));
    if (o.head_dim % 2 != 0) {
      return Bad("--head-dim", "must be even for RoPE, got " + std::to_string(o.head_dim));
    }
    c.head_dim = o.head_dim;
  } else {
    if (o.dim % o.heads != 0) {
      return Bad("--dim", std::to_string(o.dim) + " is not divisible by --heads (" +
                              std::to_string(o.heads) + "); pass --head-dim");
    }
    c.head_dim = o.dim / o.heads;
    if (c.head_dim % 2 != 0) {
      return Bad("--dim", "--dim / --heads = " + std::to_string(c.head_dim) +
                              " is odd, but RoPE needs an even head dim; pass --head-dim");
    }
  }
  if (has_theta && !(o.theta > 0 && o.theta < 1e30)) {
    return Bad("--theta", "must be positive and finite, got " + std::to_string(o.theta));
  }
  c.dim = o.dim;
  c.n_layers = o.layers;
  c.n_heads = o.heads;
  c.n_kv_heads = o.kv_heads;
  c.ffn_dim = o.ffn;
  c.vocab_size = o.vocab;
  c.max_seq_len = o.context;
  // The family's released models' defaults (model/arch.h).
  c.rope_theta = has_theta ? o.theta : arch->init_theta;
  c.norm_eps = arch->init_norm_eps;
  c.rope_style = RopeStyle::kRotateHalf;  // Hugging Face order; the GGUF writer permutes for llama
  c.tied_embeddings = o.tied;
  ApplyArchFeatures(*arch, &c);
  const auto given = [](const CLI::Option* opt) { return opt != nullptr && opt->count() > 0; };
  if (arch->moe) {
    DETINFER_RETURN_IF_ERROR(CheckSize("--experts", o.experts));
    DETINFER_RETURN_IF_ERROR(CheckSize("--experts-used", o.experts_used));
    if (o.experts_used > o.experts) {
      return Bad("--experts-used", std::to_string(o.experts_used) + " is more than --experts (" +
                                       std::to_string(o.experts) + ")");
    }
    c.n_experts = o.experts;
    c.n_experts_used = o.experts_used;
    c.expert_ffn_dim = given(o.expert_ffn_opt) ? o.expert_ffn : o.ffn;
    DETINFER_RETURN_IF_ERROR(CheckSize("--expert-ffn", c.expert_ffn_dim));
    if (arch->moe_always_renormalize && c.expert_ffn_dim != c.ffn_dim) {
      return Bad("--expert-ffn", std::string(arch->name) + "'s expert FFN size is --ffn");
    }
    if (arch->moe_always_renormalize && o.no_renormalize) {
      return Bad("--no-renormalize", std::string(arch->name) + " always renormalises");
    }
    c.moe_renormalize = !o.no_renormalize;
  } else {
    for (const auto& [flag, opt] : {std::pair{"--experts", o.experts_opt},
                                    std::pair{"--experts-used", o.experts_used_opt},
                                    std::pair{"--expert-ffn", o.expert_ffn_opt}}) {
      if (given(opt)) return Bad(flag, "only for the mixture-of-experts archs (qwen3_moe, mixtral)");
    }
    if (o.no_renormalize) {
      return Bad("--no-renormalize", "only for the mixture-of-experts archs (qwen3_moe, mixtral)");
    }
  }
  if (given(o.sliding_window_opt)) {
    DETINFER_RETURN_IF_ERROR(CheckSize("--sliding-window", o.sliding_window));
    if (HfNameToWrite(c.arch, true) == nullptr) {
      return Bad("--sliding-window", std::string(arch->name) + " has no sliding window "
                 "(llama, written as Mistral; phi3; mixtral; gemma2; gemma3)");
    }
    c.sliding_window = o.sliding_window;
  }
  DETINFER_RETURN_IF_ERROR(c.Validate("detinfer init"));
  return c;
}

Status RunInit(const InitOptions& o) {
  DETINFER_ASSIGN_OR_RETURN(const ModelConfig config, BuildConfig(o));
  const Result<WeightRecipe> recipe = ParseWeightRecipe(o.dtype);
  if (!recipe.ok()) return Bad("--dtype", recipe.status().message());
  if (o.format != "hf" && o.format != "gguf") {
    return Bad("--format", "unknown format '" + o.format + "' (expected hf or gguf)");
  }
  if (o.out.empty()) return Bad("--out", "must not be empty");
  DETINFER_ASSIGN_OR_RETURN(const ModelWeights w, InitRandomModel(config, o.seed, *recipe));
  const Status written = o.format == "hf" ? WriteHuggingFace(w, o.out) : WriteGguf(w, o.out);
  if (!written.ok()) return Status(written.code(), "--out: " + written.message());
  int64_t params = 0;
  for (const auto& [role, layer] : ListRoles(config)) {
    int64_t n = 1;
    for (int64_t s : ExpectedShape(config, role)) n *= s;
    params += n;
  }
  std::printf("wrote %s (%s, %s, %s, seed %llu, %lld parameters)\n", o.out.c_str(),
              o.format == "hf" ? "Hugging Face" : "GGUF", o.arch.c_str(), o.dtype.c_str(),
              static_cast<unsigned long long>(o.seed), static_cast<long long>(params));
  return Status::Ok();
}

}  // namespace

void RegisterInit(CLI::App& app) {
  auto o = std::make_shared<InitOptions>();
  CLI::App* cmd = app.add_subcommand(
      "init", "Write a randomly initialised model (deterministic in --seed) as HF or GGUF");
  std::string arch_help;
  for (const ArchInfo& a : AllArchs()) {
    if (!arch_help.empty()) arch_help += ", ";
    arch_help += a.init_help;
  }
  cmd->add_option("--arch", o->arch, arch_help)->required();
  cmd->add_option("--dim", o->dim, "Hidden size")->required();
  cmd->add_option("--layers", o->layers, "Number of layers")->required();
  cmd->add_option("--heads", o->heads, "Query heads")->required();
  cmd->add_option("--kv-heads", o->kv_heads, "Key/value heads (divides --heads)")->required();
  cmd->add_option("--ffn", o->ffn, "SwiGLU hidden size")->required();
  cmd->add_option("--vocab", o->vocab, "Vocabulary size")->required();
  o->head_dim_opt =
      cmd->add_option("--head-dim", o->head_dim, "Head dim (default --dim / --heads)");
  cmd->add_option("--context", o->context, "Context length the file declares")
      ->capture_default_str();
  o->theta_opt = cmd->add_option("--theta", o->theta,
                                 "RoPE base (default 10000 for llama and phi3, 1e6 for qwen)");
  cmd->add_flag("--tied", o->tied, "Tie the output head to the token embedding");
  o->experts_opt = cmd->add_option("--experts", o->experts,
                                   "Experts per layer (qwen3_moe, mixtral)")
                       ->capture_default_str();
  o->experts_used_opt = cmd->add_option("--experts-used", o->experts_used,
                                        "Experts chosen per token, top-k (qwen3_moe, mixtral)")
                            ->capture_default_str();
  o->expert_ffn_opt = cmd->add_option("--expert-ffn", o->expert_ffn,
                                      "Each expert's SwiGLU hidden size (default --ffn; "
                                      "mixtral: must be --ffn)");
  o->sliding_window_opt = cmd->add_option(
      "--sliding-window", o->sliding_window,
      "Sliding-window attention: each query sees its N most recent positions (llama, written "
      "as MistralForCausalLM; phi3; mixtral; gemma2/gemma3's local layers, default 4096)");
  cmd->add_flag("--no-renormalize", o->no_renormalize,
                "qwen3_moe: keep the chosen experts' softmax probabilities as they are "
                "(norm_topk_prob false)");
  cmd->add_option("--seed", o->seed, "Seed: the same seed gives the same file bytes")->required();
  cmd->add_option("--dtype", o->dtype, "Matrix dtype: f32, bf16, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, "
                  "q4_k_m or q5_k_m (norms stay f32; block formats need --format gguf)")
      ->required();
  cmd->add_option("--format", o->format, "hf (a directory) or gguf (a file)")->required();
  cmd->add_option("--out", o->out, "Output directory (hf) or file (gguf)")->required();
  cmd->callback([o] {
    const Status s = RunInit(*o);
    if (!s.ok()) {
      std::fprintf(stderr, "detinfer init: %s\n", s.message().c_str());
      std::exit(2);
    }
    std::exit(0);
  });
}

}  // namespace detinfer::cli
