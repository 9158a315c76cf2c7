#include <algorithm>

#include "core/available_memory.h"
#include "core/dtype.h"
#include "detinfer/engine.h"

namespace detinfer {

Result<DType> ParseKvDType(const std::string& name, NameStyle style) {
  const std::string setting = SettingName("kv_dtype", style);
  auto dt = ParseDType(name);
  if (!dt.ok()) return Status::InvalidArgument(setting + ": " + dt.status().message());
  if (DTypeSize(*dt) == 0) {
    return Status::InvalidArgument(setting + ": '" + name +
                                   "' is a weight block format; K/V are stored as f32, bf16 or f16");
  }
  return *dt;
}

int64_t KvBytesPerToken(const ModelConfig& m, DType kv) {
  return 2 * m.n_layers * m.n_kv_heads * m.head_dim * static_cast<int64_t>(DTypeSize(kv));
}

KvCapacityPlan DefaultKvCapacity(const ModelConfig& model, DType kv, int64_t block,
                                 std::optional<int64_t> available_bytes) {
  KvCapacityPlan p;
  p.bytes_per_token = KvBytesPerToken(model, kv);
  p.available_bytes = available_bytes;
  p.tokens = kDefaultKvContexts * model.max_seq_len;
  if (available_bytes && p.bytes_per_token > 0) {
    const int64_t fits = *available_bytes / 4 * 3 / p.bytes_per_token;
    if (fits < p.tokens) {
      p.memory_bound = true;
      p.tokens = std::max<int64_t>(block, fits / block * block);
    }
  }
  return p;
}

Result<EngineOptions> MakeEngineOptions(const EngineConfig& c, const ModelConfig& model,
                                        NameStyle style) {
  EngineOptions o;
  DETINFER_ASSIGN_OR_RETURN(o.kv_dtype, ParseKvDType(c.kv_dtype, style));
  const auto at_least_one = [&](const char* keyword, int64_t v) {
    return Status::InvalidArgument(SettingName(keyword, style) + " must be >= 1, got " +
                                   std::to_string(v));
  };
  if (c.chunk < 1) return at_least_one("chunk", c.chunk);
  if (c.block < 1) return at_least_one("block", c.block);
  if (c.kv_capacity < 0) return at_least_one("kv_capacity", c.kv_capacity);
  o.chunk_size = c.chunk;
  o.block_size = c.block;
  o.kv_capacity_tokens =
      c.kv_capacity > 0
          ? c.kv_capacity
          : DefaultKvCapacity(model, o.kv_dtype, c.block, AvailableMemoryBytes()).tokens;
  o.prefix_cache = c.prefix_cache;
  o.no_cache = c.no_cache;
  return o;
}

Result<Engine::PauseMode> ParsePauseMode(std::string_view mode) {
  if (mode == "abort") return Engine::PauseMode::kAbort;
  if (mode == "retract") return Engine::PauseMode::kRetract;
  if (mode == "in_place") return Engine::PauseMode::kInPlace;
  return Status::InvalidArgument("pause mode '" + std::string(mode) +
                                 "': expected abort, retract or in_place");
}

void AddEosStop(const Tokenizer* tokenizer, bool ignore_eos, Request* r) {
  if (ignore_eos || tokenizer == nullptr || tokenizer->eos_id() < 0) return;
  const int32_t eos = tokenizer->eos_id();
  if (std::find(r->stop_ids.begin(), r->stop_ids.end(), eos) == r->stop_ids.end()) {
    r->stop_ids.push_back(eos);
  }
}

}  // namespace detinfer
