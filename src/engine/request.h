// What a caller asks of the engine, and what it gets back.
#ifndef DETINFER_ENGINE_REQUEST_H_
#define DETINFER_ENGINE_REQUEST_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "engine/sampler.h"
#include "engine/weight_version.h"

namespace detinfer {

struct Request {
  std::string id;
  std::vector<int32_t> prompt;     // token ids, at least one
  int32_t max_new_tokens = 16;     // at least one
  // Generation ends after emitting one of these; the id is reported in `tokens`, its text is not
  // part of `text` (an end-of-sequence "</s>" never shows).
  std::vector<int32_t> stop_ids;
  // Generation ends once the generated text contains one of these (needs a tokenizer); the
  // reported text stops before it, the token that completed it is still reported.
  std::vector<std::string> stop_strings;
  SamplingParams sampling;
  // Until this many tokens are generated nothing ends the request but its length limits: the
  // stop ids cannot be drawn (engine/penalties.h: suppressed) and stop strings are not looked
  // for (vLLM's min_tokens). At most max_new_tokens.
  int32_t min_tokens = 0;
  // Leave the text of special tokens (Tokenizer::IsSpecial: <s>, <|im_start|>, ...) out of
  // `text`, as vLLM and OpenAI do by default; their ids are still reported.
  bool skip_special_tokens = true;
  int32_t top_logprobs = 0;        // how many alternatives to report per generated token
  bool prompt_logprobs = false;    // also report the logprob of prompt tokens 1..n-1
  int32_t prompt_top_logprobs = 0; // and this many alternatives at each of those positions
  // Guess ahead when the engine speculates (EngineOptions::speculative); a request can opt out.
  // Either way its output is the same, bit for bit: only the time it takes changes.
  bool speculative = true;
};

// kAbort: ended by Engine::Pause(PauseMode::kAbort) with what it had generated so far.
enum class FinishReason { kNone, kLength, kStop, kContext, kError, kAbort };
std::string_view FinishReasonName(FinishReason reason);  // "length", "stop", ...

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0.0f;
};

// Speculative decoding's counts (for one request, or summed over an engine's requests).
struct SpeculativeStats {
  int64_t verify_passes = 0;  // forward passes that checked guesses for it
  int64_t proposed = 0;       // guesses checked
  int64_t accepted = 0;       // guesses that were the very token it drew there (and were kept)
};

struct RequestResult {
  std::string id;
  uint64_t submission = 0;  // which Submit() call of its engine it answers (0, 1, 2, ...)
  Status status;  // not OK: this request failed (others are unaffected)
  std::vector<int32_t> tokens;              // generated ids
  std::string text;                         // their text, when the engine has a tokenizer
  std::vector<float> logprobs;              // raw (temperature 1) logprob of each
  std::vector<float> sampling_logprobs;     // under the sampling distribution
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  std::vector<float> prompt_logprobs;       // for prompt[1..n-1], when asked
  // With prompt_logprobs: each of those tokens' rank in its row (1: the most likely; ties
  // share the better rank, as vLLM counts: 1 + the ids whose logprob is greater), and the
  // row's prompt_top_logprobs alternatives.
  std::vector<int32_t> prompt_ranks;
  std::vector<std::vector<TokenLogprob>> prompt_top_logprobs;
  FinishReason finish = FinishReason::kNone;
  uint64_t fingerprint = 0;                 // hash of tokens and logprob bits
  int64_t preemptions = 0;                  // times its KV was freed and recomputed
  int64_t cached_tokens = 0;                // prompt positions reused from the prefix cache
  SpeculativeStats speculative;             // all zero without speculation
  // The weights that drew its last token (engine/weight_version.h). `mixed_weights`: a weight
  // update came while it was in flight after it had K/V or tokens, so not every token it
  // reports was computed under `weight_version` alone (docs/engine.md, "Weight updates").
  WeightVersion weight_version;
  bool mixed_weights = false;
};

// XXH3-64 of the generated ids and the exact bits of their raw logprobs: two runs anywhere can
// be compared at a glance.
uint64_t Fingerprint(const std::vector<int32_t>& tokens, const std::vector<float>& logprobs);

}  // namespace detinfer

#endif  // DETINFER_ENGINE_REQUEST_H_
