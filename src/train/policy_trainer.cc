#include "train/policy_trainer.h"

#include <cmath>
#include <string>

#include "kernels/context.h"
#include "train/trainer.h"

namespace detinfer {

PolicyTrainer::PolicyTrainer(ParamLayout layout, std::vector<float> params,
                             const PolicyTrainerOptions& o, ThreadPool* pool)
    : layout_(std::move(layout)),
      params_(std::move(params)),
      options_(o),
      pool_(pool),
      adamw_(layout_.size(), o.adamw),
      decay_mask_(WeightDecayMask(layout_)) {}

Result<std::unique_ptr<PolicyTrainer>> PolicyTrainer::Create(const ModelConfig& config,
                                                             std::vector<float> params,
                                                             const PolicyTrainerOptions& options,
                                                             ThreadPool* pool) {
  if (!(options.lr > 0 && options.lr < 1)) {
    return Status::InvalidArgument("--lr: must be in (0, 1)");
  }
  if (!(options.kl_coef >= 0 && std::isfinite(options.kl_coef))) {
    return Status::InvalidArgument("--kl: must be finite and >= 0");
  }
  if (!std::isfinite(options.clip_norm)) return Status::InvalidArgument("--clip: must be finite");
  DETINFER_ASSIGN_OR_RETURN(ParamLayout layout, ParamLayout::Create(config));
  if (static_cast<int64_t>(params.size()) != layout.size()) {
    return Status::InvalidArgument("policy trainer: " + std::to_string(params.size()) +
                                   " parameters for a model of " +
                                   std::to_string(layout.size()));
  }
  std::unique_ptr<PolicyTrainer> t(
      new PolicyTrainer(std::move(layout), std::move(params), options, pool));
  if (options.kl_coef != 0) {
    t->ref_params_ = t->params_;
    DETINFER_ASSIGN_OR_RETURN(t->ref_packed_, PackParams(t->layout_, t->ref_params_.data(),
                                                         {options.isa, pool}));
  }
  return t;
}

Result<PolicyStepResult> PolicyTrainer::Step(std::span<const PolicySample> in) {
  const int64_t n = static_cast<int64_t>(in.size());
  if (n == 0) return Status::InvalidArgument("policy trainer: a step needs samples");
  std::vector<PolicySample> samples(in.begin(), in.end());
  // The reference policy's logprobs of the completion tokens: one forward per sample, each alone
  // on single-threaded kernels (any thread may run it; the bits are the same).
  std::vector<std::vector<float>> ref(static_cast<size_t>(n));
  if (options_.kl_coef != 0) {
    std::vector<Status> st(static_cast<size_t>(n));
    const KernelContext ctx{options_.isa, pool_};
    ctx.ParallelFor(n, [&](int64_t k) {
      KernelContext one;
      one.isa = options_.isa;
      const size_t ks = static_cast<size_t>(k);
      const PolicySample& s = samples[ks];
      if (s.prompt_tokens < 1 || s.prompt_tokens >= static_cast<int64_t>(s.tokens.size())) {
        return;  // PolicyBatchGradient names the bad sample
      }
      std::vector<float> loss;
      st[ks] = SequenceTargetLosses(one, layout_, ref_params_.data(), ref_packed_, s.tokens, &loss);
      if (!st[ks].ok()) return;
      for (size_t t = static_cast<size_t>(s.prompt_tokens - 1); t < loss.size(); ++t) {
        ref[ks].push_back(-loss[t]);
      }
    });
    for (int64_t k = 0; k < n; ++k) {
      const Status& s = st[static_cast<size_t>(k)];
      if (!s.ok()) {
        return Status(s.code(), "batch sequence " + std::to_string(k) + ": " + s.message());
      }
      samples[static_cast<size_t>(k)].ref_logprobs = ref[static_cast<size_t>(k)];
    }
  }
  DETINFER_ASSIGN_OR_RETURN(PackedParams packed,
                            PackParams(layout_, params_.data(), {options_.isa, pool_}));
  PolicyStepResult r;
  std::vector<float> grad;
  PolicyGradientOptions po;
  po.kl_coef = options_.kl_coef;
  DETINFER_RETURN_IF_ERROR(PolicyBatchGradient(pool_, options_.isa, layout_, params_.data(),
                                               packed, samples, po, &grad, &r.batch));
  r.grad_norm = ClipGlobalNorm(&grad, options_.clip_norm);
  const int64_t step = step_ + 1;
  adamw_.Step(step, static_cast<float>(options_.lr), grad, decay_mask_, &params_);
  step_ = step;
  return r;
}

Result<std::vector<NamedTensor>> PolicyTrainer::NamedTensors() const {
  return ParamsToNamedTensors(layout_, params_);
}

}  // namespace detinfer
