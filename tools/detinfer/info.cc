// `detinfer info MODEL`: architecture, shapes, storage formats (per tensor with --tensors),
// parameter count, bits per weight, tokenizer.
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "core/available_memory.h"
#include "engine/schedule_id.h"
#include "core/storage_format.h"
#include "model/arch.h"
#include "model/chat_config.h"
#include "model/model_bundle.h"
#include "model/tensor_roles.h"
#include "subcommands.h"

namespace detinfer::cli {

namespace {

struct InfoOptions {
  std::string model, tokenizer;
  bool json = false, tensors = false;
};

// The stored fp32 value as the double with the same shortest decimal form, so JSON shows 1e-05
// (what the file says) rather than the float's exact 9.999999747378752e-06; parsing it back and
// narrowing to fp32 still gives the stored bits.
double ShortestDouble(float v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  double d = 0;
  std::from_chars(buf, r.ptr, d);
  return d;
}

int RunInfo(const InfoOptions& o) {
  auto rt = MakeRuntime(0);  // packs the weights on every core (nothing else runs)
  if (!rt.ok()) return Fail(rt.status());
  auto b = LoadModelBundle(o.model, o.tokenizer, rt->ctx, BundleOptionsFor(""));
  if (!b.ok()) return Fail(b.status());
  b->model->WaitForPackedCache();  // info reports how the cache file ended
  const ModelWeights& w = b->model->weights();
  const ModelConfig& c = w.config;
  auto entries = ListTensors(w);
  if (!entries.ok()) return Fail(entries.status());
  int64_t params = 0;
  uint64_t bytes = 0;
  std::map<std::string, int64_t> dtypes;
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorEntry& e : *entries) {
    const TensorView& t = *e.view;
    const StorageFormat& f = FormatOf(t.dtype);
    params += t.numel();
    bytes += StorageBytes(t.dtype, t.numel());
    dtypes[std::string(f.name)] += t.numel();
    nlohmann::json shape = nlohmann::json::array();
    for (int d = 0; d < t.rank; ++d) shape.push_back(t.shape[d]);
    tensors.push_back({{"name", EntryName(e.role, e.layer)}, {"shape", shape},
                       {"dtype", f.name}, {"bits_per_weight", f.bits_per_weight()}});
  }
  // The tokenizer: where it was read from and how it was found, or null and why there is none.
  nlohmann::json tokenizer = nullptr;
  if (b->tokenizer) {
    tokenizer = {{"path", b->tokenizer_path}, {"found", b->tokenizer_source},
                 {"vocab_size", b->tokenizer->vocab_size()}, {"bos_id", b->tokenizer->bos_id()},
                 {"eos_id", b->tokenizer->eos_id()}, {"unk_id", b->tokenizer->unk_id()}};
  }
  // What chat uses: the model's own template (and where it is), or the built-in fallback; the
  // ids that end a turn besides the tokenizer's EOS.
  auto chat = ReadModelChatConfig(o.model, w.format, b->tokenizer_path);
  if (!chat.ok()) return Fail(chat.status());
  const nlohmann::json chat_json = {
      {"template", chat->chat_template.empty() ? nlohmann::json(nullptr)
                                               : nlohmann::json(chat->chat_template_origin)},
      {"end_of_turn_ids", chat->end_ids}};
  // The KV capacity generate/serve would get by default here and now (f32 KV, 16-token blocks).
  const KvCapacityPlan kv = DefaultKvCapacity(c, DType::kF32, 16, AvailableMemoryBytes());
  const double bpw = params > 0 ? 8.0 * static_cast<double>(bytes) / static_cast<double>(params) : 0;
  nlohmann::json j = {
      {"path", o.model},
      {"format", ModelFormatName(w.format)},
      {"architecture", ArchName(c.arch)},
      {"dim", c.dim}, {"layers", c.n_layers}, {"heads", c.n_heads}, {"kv_heads", c.n_kv_heads},
      {"head_dim", c.head_dim}, {"ffn_dim", c.ffn_dim}, {"vocab_size", c.vocab_size},
      {"context_length", c.max_seq_len}, {"rope_theta", c.rope_theta},
      {"rope_scaling", std::string(RopeScalingName(c.rope_scaling.kind))},
      {"rotary_dim", c.RotaryDim()},
      {"rope_attention_factor", c.rope_scaling.attention_factor},
      {"rope_style", c.rope_style == RopeStyle::kInterleaved ? "interleaved" : "rotate-half"},
      {"norm_eps", ShortestDouble(c.norm_eps)}, {"tied_embeddings", c.tied_embeddings},
      {"qkv_bias", c.qkv_bias}, {"qk_norm", c.qk_norm},
      {"sliding_window", c.sliding_window > 0 ? nlohmann::json(c.sliding_window)
                                              : nlohmann::json(nullptr)},
      {"sliding_window_layers", GetArchInfo(c.arch).sliding_pattern == 2  ? "even"
                                : GetArchInfo(c.arch).sliding_pattern > 2 ? "all but every 6th"
                                                                           : "all"},
      {"attn_logit_softcapping", c.attn_logit_softcap > 0 ? nlohmann::json(c.attn_logit_softcap)
                                                          : nlohmann::json(nullptr)},
      {"final_logit_softcapping", c.final_logit_softcap > 0
                                      ? nlohmann::json(c.final_logit_softcap)
                                      : nlohmann::json(nullptr)},
      {"rope_local_theta", c.rope_local_theta > 0 ? nlohmann::json(c.rope_local_theta)
                                                  : nlohmann::json(nullptr)},
      {"query_pre_attn_scalar", c.query_pre_attn_scalar > 0
                                    ? nlohmann::json(c.query_pre_attn_scalar)
                                    : nlohmann::json(nullptr)},
      {"parameters", params}, {"parameters_by_dtype", dtypes},
      {"weight_bytes", bytes}, {"bits_per_weight", bpw}, {"tensors", tensors},
      {"kv_bytes_per_token", {{"f32", KvBytesPerToken(c, DType::kF32)},
                              {"bf16", KvBytesPerToken(c, DType::kBF16)},
                              {"f16", KvBytesPerToken(c, DType::kF16)}}},
      {"default_kv_capacity_tokens", kv.tokens},
      {"default_kv_capacity_memory_bound", kv.memory_bound},
      {"available_memory_bytes", kv.available_bytes ? nlohmann::json(*kv.available_bytes)
                                                    : nlohmann::json(nullptr)},
      {"model_hash", Hex64(b->model_hash)},
      {"packed_weight_cache", {{"outcome", PackedCacheOutcomeName(b->model->packed_cache().outcome)},
                               {"path", b->model->packed_cache().path},
                               {"detail", b->model->packed_cache().detail},
                               {"mapped", b->model->packed_cache().mapped},
                               {"read_note", b->model->packed_cache().read_note}}},
      {"model_hash_recalled", b->model_hash_recalled},
      {"tokenizer_missing", b->tokenizer ? nlohmann::json(nullptr) : nlohmann::json(b->tokenizer_source)},
      {"tokenizer", tokenizer},
      {"chat", chat_json},
      {"experts", c.IsMoe() ? nlohmann::json{{"count", c.n_experts},
                                             {"used_per_token", c.n_experts_used},
                                             {"ffn_dim", c.expert_ffn_dim},
                                             {"renormalize", c.moe_renormalize}}
                            : nlohmann::json(nullptr)},
  };
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("%s (%s, %s)\n", o.model.c_str(), std::string(ModelFormatName(w.format)).c_str(),
              std::string(ArchName(c.arch)).c_str());
  std::printf("  dim %lld, %lld layers, %lld heads (%lld kv, head_dim %lld), ffn %lld\n",
              (long long)c.dim, (long long)c.n_layers, (long long)c.n_heads,
              (long long)c.n_kv_heads, (long long)c.head_dim, (long long)c.ffn_dim);
  std::printf("  vocab %lld, context %lld, rope theta %g (%s in the file%s%s)%s%s%s\n",
              (long long)c.vocab_size, (long long)c.max_seq_len, c.rope_theta,
              c.rope_style == RopeStyle::kInterleaved ? "interleaved" : "rotate-half",
              c.rope_scaling.kind == RopeScaling::Kind::kNone ? "" : ", scaling ",
              c.rope_scaling.kind == RopeScaling::Kind::kNone
                  ? ""
                  : std::string(RopeScalingName(c.rope_scaling.kind)).c_str(),
              c.tied_embeddings ? ", tied embeddings" : "", c.qkv_bias ? ", qkv bias" : "",
              c.qk_norm ? ", q/k norm" : "");
  if (c.IsMoe()) {
    std::printf("  experts: %lld per layer, %lld chosen per token (top-k, %s), expert ffn %lld\n",
                (long long)c.n_experts, (long long)c.n_experts_used,
                c.moe_renormalize ? "renormalised" : "softmax probabilities as they are",
                (long long)c.expert_ffn_dim);
  }
  if (c.sliding_window > 0) {
    std::printf("  sliding window: each query sees its %lld most recent positions%s\n",
                (long long)c.sliding_window,
                GetArchInfo(c.arch).sliding_pattern == 2   ? " (local layers: the even ones)"
                : GetArchInfo(c.arch).sliding_pattern > 2 ? " (local layers: all but every 6th)"
                                                          : "");
  }
  if (c.rope_local_theta > 0) {
    std::printf("  local layers' rope theta %g (global layers: %g)\n", c.rope_local_theta,
                c.rope_theta);
  }
  if (GetArchInfo(c.arch).post_norms) {
    std::printf("  %s: GeGLU (tanh GELU), (1 + w) and post norms, embedding x sqrt(dim), "
                "attention scale query_pre_attn_scalar^-0.5 = %g^-0.5, soft caps %g (scores) "
                "and %g (logits)\n",
                std::string(ArchName(c.arch)).c_str(), c.query_pre_attn_scalar,
                static_cast<double>(c.attn_logit_softcap),
                static_cast<double>(c.final_logit_softcap));
  }
  if (c.RotaryDim() != c.head_dim) {
    std::printf("  partial rotary: %lld of head_dim %lld rotated\n", (long long)c.RotaryDim(),
                (long long)c.head_dim);
  }
  if (c.rope_scaling.kind == RopeScaling::Kind::kLongRope) {
    // The fixed rule of model/rope_scaling.h, said where a user looks.
    std::printf("  longrope: %s factors at every position (context %lld %s the original %lld), "
                "attention factor %.9g\n",
                c.max_seq_len > c.rope_scaling.original_max_positions ? "long" : "short",
                (long long)c.max_seq_len,
                c.max_seq_len > c.rope_scaling.original_max_positions ? "beyond" : "within",
                (long long)c.rope_scaling.original_max_positions, c.rope_scaling.attention_factor);
  }
  if (c.rope_scaling.kind == RopeScaling::Kind::kYarn) {
    std::printf("  yarn: factor %.9g over the original context %lld, attention factor %.9g\n",
                c.rope_scaling.factor, (long long)c.rope_scaling.original_max_positions,
                c.rope_scaling.attention_factor);
  }
  std::printf("  %lld parameters:", (long long)params);
  for (const auto& [dt, n] : dtypes) std::printf(" %s %lld", dt.c_str(), (long long)n);
  std::printf("\n  %.1f MB of weights, %.2f bits per weight\n", static_cast<double>(bytes) / 1e6, bpw);
  const PackedCacheReport& pc = b->model->packed_cache();
  std::printf("  packed-weight cache: %s%s%s%s%s%s%s%s\n",
              std::string(PackedCacheOutcomeName(pc.outcome)).c_str(),
              pc.mapped ? " (mapped, shared)" : "", pc.path.empty() ? "" : " ", pc.path.c_str(),
              pc.detail.empty() ? "" : "; ", pc.detail.c_str(), pc.read_note.empty() ? "" : "; ",
              pc.read_note.c_str());
  std::string why = std::to_string(kDefaultKvContexts) + " full contexts";
  if (kv.memory_bound) {
    why = "what fits in 3/4 of the ";
    why += std::to_string(*kv.available_bytes / (1 << 20));
    why += " MiB available";
  }
  std::printf("  KV cache: %.1f KiB per token (f32; %.1f KiB bf16/f16); by default %lld tokens "
              "(%s), reserved, resident as used\n",
              static_cast<double>(KvBytesPerToken(c, DType::kF32)) / 1024,
              static_cast<double>(KvBytesPerToken(c, DType::kBF16)) / 1024,
              static_cast<long long>(kv.tokens), why.c_str());
  if (o.tensors) {
    for (const auto& t : tensors) {
      std::string shape;
      for (const auto& d : t["shape"]) shape += (shape.empty() ? "" : " x ") + std::to_string(d.get<int64_t>());
      std::printf("    %-22s %-14s %-5s %6.3f bpw\n", t["name"].get<std::string>().c_str(),
                  shape.c_str(), t["dtype"].get<std::string>().c_str(),
                  t["bits_per_weight"].get<double>());
    }
  }
  if (b->tokenizer) {
    std::printf("  tokenizer: %s (%s), %d tokens\n", b->tokenizer_path.c_str(),
                b->tokenizer_source.c_str(), b->tokenizer->vocab_size());
  } else {
    std::printf("  tokenizer: none (%s)\n", b->tokenizer_source.c_str());
  }
  std::printf("  chat template: %s\n",
              chat->chat_template.empty()
                  ? "none shipped (chat uses a built-in one: chatml or llama3)"
                  : chat->chat_template_origin.c_str());
  return 0;
}

}  // namespace

void RegisterInfo(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand("info", "Show a model's architecture, shapes, dtypes and tokenizer");
  cmd->add_option("MODEL", o->model, "Model file or Hugging Face directory")->required();
  cmd->add_option("--tokenizer", o->tokenizer, kTokenizerHelp);
  cmd->add_flag("--json", o->json, "Print JSON (always with the per-tensor list)");
  cmd->add_flag("--tensors", o->tensors, "List every tensor: shape, storage format, bits per weight");
  cmd->callback([o] { std::exit(RunInfo(*o)); });
}

}  // namespace detinfer::cli
