// Engine: weight updates, pause and resume (engine.h; docs/engine.md, "Weight updates").
#include <cstdio>

#include "engine/engine.h"

namespace detinfer {

std::string WeightVersionString(const WeightVersion& v) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(v.hash));
  return std::to_string(v.counter) + ":" + hex;
}

Result<std::unique_ptr<Engine>> Engine::Create(Transformer& model, const KernelContext& ctx,
                                               const EngineOptions& options,
                                               const Tokenizer* tokenizer) {
  DETINFER_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                            Create(static_cast<const Transformer&>(model), ctx, options, tokenizer));
  engine->updatable_model_ = &model;
  return engine;
}

namespace {

Status ReadOnlyModelError() {
  return Status::Unsupported(
      "engine: its model is read-only (created over a const Transformer); create the engine "
      "over a mutable Transformer to update its weights");
}

}  // namespace

Status Engine::UpdateWeightsFromDisk(const std::string& path) {
  if (updatable_model_ == nullptr) return ReadOnlyModelError();
  DETINFER_ASSIGN_OR_RETURN(Transformer next, BuildFromDisk(*updatable_model_, path, ctx_));
  return SwapWeights(std::move(next));
}

Status Engine::UpdateWeightsFromTensors(std::span<const NamedTensor> tensors) {
  if (updatable_model_ == nullptr) return ReadOnlyModelError();
  DETINFER_ASSIGN_OR_RETURN(Transformer next, BuildFromTensors(*updatable_model_, tensors, ctx_));
  return SwapWeights(std::move(next));
}

Status Engine::SwapWeights(Transformer next) {
  // Requests still holding K/V (in_place) or tokens drawn under the old weights (retract) will
  // report tokens of both; a request with neither starts cleanly under the new weights.
  for (const auto& s : active_) {
    if (s->computed > 0 || !s->result.tokens.empty()) s->result.mixed_weights = true;
  }
  updatable_model_->AdoptWeights(std::move(next));
  ++weight_version_.counter;
  weight_version_.hash = updatable_model_->weight_hash();
  // Cached blocks hold K/V of the old weights: none may be reused (and requests in flight,
  // whose K/V is old, stop publishing). Keying blocks by version instead would keep blocks that
  // can never be hit again (every later request runs under the new weights) taking KV room
  // until evicted, so a flush is as good and frees them at once.
  return cache_.FlushPrefixCache();
}

Status Engine::Pause(PauseMode mode) {
  paused_ = true;
  switch (mode) {
    case PauseMode::kInPlace: break;
    case PauseMode::kRetract:
      for (const auto& s : active_) {
        if (s->kv_id >= 0) {
          Preempt(*s);
          DropDraft(*s);
        }
      }
      break;
    case PauseMode::kAbort:
      // Each result holds what the request generated so far (its text too: Finish releases
      // what was held back for stop strings).
      for (const auto& s : active_) Finish(*s, FinishReason::kAbort);
      active_.clear();
      break;
  }
  return Status::Ok();
}

}  // namespace detinfer
