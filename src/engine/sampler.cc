#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "engine/philox.h"
#include "kernels/math.h"
#include "kernels/softmax.h"

namespace detinfer {

Status ValidateSamplingParams(const SamplingParams& p) {
  if (!(p.temperature >= 0.0f) || !std::isfinite(p.temperature)) {
    return Status::InvalidArgument("temperature must be a finite number >= 0, got " +
                                   std::to_string(p.temperature));
  }
  if (p.top_k < 0) {
    return Status::InvalidArgument("top_k must be >= 0 (0 = no limit), got " +
                                   std::to_string(p.top_k));
  }
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) {
    return Status::InvalidArgument("top_p must be in (0, 1], got " + std::to_string(p.top_p));
  }
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) {
    return Status::InvalidArgument("min_p must be in [0, 1], got " + std::to_string(p.min_p));
  }
  return ValidatePenalties(p.penalties);
}

Result<SampledToken> SampleToken(const KernelContext& ctx, std::span<const float> logits,
                                 const SamplingParams& params, uint64_t token_index,
                                 const TokenHistory& history) {
  DETINFER_RETURN_IF_ERROR(ValidateSamplingParams(params));
  const int64_t n = static_cast<int64_t>(logits.size());
  if (n == 0) return Status::InvalidArgument("sampler: empty logits");
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(logits[static_cast<size_t>(i)])) {
      return Status::InvalidArgument("sampler: logit of token " + std::to_string(i) + " is NaN");
    }
  }
  std::vector<float> logprobs(static_cast<size_t>(n));
  DETINFER_RETURN_IF_ERROR(
      LogSoftmax(ctx, TensorView::Contiguous(logits.data(), DType::kF32, {1, n}),
                 TensorView::Contiguous(logprobs.data(), DType::kF32, {1, n})));
  // From here on the logits are the penalised ones (a copy; the raw logprobs are above).
  std::vector<float> penalised;
  if (ChangesLogits(params.penalties, history)) {
    penalised.assign(logits.begin(), logits.end());
    ApplyPenalties(params.penalties, history, penalised);
    if (*std::max_element(penalised.begin(), penalised.end()) ==
        -std::numeric_limits<float>::infinity()) {
      return Status::InvalidArgument("sampler: every token is suppressed (min_tokens holds back "
                                     "all " + std::to_string(n) + " ids)");
    }
    logits = penalised;
  }
  const TensorView row = TensorView::Contiguous(logits.data(), DType::kF32, {1, n});

  SampledToken out;
  const auto greedy = [&]() -> Result<SampledToken> {
    int32_t idx = 0;
    DETINFER_RETURN_IF_ERROR(Argmax(ctx, row, std::span<int32_t>(&idx, 1)));
    out.token = idx;
    out.logprob = logprobs[static_cast<size_t>(idx)];
    out.sampling_logprob = 0.0f;
    return out;
  };
  if (params.temperature == 0.0f) return greedy();

  std::vector<float> z(static_cast<size_t>(n));
  for (size_t i = 0; i < z.size(); ++i) {
    z[i] = logits[i] / params.temperature;
    // A temperature so small (1e-38) that a finite logit / T overflows leaves all the mass on
    // the largest logit: that is greedy, not a draw among infinities (inf - inf is NaN).
    if (!std::isfinite(z[i]) && std::isfinite(logits[i])) return greedy();
  }
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  // A total order: by scaled logit, then by id, so equal logits never depend on the sort.
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    const float za = z[static_cast<size_t>(a)], zb = z[static_cast<size_t>(b)];
    return za > zb || (za == zb && a < b);
  });
  size_t kept = order.size();
  if (params.top_k > 0) kept = std::min(kept, static_cast<size_t>(params.top_k));
  const float z0 = z[static_cast<size_t>(order[0])];
  std::vector<float> e(kept);
  float s = 0.0f;
  for (size_t i = 0; i < kept; ++i) {
    e[i] = ExpF(z[static_cast<size_t>(order[i])] - z0);
    s += e[i];
  }
  if (params.top_p < 1.0f) {
    float cum = 0.0f;
    size_t i = 0;
    while (i < kept) {
      cum += e[i] / s;
      ++i;
      if (cum >= params.top_p) break;
    }
    kept = i;
  }
  if (params.min_p > 0.0f) {
    const float p0 = e[0] / s;
    size_t i = 1;
    while (i < kept && e[i] / s >= params.min_p * p0) ++i;
    kept = i;
  }
  float total = 0.0f;
  for (size_t i = 0; i < kept; ++i) total += e[i];
  const float target = UniformDraw(params.seed, token_index) * total;
  size_t chosen = kept - 1;
  float run = 0.0f;
  for (size_t i = 0; i < kept; ++i) {
    run += e[i];
    if (target < run) {
      chosen = i;
      break;
    }
  }
  out.token = order[chosen];
  out.logprob = logprobs[static_cast<size_t>(out.token)];
  out.sampling_logprob = (z[static_cast<size_t>(out.token)] - z0) - LogF(total);
  return out;
}

}  // namespace detinfer
