// The engine from plain values (a KV dtype name, sizes; what CLI flags and Python keyword
// arguments give), and the engine's own types: Engine, Request, RequestResult, groups of
// samples (engine/sample_group.h), the schedule id.
#ifndef DETINFER_PUBLIC_ENGINE_H_
#define DETINFER_PUBLIC_ENGINE_H_

#include <cstdint>
#include <string>
#include <optional>
#include <string_view>

#include "core/dtype.h"
#include "core/status.h"
#include "detinfer/names.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "engine/sample_group.h"
#include "engine/schedule_id.h"
#include "engine/weight_version.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

// The KV dtype every front end defaults to. It is part of the schedule id: f32 keeps every K/V
// value as computed, bf16/f16 round it once when it is written (SPEC §N).
inline constexpr const char* kDefaultKvDType = "f32";
// The default KV capacity: room for this many full contexts, when memory allows
// (DefaultKvCapacity). Reserved address space only: blocks become resident as they are first
// written (kv/paged_kv_cache.h).
inline constexpr int64_t kDefaultKvContexts = 8;

// K and V of every layer for one token, stored in `kv`.
int64_t KvBytesPerToken(const ModelConfig& model, DType kv);

// The KV capacity an engine gets when none is asked for: kDefaultKvContexts full contexts, or
// fewer tokens when those would not fit in 3/4 of the memory still available (measured after
// the weights are loaded; the rest is left for activations, the page cache and other
// processes) — so a full cache is a clear per-request "out of KV memory" error, never the
// kernel's OOM killer. Rounded down to whole blocks, at least one block. Unknown available
// memory (no /proc/meminfo): the full kDefaultKvContexts.
struct KvCapacityPlan {
  int64_t tokens = 0;
  int64_t bytes_per_token = 0;
  std::optional<int64_t> available_bytes;  // what it was sized from
  bool memory_bound = false;               // fewer than kDefaultKvContexts contexts
};
KvCapacityPlan DefaultKvCapacity(const ModelConfig& model, DType kv, int64_t block,
                                 std::optional<int64_t> available_bytes);

// Engine settings as plain values (the keyword names are the ones errors use).
struct EngineConfig {
  std::string kv_dtype = kDefaultKvDType;  // f32, bf16 or f16
  int64_t chunk = 64;                      // prefill chunk, tokens
  int64_t block = 16;                      // KV block, tokens
  int64_t kv_capacity = 0;                 // tokens; 0: kDefaultKvContexts full contexts
  bool prefix_cache = true;                // reuse cached prompt prefixes (§A4)
  bool no_cache = false;                   // recompute everything at every step (checks, §A5)
};

// f32, bf16 or f16; a weight block format (q4_0, ...) is refused, naming `kv_dtype`.
Result<DType> ParseKvDType(const std::string& name, NameStyle style = NameStyle::kFlag);
// The options for `model` (its KV capacity by DefaultKvCapacity from the memory available now
// unless config.kv_capacity says); errors name the setting.
Result<EngineOptions> MakeEngineOptions(const EngineConfig& config, const ModelConfig& model,
                                        NameStyle style = NameStyle::kFlag);

// abort, retract or in_place (Engine::PauseMode); anything else is an error listing them.
Result<Engine::PauseMode> ParsePauseMode(std::string_view mode);

// Generation stops at the tokenizer's end-of-sequence id (as the CLI and the server do) unless
// `ignore_eos`: adds it to r->stop_ids once. No tokenizer, or one without EOS: nothing.
void AddEosStop(const Tokenizer* tokenizer, bool ignore_eos, Request* r);

}  // namespace detinfer

#endif  // DETINFER_PUBLIC_ENGINE_H_
