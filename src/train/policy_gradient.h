// The policy-gradient loss of on-policy RL (GRPO, src/rl/grpo.h) on top of the trainer's
// exact forward/backward: an advantage-weighted token log-likelihood, optionally with a KL
// penalty to a reference (initial) policy.
//
// Loss of a batch of samples (sample i: prompt, completion y_i of |y_i| tokens, advantage A_i):
//
//   L = ( SUM_i SUM_t [ -A_i * log p(y_it) + beta * k3_it ] ) / N,   N = SUM_i |y_i|
//   k3_it = r - log r - 1 with r = p_ref(y_it) / p(y_it)   (Schulman's k3 estimator of
//           KL(p || p_ref) on the sampled token: unbiased, >= 0, zero where the policies agree)
//
// Token-level: every completion token weighs the same, whatever its sample's length (the
// "Dr. GRPO"/DAPO normalisation). Prompt tokens carry no loss. Since the rollouts come from the
// very parameters being trained (on-policy, one step per batch), the importance ratio is
// exactly 1 and its gradient is A_i * grad log p: the ratio needs no clipping.
//
// Gradient, per sample: d/d(log p_t) of the token's term is -(A_i + beta * (r - 1)), so it is
// WeightedSequenceGradient (train/sequence_pass.h) with weight
//   w_t = f32( A_i + beta * (f64(r) - 1) ),   r = ExpF(lref_t - lp_t) in f32 (kernels/math.h's
//   exp: the engine's, not the machine's libm)
// on completion targets and 0 on prompt targets. lp_t is read off that same forward (the
// cross-entropy kernel's loss, negated: the bits of LogSoftmax(logits_t)[y_t], which is what the
// engine reports as a token's raw logprob), so the logprob the gradient is taken of is the one
// returned, the one the RL loop compares with the rollout's.
//
// Reduction order: each sample's gradient in its own buffer; buffers summed in ascending sample
// index (SumSequenceGradients, train/trainer.h); then one f32 multiply of every element by
// f32(1 / N). Objective and KL sums: double, ascending t within a sample, ascending sample
// index across them. So thread counts never change a bit.
#ifndef DETINFER_TRAIN_POLICY_GRADIENT_H_
#define DETINFER_TRAIN_POLICY_GRADIENT_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/isa.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/context.h"
#include "train/param_layout.h"
#include "train/sequence_pass.h"

namespace detinfer {

// One sampled completion to learn from.
struct PolicySample {
  std::span<const int32_t> tokens;  // prompt + completion: the sequence the trainer runs
  int64_t prompt_tokens = 1;        // the completion is tokens[prompt_tokens, size); >= 1 each
  double advantage = 0;             // A_i
  // The completion tokens' logprobs under the reference policy (SequenceTargetLosses of the
  // reference parameters, negated); needed only when kl_coef != 0.
  std::span<const float> ref_logprobs;
};

struct PolicyGradientOptions {
  double kl_coef = 0;  // beta; 0 = no KL term (the reference logprobs are then not read)
};

struct PolicySampleResult {
  // The trainer's logprob of every completion token, in order: -loss, bits of the engine's.
  std::vector<float> logprobs;
  double objective = 0;  // SUM_t -A * lp_t (double, ascending t)
  double kl = 0;         // SUM_t k3_t (double, ascending t; 0 without a KL term)
};

// Gradient of SUM_t [-A log p(y_t) + beta k3_t] over the sample's completion tokens into `grad`
// (layout.size() floats, overwritten).
Status PolicySampleGradient(const KernelContext& ctx, const ParamLayout& layout,
                            const float* params, const PackedParams& packed,
                            const PolicySample& sample, const PolicyGradientOptions& options,
                            float* grad, PolicySampleResult* result);

struct PolicyBatchResult {
  std::vector<PolicySampleResult> samples;  // in sample order
  int64_t tokens = 0;  // N: completion tokens of the batch
  double loss = 0;     // L (above): (SUM objective + beta SUM kl) / N
  double kl = 0;       // SUM kl / N: mean k3 per token
};

// The batch gradient of L into *grad (resized to layout.size()); pool may be null.
Status PolicyBatchGradient(ThreadPool* pool, Isa isa, const ParamLayout& layout,
                           const float* params, const PackedParams& packed,
                           std::span<const PolicySample> samples,
                           const PolicyGradientOptions& options, std::vector<float>* grad,
                           PolicyBatchResult* result);

// Group-normalised advantages: A_i = (r_i - mean) / (std + eps), mean and the population
// standard deviation (divide by n) in double, sums in ascending i. A group whose rewards are
// all equal gets A_i = 0 exactly (r_i - mean is then 0), so it contributes no gradient.
std::vector<double> GroupAdvantages(std::span<const double> rewards, double eps);

}  // namespace detinfer

#endif  // DETINFER_TRAIN_POLICY_GRADIENT_H_
