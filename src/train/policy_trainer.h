// The learner side of on-policy RL, apart from where rollouts and rewards come from: flat f32
// parameters, AdamW, clipping, an optional reference policy for a KL term — one Step() per batch
// of scored samples (train/policy_gradient.h). The GRPO loop (rl/grpo.h) drives it with engine
// rollouts and checker rewards; a binding can drive it with rollouts and rewards of its own, then
// push NamedTensors() into an engine (Engine::UpdateWeightsFromTensors).
//
// Order of one Step (every part has its own documented order, so the result depends on the
// samples and the options only, not on the thread count): reference logprobs (with a KL term;
// one forward per sample, each alone on single-threaded kernels), PolicyBatchGradient,
// ClipGlobalNorm, AdamW::Step with the step number counted from 1.
#ifndef DETINFER_TRAIN_POLICY_TRAINER_H_
#define DETINFER_TRAIN_POLICY_TRAINER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/isa.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "model/config.h"
#include "model/weight_update.h"
#include "train/optimizer.h"
#include "train/param_layout.h"
#include "train/policy_gradient.h"
#include "train/sequence_pass.h"

namespace detinfer {

struct PolicyTrainerOptions {
  double lr = 3e-4;  // constant
  AdamWOptions adamw = {0.9f, 0.95f, 1e-8f, 0.0f};
  double clip_norm = 1.0;  // <= 0: no clipping
  double kl_coef = 0;      // beta; the reference policy is the initial parameters
  Isa isa = Isa::kScalar;
};

struct PolicyStepResult {
  PolicyBatchResult batch;  // per-sample trainer logprobs, N, loss, mean k3
  double grad_norm = 0;     // before clipping
};

class PolicyTrainer {
 public:
  // `pool` (may be null: one thread) is borrowed and must outlive the trainer.
  static Result<std::unique_ptr<PolicyTrainer>> Create(const ModelConfig& config,
                                                       std::vector<float> params,
                                                       const PolicyTrainerOptions& options,
                                                       ThreadPool* pool);

  // One update from `samples` (their ref_logprobs are filled here when kl_coef != 0; whatever
  // they held is ignored). The samples' tokens must stay valid during the call.
  Result<PolicyStepResult> Step(std::span<const PolicySample> samples);

  int64_t steps_done() const { return step_; }
  const ParamLayout& layout() const { return layout_; }
  const std::vector<float>& params() const { return params_; }
  // Every tensor of params() for Engine::UpdateWeightsFromTensors (viewing params()' memory,
  // valid until the next Step).
  Result<std::vector<NamedTensor>> NamedTensors() const;

 private:
  PolicyTrainer(ParamLayout layout, std::vector<float> params, const PolicyTrainerOptions& o,
                ThreadPool* pool);

  ParamLayout layout_;
  std::vector<float> params_, ref_params_;
  PolicyTrainerOptions options_;
  ThreadPool* pool_;
  AdamW adamw_;
  std::vector<uint8_t> decay_mask_;
  PackedParams ref_packed_;
  int64_t step_ = 0;
};

}  // namespace detinfer

#endif  // DETINFER_TRAIN_POLICY_TRAINER_H_
