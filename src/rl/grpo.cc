#include "rl/grpo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <string>

#include "engine/sample_group.h"
#include "model/transformer.h"
#include "train/sequence_pass.h"
#include "train/trainer.h"

namespace detinfer {

namespace {

uint64_t GrpoMix(uint64_t z) {  // SplitMix64's finaliser of a Weyl step
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}


double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

Status BadOption(const std::string& flag, const std::string& what) {
  return Status::InvalidArgument(flag + ": " + what);
}

}  // namespace

uint64_t RolloutSeed(uint64_t seed, int64_t step, int64_t slot) {
  return GrpoMix(GrpoMix(seed) ^ GrpoMix(static_cast<uint64_t>(step) << 20 ^
                                         static_cast<uint64_t>(slot)));
}

std::vector<int32_t> TensePromptIds(const VerbCorpus& corpus, const TensePrompt& prompt) {
  std::vector<int32_t> ids = {corpus.bos_id};
  for (const std::string& w : prompt.words) {
    for (size_t v = 0; v < corpus.vocab.size(); ++v) {
      if (corpus.vocab[v] == w) {
        ids.push_back(static_cast<int32_t>(v));
        break;
      }
    }
  }
  return ids;
}

Status ValidateGrpoOptions(const GrpoOptions& o) {
  if (o.prompts_per_step < 1 || o.prompts_per_step > 4096) {
    return BadOption("--prompts", "must be in [1, 4096], got " +
                                      std::to_string(o.prompts_per_step));
  }
  if (o.group_size < 2 || o.group_size > kMaxSamplesPerPrompt) {
    return BadOption("--n", "must be in [2, " + std::to_string(kMaxSamplesPerPrompt) +
                                "] (a group of 1 has no advantage), got " +
                                std::to_string(o.group_size));
  }
  if (o.max_new_tokens < 1 || o.max_new_tokens > 4096) {
    return BadOption("--max-new-tokens",
                     "must be in [1, 4096], got " + std::to_string(o.max_new_tokens));
  }
  if (!(o.lr > 0 && o.lr < 1)) return BadOption("--lr", "must be in (0, 1)");
  if (!(o.kl_coef >= 0 && std::isfinite(o.kl_coef))) {
    return BadOption("--kl", "must be finite and >= 0");
  }
  if (!std::isfinite(o.clip_norm)) return BadOption("--clip", "must be finite");
  if (!(o.advantage_eps > 0 && std::isfinite(o.advantage_eps))) {
    return BadOption("advantage_eps", "must be finite and > 0");
  }
  if (o.threads < 1) return BadOption("--threads", "must be >= 1");
  if (o.rollout_kv_dtype != DType::kF32 && o.rollout_kv_dtype != DType::kBF16 &&
      o.rollout_kv_dtype != DType::kF16) {
    return BadOption("--rollout-kv-dtype", "must be f32, bf16 or f16");
  }
  return Status::Ok();
}

double RewardOf(const ContinuationCheck& check) {
  if (!check.tense_agrees) return 0.0;
  return 0.5 + (check.person_agrees ? 0.25 : 0.0) + (check.grammatical ? 0.25 : 0.0);
}

GrpoTrainer::GrpoTrainer(const GrpoOptions& options) : options_(options) {}

GrpoTrainer::~GrpoTrainer() = default;

Result<std::unique_ptr<GrpoTrainer>> GrpoTrainer::Create(const ModelConfig& config,
                                                         std::vector<float> params,
                                                         const GrpoOptions& options) {
  DETINFER_RETURN_IF_ERROR(ValidateGrpoOptions(options));
  // The vocabulary is fixed by the grammar (docs/corpus.md); the sentences are not used.
  VerbCorpusOptions co;
  co.train_sentences = 1;
  co.heldout_sentences = 1;
  DETINFER_ASSIGN_OR_RETURN(VerbCorpus corpus, GenerateVerbCorpus(co));
  if (config.vocab_size != static_cast<int64_t>(corpus.vocab.size())) {
    return Status::InvalidArgument(
        "grpo: the model's vocabulary has " + std::to_string(config.vocab_size) +
        " entries; the verb-grammar task needs the corpus's " +
        std::to_string(corpus.vocab.size()) + " (a model trained by `detinfer train`)");
  }
  std::unique_ptr<GrpoTrainer> t(new GrpoTrainer(options));
  t->corpus_ = std::move(corpus);
  t->prompts_ = TenseEvalPrompts();
  if (options.threads > 1) t->pool_ = std::make_unique<ThreadPool>(options.threads);
  t->ctx_.isa = options.isa;
  t->ctx_.pool = t->pool_.get();
  PolicyTrainerOptions po;
  po.lr = options.lr;
  po.adamw = options.adamw;
  po.clip_norm = options.clip_norm;
  po.kl_coef = options.kl_coef;
  po.isa = options.isa;
  DETINFER_ASSIGN_OR_RETURN(t->learner_,
                            PolicyTrainer::Create(config, std::move(params), po, t->pool_.get()));
  // The engine serves exactly the trainer's f32 values: a model built from them (the path a
  // fresh load takes), later updated in place with every tensor after each step.
  DETINFER_ASSIGN_OR_RETURN(ModelWeights w,
                            ParamsToWeights(t->learner_->layout(), t->learner_->params()));
  DETINFER_ASSIGN_OR_RETURN(Transformer model, Transformer::Create(std::move(w), t->ctx_));
  t->model_ = std::make_unique<Transformer>(std::move(model));
  EngineOptions eo;
  eo.kv_dtype = options.rollout_kv_dtype;
  // Room for every sequence of a step at once (the outputs would be the same with less).
  const int64_t per_seq = (config.max_seq_len + eo.block_size - 1) / eo.block_size * eo.block_size;
  eo.kv_capacity_tokens = std::max<int64_t>(eo.kv_capacity_tokens,
                                            options.prompts_per_step * options.group_size * per_seq);
  DETINFER_ASSIGN_OR_RETURN(t->engine_, Engine::Create(*t->model_, t->ctx_, eo));
  return t;
}

std::vector<int32_t> GrpoTrainer::PromptIds(size_t i) const {
  return TensePromptIds(corpus_, prompts_[i]);
}

Result<GrpoStepLog> GrpoTrainer::Step() {
  const int64_t step = learner_->steps_done() + 1;
  GrpoStepLog log;
  log.step = step;
  const ModelConfig& c = learner_->layout().config();
  const int64_t groups = options_.prompts_per_step;
  const int32_t g = options_.group_size;

  // 1-2. Prompts and rollouts.
  auto t0 = std::chrono::steady_clock::now();
  const std::vector<int64_t> idx =
      BatchIndices(options_.seed, step, groups, static_cast<int64_t>(prompts_.size()));
  std::vector<Request> requests;
  for (int64_t j = 0; j < groups; ++j) {
    Request r;
    r.id = std::to_string(step) + "/" + std::to_string(j);
    r.prompt = PromptIds(static_cast<size_t>(idx[static_cast<size_t>(j)]));
    r.max_new_tokens = static_cast<int32_t>(std::min<int64_t>(
        options_.max_new_tokens, c.max_seq_len - static_cast<int64_t>(r.prompt.size())));
    r.stop_ids = {corpus_.eos_id};
    r.sampling.temperature = 1.0f;  // nothing cut: the sampled distribution is the policy
    r.sampling.seed = RolloutSeed(options_.seed, step, j);
    requests.push_back(std::move(r));
  }
  const std::vector<std::vector<RequestResult>> rollouts =
      GenerateSamples(*engine_, requests, g);
  log.rollout_seconds = Seconds(t0);

  // 3. Rewards and advantages; the sequences, group-major.
  t0 = std::chrono::steady_clock::now();
  std::vector<std::vector<int32_t>> seqs;
  std::vector<PolicySample> samples;
  std::vector<const RequestResult*> results;
  double reward_sum = 0;
  int64_t agreed = 0;
  for (int64_t j = 0; j < groups; ++j) {
    const TensePrompt& prompt = prompts_[static_cast<size_t>(idx[static_cast<size_t>(j)])];
    std::vector<double> rewards;
    for (const RequestResult& res : rollouts[static_cast<size_t>(j)]) {
      if (!res.status.ok()) {
        return Status(res.status.code(), "grpo step " + std::to_string(step) + " rollout " +
                                             res.id + ": " + res.status.message());
      }
      const ContinuationCheck check = CheckContinuation(corpus_, prompt, res.tokens);
      rewards.push_back(RewardOf(check));
      reward_sum += rewards.back();
      agreed += check.tense_agrees ? 1 : 0;
      std::vector<int32_t> seq = requests[static_cast<size_t>(j)].prompt;
      seq.insert(seq.end(), res.tokens.begin(), res.tokens.end());
      seqs.push_back(std::move(seq));
      results.push_back(&res);
    }
    const std::vector<double> adv = GroupAdvantages(rewards, options_.advantage_eps);
    bool all_zero = true;
    for (double a : adv) {
      PolicySample s;
      s.prompt_tokens = static_cast<int64_t>(requests[static_cast<size_t>(j)].prompt.size());
      s.advantage = a;
      samples.push_back(s);
      all_zero = all_zero && a == 0;
    }
    log.zero_advantage_groups += all_zero ? 1 : 0;
  }
  const int64_t n = static_cast<int64_t>(samples.size());
  for (int64_t k = 0; k < n; ++k) samples[static_cast<size_t>(k)].tokens = seqs[static_cast<size_t>(k)];
  log.samples = n;
  log.mean_reward = reward_sum / static_cast<double>(n);
  log.tense_agreement = static_cast<double>(agreed) / static_cast<double>(n);

  // 4-5. The gradient (with the trainer's logprobs), clipping, AdamW.
  DETINFER_ASSIGN_OR_RETURN(PolicyStepResult learned, learner_->Step(samples));
  const PolicyBatchResult& batch = learned.batch;
  for (int64_t k = 0; k < n; ++k) {
    const std::vector<float>& rollout = results[static_cast<size_t>(k)]->logprobs;
    const std::vector<float>& trainer = batch.samples[static_cast<size_t>(k)].logprobs;
    if (rollout.size() != trainer.size()) {
      return Status::Internal("grpo: a rollout reports " + std::to_string(rollout.size()) +
                              " logprobs for " + std::to_string(trainer.size()) + " tokens");
    }
    for (size_t t = 0; t < rollout.size(); ++t) {
      const double d = std::fabs(static_cast<double>(rollout[t]) - static_cast<double>(trainer[t]));
      log.max_abs_mismatch = std::max(log.max_abs_mismatch, d);
      uint32_t a, b;
      std::memcpy(&a, &rollout[t], sizeof a);
      std::memcpy(&b, &trainer[t], sizeof b);
      log.mismatched_tokens += a != b ? 1 : 0;
    }
  }
  log.tokens = batch.tokens;
  log.mean_completion_tokens = static_cast<double>(batch.tokens) / static_cast<double>(n);
  log.loss = batch.loss;
  log.kl = batch.kl;

  log.grad_norm = learned.grad_norm;
  log.lr = options_.lr;
  log.train_seconds = Seconds(t0);

  // 6. Push the new weights into the running engine.
  t0 = std::chrono::steady_clock::now();
  DETINFER_ASSIGN_OR_RETURN(std::vector<NamedTensor> tensors, learner_->NamedTensors());
  DETINFER_RETURN_IF_ERROR(engine_->UpdateWeightsFromTensors(tensors));
  log.weight_version = engine_->weight_version();
  log.update_seconds = Seconds(t0);
  return log;
}

Result<TenseEvalResult> GrpoTrainer::EvaluateGreedy() {
  std::map<std::vector<int32_t>, std::vector<int32_t>> continuation;
  std::vector<Request> requests;
  for (size_t i = 0; i < prompts_.size(); ++i) {
    Request r;
    r.id = "eval/" + std::to_string(i);
    r.prompt = PromptIds(i);
    r.max_new_tokens = static_cast<int32_t>(std::min<int64_t>(
        16, learner_->layout().config().max_seq_len - static_cast<int64_t>(r.prompt.size())));
    r.stop_ids = {corpus_.eos_id};
    requests.push_back(std::move(r));
  }
  std::vector<RequestResult> results = engine_->Generate(requests);
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].status.ok()) return results[i].status;
    continuation[requests[i].prompt] = std::move(results[i].tokens);
  }
  return EvaluateTenseAgreement(
      corpus_, [&](const std::vector<int32_t>& prompt) -> Result<std::vector<int32_t>> {
        auto it = continuation.find(prompt);
        if (it == continuation.end()) return Status::Internal("eval prompt was not generated");
        return it->second;
      });
}

}  // namespace detinfer
