#include "train/policy_gradient.h"

#include <cmath>
#include <string>

#include "kernels/math.h"
#include "train/trainer.h"

namespace detinfer {

Status PolicySampleGradient(const KernelContext& ctx, const ParamLayout& layout,
                            const float* params, const PackedParams& packed,
                            const PolicySample& sample, const PolicyGradientOptions& options,
                            float* grad, PolicySampleResult* result) {
  const int64_t n = static_cast<int64_t>(sample.tokens.size());
  const int64_t p = sample.prompt_tokens;
  if (p < 1 || p >= n) {
    return Status::InvalidArgument("policy gradient: a sample needs 1 <= prompt_tokens (" +
                                   std::to_string(p) + ") < its length (" + std::to_string(n) +
                                   ")");
  }
  const int64_t completion = n - p;
  const bool kl = options.kl_coef != 0;
  if (kl && static_cast<int64_t>(sample.ref_logprobs.size()) != completion) {
    return Status::InvalidArgument("policy gradient: " +
                                   std::to_string(sample.ref_logprobs.size()) +
                                   " reference logprobs for " + std::to_string(completion) +
                                   " completion tokens");
  }
  result->logprobs.assign(static_cast<size_t>(completion), 0.0f);
  std::vector<float> k3(static_cast<size_t>(completion), 0.0f);
  // Target t predicts tokens[t + 1]: completion token c = t + 1 - p sits at target p - 1 + c.
  auto weights = [&](std::span<const float> loss, std::span<float> w) {
    for (size_t t = 0; t < w.size(); ++t) w[t] = 0.0f;
    for (int64_t c = 0; c < completion; ++c) {
      const size_t t = static_cast<size_t>(p - 1 + c);
      const float lp = -loss[t];
      result->logprobs[static_cast<size_t>(c)] = lp;
      double wt = sample.advantage;
      if (kl) {
        const float d = sample.ref_logprobs[static_cast<size_t>(c)] - lp;  // log r
        const float r = ExpF(d);
        k3[static_cast<size_t>(c)] = (r - d) - 1.0f;
        wt += options.kl_coef * (static_cast<double>(r) - 1.0);
      }
      w[t] = static_cast<float>(wt);
    }
  };
  std::vector<float> loss;
  DETINFER_RETURN_IF_ERROR(WeightedSequenceGradient(ctx, layout, params, packed, sample.tokens,
                                                    weights, grad, &loss));
  result->objective = 0;
  result->kl = 0;
  for (int64_t c = 0; c < completion; ++c) {  // ascending t
    result->objective += -sample.advantage * static_cast<double>(result->logprobs[static_cast<size_t>(c)]);
    result->kl += static_cast<double>(k3[static_cast<size_t>(c)]);
  }
  return Status::Ok();
}

Status PolicyBatchGradient(ThreadPool* pool, Isa isa, const ParamLayout& layout,
                           const float* params, const PackedParams& packed,
                           std::span<const PolicySample> samples,
                           const PolicyGradientOptions& options, std::vector<float>* grad,
                           PolicyBatchResult* result) {
  const int64_t n = static_cast<int64_t>(samples.size());
  if (n == 0) return Status::InvalidArgument("policy gradient: no samples");
  result->samples.assign(static_cast<size_t>(n), PolicySampleResult{});
  DETINFER_RETURN_IF_ERROR(SumSequenceGradients(
      pool, isa, layout.size(), n,
      [&](const KernelContext& ctx, int64_t i, float* g) {
        const size_t is = static_cast<size_t>(i);
        return PolicySampleGradient(ctx, layout, params, packed, samples[is], options, g,
                                    &result->samples[is]);
      },
      grad));
  double objective = 0, kl = 0;
  result->tokens = 0;
  for (const PolicySampleResult& s : result->samples) {  // ascending sample index
    objective += s.objective;
    kl += s.kl;
    result->tokens += static_cast<int64_t>(s.logprobs.size());
  }
  const double tokens = static_cast<double>(result->tokens);
  result->loss = (objective + options.kl_coef * kl) / tokens;
  result->kl = kl / tokens;
  // Mean over the batch's completion tokens: one f32 multiply per element, after the sum (the
  // trainer's rule, train/trainer.cc).
  const float inv = 1.0f / static_cast<float>(result->tokens);
  for (float& g : *grad) g *= inv;
  return Status::Ok();
}

std::vector<double> GroupAdvantages(std::span<const double> rewards, double eps) {
  const size_t n = rewards.size();
  std::vector<double> out(n, 0.0);
  if (n == 0) return out;
  bool all_equal = true;
  for (double r : rewards) all_equal = all_equal && r == rewards[0];
  if (all_equal) return out;  // exactly 0, whatever rounding the mean would have
  double sum = 0;
  for (double r : rewards) sum += r;
  const double mean = sum / static_cast<double>(n);
  double ss = 0;
  for (double r : rewards) ss += (r - mean) * (r - mean);
  const double sd = std::sqrt(ss / static_cast<double>(n));
  for (size_t i = 0; i < n; ++i) out[i] = (rewards[i] - mean) / (sd + eps);
  return out;
}

}  // namespace detinfer
