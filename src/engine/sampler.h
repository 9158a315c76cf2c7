// Sampler: picks the next token from one row of logits (SPEC §K6).
//
// Order of operations (all fp32, every step deterministic; nothing depends on other requests):
//   raw logprobs     = LogSoftmax(logits)   (kernels/softmax.h: the same kernel, hence the same
//                      bits, as teacher-forced re-scoring uses — SPEC §R1)
//   penalties        : logit_i reshaped by the request's own tokens (engine/penalties.h); the
//                      raw logprobs above are the model's, before this. "logit" below is the
//                      penalised one.
//   temperature 0    : greedy, token = Argmax (lowest id on ties); sampling logprob 0.
//   a T > 0 so small that some finite logit_i / T overflows to ±inf (T ~ 1e-38): greedy, as
//                      for T = 0 (the distribution is a point mass on the largest logit).
//   otherwise        : z_i = logit_i / T;
//     candidates sorted by (z descending, id ascending) — ties break to the lower id;
//     top-k keeps the first k (k = 0: all);
//     e_i = exp(z_i - z_0) (engine exp), s = sum of e_i in candidate order, p_i = e_i / s;
//     top-p keeps the shortest prefix whose running sum of p_i reaches top_p (at least one);
//     min-p keeps candidates with p_i >= min_p * p_0;
//     S = sum of e_i over the kept candidates in order; u = UniformDraw(seed, token index);
//     the token is the first kept candidate whose running sum of e_i exceeds u * S (the last
//     kept one if rounding leaves none);
//     sampling logprob = (z_c - z_0) - log(S).
//   The draw for generated token t is keyed by (seed, t) only (engine/philox.h).
#ifndef DETINFER_ENGINE_SAMPLER_H_
#define DETINFER_ENGINE_SAMPLER_H_

#include <cstdint>
#include <span>

#include "core/status.h"
#include "engine/penalties.h"
#include "kernels/context.h"

namespace detinfer {

struct SamplingParams {
  float temperature = 0.0f;  // 0 = greedy
  int32_t top_k = 0;         // 0 = no limit
  float top_p = 1.0f;        // (0, 1]
  float min_p = 0.0f;        // [0, 1]
  uint64_t seed = 0;
  PenaltyParams penalties;   // none by default
};

// Negative or NaN values and out-of-range limits are errors naming the field.
Status ValidateSamplingParams(const SamplingParams& params);

struct SampledToken {
  int32_t token = -1;
  float logprob = 0.0f;           // under the model's raw distribution (temperature 1)
  float sampling_logprob = 0.0f;  // under the distribution actually sampled from
};

// `token_index` is the index of the token being generated within its request (0 for the
// first generated token); `history` is what the penalties read (and the ids it may not draw).
// A NaN logit is an error naming its id, and so is a row whose every id is suppressed.
Result<SampledToken> SampleToken(const KernelContext& ctx, std::span<const float> logits,
                                 const SamplingParams& params, uint64_t token_index,
                                 const TokenHistory& history = {});

}  // namespace detinfer

#endif  // DETINFER_ENGINE_SAMPLER_H_
