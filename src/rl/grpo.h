// GRPO on the verb-grammar task, on-policy, with rollouts from a running Engine and gradients
// from detinfer's exact trainer (docs/rl.md, "The GRPO loop").
//
// One step (GrpoTrainer::Step):
//   1. prompts: `prompts_per_step` of the 266 tense-eval prompts (corpus/tense_eval.h:
//      "<s> Yesterday I", ...), chosen by BatchIndices(seed, step, ...) (train/trainer.h);
//   2. rollouts: `group_size` completions of each, sampled by the engine at temperature 1
//      (GenerateSamples, engine/sample_group.h), up to `max_new_tokens` or EOS; at temperature 1
//      with nothing cut the sampling distribution IS the policy, so each token's raw logprob
//      is the policy's logprob of the action taken;
//   3. rewards: RewardOf(the tense-agreement checker's verdict); advantages normalised within
//      each group (GroupAdvantages, train/policy_gradient.h);
//   4. the loss and its gradient: PolicyBatchGradient (train/policy_gradient.h) over the
//      prompt + completion sequences, group-major, sample order within a group; the trainer's
//      logprob of every completion token is compared with the rollout's: `max_abs_mismatch`
//      (max |a - b| in double) and `mismatched_tokens` (tokens whose float bits differ);
//   5. global-norm clipping and AdamW (train/optimizer.h) on the flat f32 parameters (4 and 5
//      are PolicyTrainer::Step, train/policy_trainer.h);
//   6. the new parameters pushed into the engine (Engine::UpdateWeightsFromTensors, every
//      tensor, f32): its weight version's counter goes up by one, its hash is the new weights'.
//
// Why the mismatch is exactly 0: the engine serves the trainer's very f32 values (an update
// never rounds, SPEC §A11), its decode path gives the bits of a teacher-forced pass (§R1,
// §A3-A5), the training forward is Transformer::ForwardNoCache bit for bit
// (train/sequence_pass.h), and the trainer's logprob is the cross-entropy kernel's loss, the
// negation of the LogSoftmax the sampler reports. With `rollout_kv_dtype` bf16 the engine
// rounds every K/V to bf16 while the trainer keeps f32: the logprobs then differ (the mode
// exists to show what that looks like), and the loss still treats the rollouts as on-policy.
//
// Reproducibility: everything a step draws is keyed by (seed, step, prompt slot, sample); the
// engine's outputs do not depend on batching or threads (SPEC §A), nor do the trainer's
// (train/trainer.h). So two runs with the same options give the same logs (less the wall-clock
// fields) and the same parameter bytes, on any thread count.
#ifndef DETINFER_RL_GRPO_H_
#define DETINFER_RL_GRPO_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/dtype.h"
#include "core/isa.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "corpus/tense_eval.h"
#include "corpus/verb_corpus.h"
#include "engine/engine.h"
#include "engine/weight_version.h"
#include "model/config.h"
#include "train/optimizer.h"
#include "train/param_layout.h"
#include "train/policy_gradient.h"
#include "train/policy_trainer.h"

namespace detinfer {

struct GrpoOptions {
  uint64_t seed = 1;
  int64_t prompts_per_step = 16;  // groups per step
  int32_t group_size = 8;         // completions per prompt (n)
  int32_t max_new_tokens = 12;    // per completion (clamped to the context)
  double lr = 3e-4;               // constant
  AdamWOptions adamw = {0.9f, 0.95f, 1e-8f, 0.0f};  // no weight decay by default
  double clip_norm = 1.0;         // <= 0: no clipping
  double kl_coef = 0;             // beta (k3 to the initial policy); 0: no reference pass
  double advantage_eps = 1e-6;
  int threads = 1;                // engine and trainer (changes no bit)
  Isa isa = Isa::kScalar;
  DType rollout_kv_dtype = DType::kF32;  // bf16 / f16: the mismatch demonstration
};

// Errors name the option (as the CLI's flag, e.g. "--n") and its allowed range.
Status ValidateGrpoOptions(const GrpoOptions& options);

// The reward of one completion: 0.5 when the first verb phrase's tense fits the prompt's time
// frame, + 0.25 when that reading also agrees with the pronoun's person, + 0.25 when prompt +
// completion is a whole sentence of the grammar (the last two only with the first). So 0,
// 0.5, 0.75 or 1: dyadic values, whose sums and means are exact in double.
double RewardOf(const ContinuationCheck& check);

// The sampling seed of prompt slot `slot` of step `step`; sample i of its group then draws with
// SampleSeed(this, i) (engine/sample_group.h).
uint64_t RolloutSeed(uint64_t seed, int64_t step, int64_t slot);

// A tense prompt's ids: BOS, then each word's id in the corpus vocabulary.
std::vector<int32_t> TensePromptIds(const VerbCorpus& corpus, const TensePrompt& prompt);

struct GrpoStepLog {
  int64_t step = 0;
  int64_t samples = 0, tokens = 0;      // completions and completion tokens of the step
  double mean_reward = 0;               // of the step's rollouts (drawn before its update)
  double tense_agreement = 0;           // fraction of rollouts whose tense agrees
  int64_t zero_advantage_groups = 0;    // groups whose rewards were all equal
  double mean_completion_tokens = 0;
  double max_abs_mismatch = 0;          // max |rollout logprob - trainer logprob| (double)
  int64_t mismatched_tokens = 0;        // tokens whose logprob bits differ
  double loss = 0, kl = 0, grad_norm = 0, lr = 0;
  WeightVersion weight_version;         // the engine's, after this step's push
  // Wall time (reporting only; never in the JSON log, never feeds back).
  double rollout_seconds = 0, train_seconds = 0, update_seconds = 0;
};

class GrpoTrainer {
 public:
  // Starts from `params` (a flat vector of ParamLayout::Create(config), e.g. WeightsToParams of
  // a loaded f32 model or InitParams). The config's vocabulary must be the verb corpus's.
  static Result<std::unique_ptr<GrpoTrainer>> Create(const ModelConfig& config,
                                                     std::vector<float> params,
                                                     const GrpoOptions& options);
  ~GrpoTrainer();

  // Runs the next step (numbered from 1) and returns its log.
  Result<GrpoStepLog> Step();

  // Greedy tense agreement of the engine's current weights on the 266 prompts.
  Result<TenseEvalResult> EvaluateGreedy();

  int64_t steps_done() const { return learner_->steps_done(); }
  const ParamLayout& layout() const { return learner_->layout(); }
  const std::vector<float>& params() const { return learner_->params(); }
  const WeightVersion& weight_version() const { return engine_->weight_version(); }
  const VerbCorpus& corpus() const { return corpus_; }
  // The rollout engine (serving params() after every Step) and the learner, for callers that
  // want to generate, score or step with their own samples between GRPO steps.
  Engine& engine() { return *engine_; }
  PolicyTrainer& learner() { return *learner_; }

 private:
  explicit GrpoTrainer(const GrpoOptions& options);
  // The prompt ids (BOS + words) of TenseEvalPrompts()[i].
  std::vector<int32_t> PromptIds(size_t i) const;

  GrpoOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  KernelContext ctx_;
  VerbCorpus corpus_;
  std::vector<TensePrompt> prompts_;
  std::unique_ptr<PolicyTrainer> learner_;
  std::unique_ptr<Transformer> model_;  // served by engine_; updated in place by it
  std::unique_ptr<Engine> engine_;
};

}  // namespace detinfer

#endif  // DETINFER_RL_GRPO_H_
