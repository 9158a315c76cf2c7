// Penalties and suppressed ids: how a request's own tokens reshape its logits before sampling.
//
// The semantics are vLLM's (and so OpenAI's for presence/frequency), applied in this order to
// each logit l_i, in fp32, one token at a time (no reduction, so no order to fix beyond this):
//   repetition (r != 1): if token i occurs in the prompt or the generated tokens,
//                        l_i = l_i > 0 ? l_i / r : l_i * r
//   frequency  (f != 0): l_i = l_i - f * float(c_i)   c_i = occurrences of i among the generated
//   presence   (p != 0): l_i = l_i - p                when c_i > 0
//   suppressed ids     : l_i = -inf                   (min_tokens holds back EOS and stop ids)
// Everything here is a function of the request's own prompt and generated tokens, so it cannot
// depend on the batch, the step or the cache (SPEC §A1-A5). Only the *sampled* distribution
// changes: the raw logprob a token reports is still the model's own (temperature 1, no
// penalty), which is what re-scoring computes (SPEC §R1).
#ifndef DETINFER_ENGINE_PENALTIES_H_
#define DETINFER_ENGINE_PENALTIES_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace detinfer {

struct PenaltyParams {
  float repetition = 1.0f;  // > 0; 1 = none
  float frequency = 0.0f;   // [-2, 2]
  float presence = 0.0f;    // [-2, 2]
  bool active() const { return repetition != 1.0f || frequency != 0.0f || presence != 0.0f; }
};

// Out-of-range or non-finite values are errors naming the field.
Status ValidatePenalties(const PenaltyParams& p);

// What the penalties read: the request's tokens so far, and the ids it may not draw now.
struct TokenHistory {
  std::span<const int32_t> prompt;
  std::span<const int32_t> generated;
  std::span<const int32_t> suppressed;
};

// True when ApplyPenalties would change some logit.
bool ChangesLogits(const PenaltyParams& p, const TokenHistory& h);

// Applies the rules above to `logits` in place. Ids outside [0, logits.size()) are ignored
// (the engine validates every id before it gets here).
void ApplyPenalties(const PenaltyParams& p, const TokenHistory& h, std::span<float> logits);

}  // namespace detinfer

#endif  // DETINFER_ENGINE_PENALTIES_H_
