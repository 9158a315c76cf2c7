// The engine from plain values (a KV dtype name, sizes; what CLI flags and Python keyword
// arguments give), and the engine's own types: Engine, Request, RequestResult, groups of
// samples (engine/sample_group.h), the schedule id.
#ifndef DETINFER_PUBLIC_ENGINE_H_
#define DETINFER_PUBLIC_ENGINE_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "detinfer/names.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "engine/sample_group.h"
#include "engine/schedule_id.h"
#include "engine/weight_version.h"
#include "tokenizer/tokenizer.h"

namespace detinfer {

// The KV dtype every front end defaults to. It is part of the schedule id: f32 keeps every K/V
// value as computed, bf16/f16 round it once when it is written (SPEC §N).
inline constexpr const char* kDefaultKvDType = "f32";
// The default KV capacity: room for this many full contexts. Reserved address space only:
// blocks become resident as they are first written (kv/paged_kv_cache.h).
inline constexpr int64_t kDefaultKvContexts = 8;

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
// The options for a model whose context is `context_len` tokens; errors name the setting.
Result<EngineOptions> MakeEngineOptions(const EngineConfig& config, int64_t context_len,
                                        NameStyle style = NameStyle::kFlag);

// abort, retract or in_place (Engine::PauseMode); anything else is an error listing them.
Result<Engine::PauseMode> ParsePauseMode(std::string_view mode);

// Generation stops at the tokenizer's end-of-sequence id (as the CLI and the server do) unless
// `ignore_eos`: adds it to r->stop_ids once. No tokenizer, or one without EOS: nothing.
void AddEosStop(const Tokenizer* tokenizer, bool ignore_eos, Request* r);

}  // namespace detinfer

#endif  // DETINFER_PUBLIC_ENGINE_H_
